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
