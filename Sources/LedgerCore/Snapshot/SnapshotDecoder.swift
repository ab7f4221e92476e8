/// Reads what `SnapshotEncoder` wrote, bounds-checked: a short or malformed blob throws,
/// never traps (a damaged snapshot is an operating error, answered by a fallback).
struct SnapshotDecoder {
    let bytes: [UInt8]
    var at: Int
    let end: Int

    init(_ bytes: [UInt8], from: Int, to end: Int) {
        precondition(0 <= from && from <= end && end <= bytes.count)
        self.bytes = bytes
        at = from
        self.end = end
    }

    var remaining: Int { end - at }

    private mutating func need(_ n: Int) throws(SnapshotError) {
        guard n >= 0, n <= end - at else { throw .truncated(at: at) }
    }

    mutating func u8() throws(SnapshotError) -> UInt8 {
        try need(1)
        defer { at += 1 }
        return bytes[at]
    }

    mutating func u16() throws(SnapshotError) -> UInt16 {
        try need(2)
        defer { at += 2 }
        return UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }

    mutating func u32() throws(SnapshotError) -> UInt32 {
        try need(4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[at + i]) << (8 * UInt32(i)) }
        at += 4
        return v
    }

    mutating func u64() throws(SnapshotError) -> UInt64 {
        try need(8)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
        at += 8
        return v
    }

    mutating func i64() throws(SnapshotError) -> Int64 { Int64(bitPattern: try u64()) }

    mutating func bool() throws(SnapshotError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        case let b: throw .invalid("bool byte \(b) at \(at - 1)")
        }
    }

    /// A collection count, bounded by the bytes left (each element takes at least one).
    mutating func count() throws(SnapshotError) -> Int {
        let n = Int(try u32())
        guard n <= remaining else { throw .invalid("count \(n) exceeds the \(remaining) bytes left") }
        return n
    }

    mutating func raw(_ n: Int) throws(SnapshotError) -> [UInt8] {
        try need(n)
        defer { at += n }
        return Array(bytes[at..<(at + n)])
    }

    mutating func string() throws(SnapshotError) -> String {
        let n = try count()
        try need(n)
        defer { at += n }
        guard let s = String(validating: bytes[at..<(at + n)], as: UTF8.self) else {
            throw .invalid("a string at \(at) is not UTF-8")
        }
        return s
    }

    mutating func id() throws(SnapshotError) -> ID { ID(trusted: try string()) }

    mutating func instant() throws(SnapshotError) -> Instant { Instant(ms: try i64()) }

    mutating func optional<T>(_ body: (inout SnapshotDecoder) throws(SnapshotError) -> T) throws(SnapshotError) -> T? {
        switch try u8() {
        case 0: return nil
        case 1: return try body(&self)
        case let b: throw .invalid("optional tag \(b) at \(at - 1)")
        }
    }

    mutating func rawEnum<E: RawRepresentable>(_: E.Type) throws(SnapshotError) -> E where E.RawValue == String {
        let s = try string()
        guard let v = E(rawValue: s) else { throw .invalid("unknown \(E.self) \"\(s)\"") }
        return v
    }
}
