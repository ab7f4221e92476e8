/// Appends fixed-width little-endian integers and length-prefixed bytes: the primitives of
/// the snapshot format (`SnapshotCodec`), with no framing or meaning of its own.
struct SnapshotEncoder {
    var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }

    mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    mutating func u32(_ v: UInt32) {
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }

    mutating func u64(_ v: UInt64) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }

    mutating func bool(_ v: Bool) { u8(v ? 1 : 0) }

    mutating func count(_ n: Int) {
        precondition(n >= 0 && n <= Int(UInt32.max), "a snapshot collection fits a u32 count")
        u32(UInt32(n))
    }

    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    mutating func string(_ s: String) {
        count(s.utf8.count)
        bytes.append(contentsOf: s.utf8)
    }

    mutating func id(_ v: ID) { string(v.string) }

    mutating func instant(_ v: Instant) { i64(v.ms) }

    /// 0 for nil, 1 then the value.
    mutating func optional<T>(_ v: T?, _ body: (inout SnapshotEncoder, T) -> Void) {
        guard let v else { return u8(0) }
        u8(1)
        body(&self, v)
    }
}
