/// Big-endian `UInt64` keys: LMDB compares keys as bytes (memcmp), so big-endian makes byte order equal numeric
/// order, which is what lets `MDB_APPEND` check that a sequence only grows and cursors walk a log in order.
public enum BigEndian {
    /// The 8 bytes of `v`, most significant first.
    public static func bytes(_ v: UInt64) -> [UInt8] {
        withUnsafeBytes(of: v.bigEndian) { Array($0) }
    }

    /// Appends the 8 bytes of `v`, most significant first.
    public static func append(_ v: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) }
    }

    /// Reads the first 8 bytes as a big-endian `UInt64`.
    ///
    /// - Precondition: at least 8 bytes. Keys of a big-endian database are written by `bytes(_:)`, so a shorter one
    ///   is a bug, not an operating error.
    public static func uint64(_ p: UnsafeRawBufferPointer) -> UInt64 {
        precondition(p.count >= 8, "a big-endian u64 needs 8 bytes, got \(p.count)")
        return UInt64(bigEndian: p.loadUnaligned(as: UInt64.self))
    }

    /// Reads the first 8 bytes of `a` as a big-endian `UInt64`.
    public static func uint64(_ a: [UInt8]) -> UInt64 {
        a.withUnsafeBytes { uint64($0) }
    }
}
