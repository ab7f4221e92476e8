/// One line of JSON with the members in the order they were built or received: what a client
/// sends (a request as its author wrote it) and shows (an answer in the daemon's order).
/// Strings are escaped as `CanonicalJSON` escapes them and numbers keep their lexeme.
extension JSON {
    public var line: String { String(decoding: lineBytes, as: UTF8.self) }

    public var lineBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        writeLine(to: &out)
        return out
    }

    public func writeLine(to out: inout [UInt8]) {
        switch self {
        case .number(let n):
            out.append(contentsOf: n.lexeme.utf8)  // as written: a test may send `-0` or `1e2` on purpose
        case .null, .bool, .string:
            CanonicalJSON.write(self, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (k, v) in a.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                v.writeLine(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (k, m) in o.members.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                CanonicalJSON.writeString(m.key, to: &out)
                out.append(UInt8(ascii: ":"))
                m.value.writeLine(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}
