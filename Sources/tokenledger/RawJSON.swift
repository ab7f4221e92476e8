import LedgerJSON

/// Byte ranges of the parts of a JSON text, found without decoding it: an export must carry
/// each event exactly as the daemon sent it (its stored RFC 8785 bytes), so the events of an
/// `audit` answer are cut out of the line rather than parsed and written again.
///
/// It checks structure only as far as it needs to find the ends of values; the daemon's
/// lines are canonical JSON, and whoever reads an export re-parses each event anyway.
enum RawJSON {
    struct ScanError: Error, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "malformed JSON at byte \(offset): \(reason)" }
    }

    /// The members of the object that is the whole of `bytes`: each key and its value's range.
    static func members(_ bytes: [UInt8]) throws -> [(key: String, value: Range<Int>)] {
        var i = skipWhitespace(bytes, 0)
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else {
            throw ScanError(offset: i, reason: "not an object")
        }
        i = skipWhitespace(bytes, i + 1)
        var out: [(key: String, value: Range<Int>)] = []
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { return out }
        while true {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
                throw ScanError(offset: i, reason: "expected a key")
            }
            let keyEnd = try skipString(bytes, i)
            let key = try JSON.parse(String(decoding: bytes[i..<keyEnd], as: UTF8.self)).string ?? ""
            i = skipWhitespace(bytes, keyEnd)
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else {
                throw ScanError(offset: i, reason: "expected ':'")
            }
            let start = skipWhitespace(bytes, i + 1)
            let end = try skipValue(bytes, start)
            out.append((key, start..<end))
            i = skipWhitespace(bytes, end)
            guard i < bytes.count else { throw ScanError(offset: i, reason: "unterminated object") }
            if bytes[i] == UInt8(ascii: "}") { return out }
            guard bytes[i] == UInt8(ascii: ",") else { throw ScanError(offset: i, reason: "expected ',' or '}'") }
            i = skipWhitespace(bytes, i + 1)
        }
    }

    /// The ranges of the elements of the array at `range`.
    static func elements(_ bytes: [UInt8], of range: Range<Int>) throws -> [Range<Int>] {
        var i = range.lowerBound
        guard i < range.upperBound, bytes[i] == UInt8(ascii: "[") else {
            throw ScanError(offset: i, reason: "not an array")
        }
        i = skipWhitespace(bytes, i + 1)
        var out: [Range<Int>] = []
        if i < range.upperBound, bytes[i] == UInt8(ascii: "]") { return out }
        while true {
            let end = try skipValue(bytes, i)
            out.append(i..<end)
            i = skipWhitespace(bytes, end)
            guard i < range.upperBound else { throw ScanError(offset: i, reason: "unterminated array") }
            if bytes[i] == UInt8(ascii: "]") { return out }
            guard bytes[i] == UInt8(ascii: ",") else { throw ScanError(offset: i, reason: "expected ',' or ']'") }
            i = skipWhitespace(bytes, i + 1)
        }
    }

    private static func skipWhitespace(_ b: [UInt8], _ start: Int) -> Int {
        var i = start
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
        return i
    }

    /// `b[start]` is `"`; returns the index after the closing quote.
    private static func skipString(_ b: [UInt8], _ start: Int) throws -> Int {
        var i = start + 1
        while i < b.count {
            switch b[i] {
            case UInt8(ascii: "\\"): i += 2
            case UInt8(ascii: "\""): return i + 1
            default: i += 1
            }
        }
        throw ScanError(offset: start, reason: "unterminated string")
    }

    private static func skipValue(_ b: [UInt8], _ start: Int) throws -> Int {
        guard start < b.count else { throw ScanError(offset: start, reason: "expected a value") }
        switch b[start] {
        case UInt8(ascii: "\""):
            return try skipString(b, start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var i = start
            while i < b.count {
                switch b[i] {
                case UInt8(ascii: "\""):
                    i = try skipString(b, i)
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return i + 1 }
                default:
                    break
                }
                i += 1
            }
            throw ScanError(offset: start, reason: "unterminated value")
        default:
            var i = start
            while i < b.count {
                switch b[i] {
                case UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), 0x20, 0x09, 0x0A, 0x0D:
                    guard i > start else { throw ScanError(offset: start, reason: "expected a value") }
                    return i
                default:
                    i += 1
                }
            }
            return i
        }
    }
}
