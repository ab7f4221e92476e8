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
    public static func forEachMemberInOrder(
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
    public static func utf16Less(_ a: String, _ b: String) -> Bool {
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
