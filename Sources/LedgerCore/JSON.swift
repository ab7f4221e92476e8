#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A JSON value as the ledger needs it: numbers keep their lexeme so that `100.0`, `1e2` and
/// `2^64` can be told apart from integers, and objects keep their members in order (duplicate
/// names are rejected by the parser).
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    public static func int(_ value: Int64) -> JSON { .number(JSONNumber(value)) }
    public static func int(_ value: Int) -> JSON { .number(JSONNumber(Int64(value))) }
    public static func int(_ value: UInt64) -> JSON { .number(JSONNumber(lexeme: String(value))) }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }
    public var numberValue: JSONNumber? {
        if case .number(let n) = self { return n }
        return nil
    }
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// A JSON number kept as its lexeme (already validated against the JSON grammar).
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    public let lexeme: String

    public init(lexeme: String) { self.lexeme = lexeme }
    public init(_ value: Int64) { self.lexeme = String(value) }

    public var description: String { lexeme }

    /// True when the lexeme has no fraction and no exponent (`100.0` and `1e2` are not integers).
    public var isIntegerLexeme: Bool {
        !lexeme.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") })
    }

    /// The value when the lexeme is an integer that fits Int64; nil otherwise.
    public var int64: Int64? {
        guard isIntegerLexeme else { return nil }
        return Int64(lexeme)
    }

    /// The value in thousandths when it is a plain decimal with at most 3 fraction digits and
    /// no exponent (`1.5` → 1500); nil otherwise or on overflow.
    public var milli: Int64? {
        var negative = false
        var intPart: Int64 = 0
        var frac: Int64 = 0
        var fracDigits = 0
        var seenDot = false
        var digits = 0
        for (i, c) in lexeme.utf8.enumerated() {
            if i == 0 && c == UInt8(ascii: "-") {
                negative = true
                continue
            }
            if c == UInt8(ascii: ".") {
                guard !seenDot else { return nil }
                seenDot = true
                continue
            }
            guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { return nil }
            let d = Int64(c - UInt8(ascii: "0"))
            if seenDot {
                fracDigits += 1
                guard fracDigits <= 3 else {
                    // Trailing zeros beyond 3 places do not change the value (`1.5000`).
                    if d == 0 { continue }
                    return nil
                }
                frac = frac * 10 + d
            } else {
                digits += 1
                let (m, o1) = intPart.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(d)
                guard !o1 && !o2 else { return nil }
                intPart = a
            }
        }
        guard digits > 0 else { return nil }
        while fracDigits < 3 {
            frac *= 10
            fracDigits += 1
        }
        let (m, o1) = intPart.multipliedReportingOverflow(by: 1000)
        let (v, o2) = m.addingReportingOverflow(frac)
        guard !o1 && !o2 else { return nil }
        return negative ? -v : v
    }
}

/// Object members in order. Lookup is linear: request and event objects are small.
public struct JSONObject: Sendable, Equatable {
    public var members: [(key: String, value: JSON)]

    public init() { members = [] }
    public init(_ members: [(key: String, value: JSON)]) { self.members = members }

    public subscript(key: String) -> JSON? {
        get {
            for m in members where sameBytes(m.key, key) { return m.value }
            return nil
        }
        set {
            if let i = members.firstIndex(where: { sameBytes($0.key, key) }) {
                if let newValue { members[i].value = newValue } else { members.remove(at: i) }
            } else if let newValue {
                members.append((key, newValue))
            }
        }
    }

    public var keys: [String] { members.map(\.key) }
    public var count: Int { members.count }

    /// Equal as parsed JSON: the same names with equal values, whatever the order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for m in lhs.members {
            guard let other = rhs[m.key], other == m.value else { return false }
        }
        return true
    }
}

/// Byte-for-byte equality of two strings' UTF-8 (names and ids are not compared by canonical
/// equivalence, as Swift's `==` does).
@inline(__always)
public func sameBytes(_ a: String, _ b: String) -> Bool {
    guard a.utf8.count == b.utf8.count else { return false }
    var a = a
    var b = b
    return a.withUTF8 { x in b.withUTF8 { y in x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self.members = elements.map { (key: $0.0, value: $0.1) }
    }
}

// MARK: - Parsing

public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

public enum JSONParser {
    /// Nesting deeper than this is refused: no request or event needs it, and it bounds the stack.
    public static let depthMax = 32

    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSON {
        try bytes.withUnsafeBufferPointer { buf throws(JSONParseError) in try parse(buf) }
    }

    public static func parse(_ buf: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSON {
        var p = Parser(buf: buf, i: 0)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        guard p.i == buf.count else { throw p.error("unexpected data after the JSON value") }
        return v
    }
}

private struct Parser {
    let buf: UnsafeBufferPointer<UInt8>
    var i: Int

    func error(_ message: String) -> JSONParseError { JSONParseError(message: message, offset: i) }

    mutating func skipWhitespace() {
        while i < buf.count {
            let c = buf[i]
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 } else { break }
        }
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSON {
        guard depth < JSONParser.depthMax else { throw error("nesting too deep") }
        guard i < buf.count else { throw error("unexpected end of input") }
        switch buf[i] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= buf.count else { throw error("invalid literal") }
        let w = word.utf8Start
        for k in 0..<n where buf[i + k] != w[k] { throw error("invalid literal") }
        i += n
    }

    mutating func object(depth: Int) throws(JSONParseError) -> JSON {
        i += 1
        var obj = JSONObject()
        skipWhitespace()
        if i < buf.count && buf[i] == UInt8(ascii: "}") {
            i += 1
            return .object(obj)
        }
        while true {
            skipWhitespace()
            guard i < buf.count, buf[i] == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let key = try string()
            if obj[key] != nil { throw error("duplicate member name \"\(key)\"") }
            skipWhitespace()
            guard i < buf.count, buf[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
            i += 1
            skipWhitespace()
            let v = try value(depth: depth + 1)
            obj.members.append((key, v))
            skipWhitespace()
            guard i < buf.count else { throw error("unexpected end of input") }
            if buf[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if buf[i] == UInt8(ascii: "}") {
                i += 1
                return .object(obj)
            }
            throw error("expected ',' or '}'")
        }
    }

    mutating func array(depth: Int) throws(JSONParseError) -> JSON {
        i += 1
        var arr: [JSON] = []
        skipWhitespace()
        if i < buf.count && buf[i] == UInt8(ascii: "]") {
            i += 1
            return .array(arr)
        }
        while true {
            skipWhitespace()
            arr.append(try value(depth: depth + 1))
            skipWhitespace()
            guard i < buf.count else { throw error("unexpected end of input") }
            if buf[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if buf[i] == UInt8(ascii: "]") {
                i += 1
                return .array(arr)
            }
            throw error("expected ',' or ']'")
        }
    }

    mutating func number() throws(JSONParseError) -> JSONNumber {
        let start = i
        if buf[i] == UInt8(ascii: "-") { i += 1 }
        guard i < buf.count, isDigit(buf[i]) else { throw error("invalid number") }
        if buf[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < buf.count && isDigit(buf[i]) { i += 1 }
        }
        if i < buf.count && buf[i] == UInt8(ascii: ".") {
            i += 1
            guard i < buf.count, isDigit(buf[i]) else { throw error("invalid number") }
            while i < buf.count && isDigit(buf[i]) { i += 1 }
        }
        if i < buf.count && (buf[i] == UInt8(ascii: "e") || buf[i] == UInt8(ascii: "E")) {
            i += 1
            if i < buf.count && (buf[i] == UInt8(ascii: "+") || buf[i] == UInt8(ascii: "-")) { i += 1 }
            guard i < buf.count, isDigit(buf[i]) else { throw error("invalid number") }
            while i < buf.count && isDigit(buf[i]) { i += 1 }
        }
        guard i - start <= 64 else { throw error("number too long") }
        return JSONNumber(lexeme: String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self))
    }

    func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    mutating func string() throws(JSONParseError) -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < buf.count {
            let c = buf[i]
            if c == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: buf[start..<i])
                i += 1
                guard let s = String(validating: slice, as: UTF8.self) else {
                    throw JSONParseError(message: "invalid UTF-8 in string", offset: start)
                }
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("control character in string") }
            i += 1
        }
        var bytes = Array(UnsafeBufferPointer(rebasing: buf[start..<i]))
        while i < buf.count {
            let c = buf[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: bytes, as: UTF8.self) else {
                    throw JSONParseError(message: "invalid UTF-8 in string", offset: start)
                }
                return s
            }
            if c < 0x20 { throw error("control character in string") }
            if c != UInt8(ascii: "\\") {
                bytes.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < buf.count else { break }
            let e = buf[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): bytes.append(0x22)
            case UInt8(ascii: "\\"): bytes.append(0x5C)
            case UInt8(ascii: "/"): bytes.append(0x2F)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard i + 1 < buf.count, buf[i] == UInt8(ascii: "\\"), buf[i + 1] == UInt8(ascii: "u") else {
                        throw error("lone surrogate in string")
                    }
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw error("lone surrogate in string") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw error("lone surrogate in string")
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("invalid escape") }
                bytes.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard i + 4 <= buf.count else { throw error("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = buf[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}

// MARK: - Canonical serialisation (RFC 8785)

/// Serialises JSON as RFC 8785 (JCS): members sorted by their UTF-16 code units, no
/// whitespace, strings escaped as ECMAScript's JSON.stringify does. Numbers are written as
/// their lexeme: every number the ledger writes is an integer, whose JCS form is its digits.
public enum CanonicalJSON {
    public static func bytes(_ value: JSON) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(value, to: &out)
        return out
    }

    public static func string(_ value: JSON) -> String {
        String(decoding: bytes(value), as: UTF8.self)
    }

    public static func write(_ value: JSON, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(let b): out.append(contentsOf: b ? Array("true".utf8) : Array("false".utf8))
        case .number(let n):
            // ECMAScript writes negative zero as 0; every other integer lexeme is already canonical.
            if n.lexeme == "-0" { out.append(UInt8(ascii: "0")) } else { out.append(contentsOf: n.lexeme.utf8) }
        case .string(let s): writeString(s, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (k, v) in a.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                write(v, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            writeObject(o, to: &out)
        }
    }

    static func writeObject(_ o: JSONObject, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        forEachMemberInOrder(o) { k, m in
            if k > 0 { out.append(UInt8(ascii: ",")) }
            writeString(m.key, to: &out)
            out.append(UInt8(ascii: ":"))
            write(m.value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Visits the members in RFC 8785 order without copying them: when they are out of
    /// order, only an index permutation is sorted.
    @inline(__always)
    static func forEachMemberInOrder(
        _ o: JSONObject, _ body: (Int, (key: String, value: JSON)) -> Void
    ) {
        let n = o.members.count
        var sorted = true
        var i = 1
        while i < n {
            if !utf16Less(o.members[i - 1].key, o.members[i].key) {
                sorted = false
                break
            }
            i += 1
        }
        if sorted {
            for k in 0..<n { body(k, o.members[k]) }
            return
        }
        var order = Array(0..<n)
        order.sort { utf16Less(o.members[$0].key, o.members[$1].key) }
        for (k, j) in order.enumerated() { body(k, o.members[j]) }
    }

    /// Members in RFC 8785 order, as an array.
    static func sortedMembers(_ o: JSONObject) -> [(key: String, value: JSON)] {
        var out: [(key: String, value: JSON)] = []
        out.reserveCapacity(o.members.count)
        forEachMemberInOrder(o) { _, m in out.append(m) }
        return out
    }

    /// Order by UTF-16 code units, computed on UTF-8 bytes: byte order is code point order,
    /// which differs from UTF-16 order only where a supplementary character (4-byte UTF-8,
    /// lead 0xF0...0xF4, a surrogate pair in UTF-16) meets one of U+E000...U+FFFF (lead 0xEE
    /// or 0xEF): there the surrogate sorts first.
    static func utf16Less(_ a: String, _ b: String) -> Bool {
        var a = a
        var b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let n = min(x.count, y.count)
                var i = 0
                while i < n {
                    let p = x[i]
                    let q = y[i]
                    if p != q {
                        if p >= 0xF0 && (q == 0xEE || q == 0xEF) { return true }
                        if q >= 0xF0 && (p == 0xEE || p == 0xEF) { return false }
                        return p < q
                    }
                    i += 1
                }
                return x.count < y.count
            }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func writeString(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { bytes in
            out.append(UInt8(ascii: "\""))
            // Fast path: nothing to escape, copy the bytes as they are.
            if !bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
                out.append(contentsOf: bytes)
                out.append(UInt8(ascii: "\""))
                return
            }
            for c in bytes {
                switch c {
                case 0x22: out.append(contentsOf: [0x5C, 0x22])
                case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
                case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0..<0x20:
                    out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30])
                    out.append(hexDigits[Int(c >> 4)])
                    out.append(hexDigits[Int(c & 0xF)])
                default: out.append(c)
                }
            }
            out.append(UInt8(ascii: "\""))
        }
    }
}

extension JSON: CustomStringConvertible {
    public var description: String { CanonicalJSON.string(self) }
}
