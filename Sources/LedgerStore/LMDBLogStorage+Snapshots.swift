import LMDB
import LedgerCore

/// Snapshots in the log's environment, database `snapshots`:
///
///     "m" ‖ seq (big-endian u64)                        → total bytes (u64 BE) ‖ chunks (u32 BE) ‖ written at ms (u64 BE)
///     "c" ‖ seq (big-endian u64) ‖ chunk (big-endian u32) → up to `snapshotChunkBytes` of the blob
///
/// Chunks go first, each in its own short transaction; the manifest last, in the transaction
/// that also drops all but the newest two and any chunk without a manifest (left by a crash
/// mid-write). So a snapshot is visible whole or not at all.
extension LMDBLogStorage {
    static let manifestTag = UInt8(ascii: "m")
    static let chunkTag = UInt8(ascii: "c")
    static let snapshotsKept = 2

    static func manifestKey(_ seq: UInt64) -> [UInt8] {
        var k: [UInt8] = [manifestTag]
        BigEndian.append(seq, to: &k)
        return k
    }

    static func chunkKey(_ seq: UInt64, _ index: Int) -> [UInt8] {
        var k: [UInt8] = [chunkTag]
        BigEndian.append(seq, to: &k)
        let i = UInt32(index)
        k.append(contentsOf: [UInt8(i >> 24), UInt8((i >> 16) & 0xFF), UInt8((i >> 8) & 0xFF), UInt8(i & 0xFF)])
        return k
    }

    private struct Manifest {
        var seq: UInt64
        var bytes: Int
        var chunks: Int
        var writtenAtMs: Int64

        var encoded: [UInt8] {
            var v = BigEndian.bytes(UInt64(bytes))
            let c = UInt32(chunks)
            v.append(contentsOf: [UInt8(c >> 24), UInt8((c >> 16) & 0xFF), UInt8((c >> 8) & 0xFF), UInt8(c & 0xFF)])
            BigEndian.append(UInt64(bitPattern: writtenAtMs), to: &v)
            return v
        }

        init(seq: UInt64, bytes: Int, chunks: Int, writtenAtMs: Int64) {
            self.seq = seq
            self.bytes = bytes
            self.chunks = chunks
            self.writtenAtMs = writtenAtMs
        }

        init?(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
            guard key.count == 9, key[0] == LMDBLogStorage.manifestTag, value.count == 20 else { return nil }
            seq = BigEndian.uint64(UnsafeRawBufferPointer(rebasing: key[1...]))
            let total = BigEndian.uint64(UnsafeRawBufferPointer(rebasing: value[0..<8]))
            guard total <= UInt64(Int.max) else { return nil }
            bytes = Int(total)
            chunks = Int(value[8]) << 24 | Int(value[9]) << 16 | Int(value[10]) << 8 | Int(value[11])
            writtenAtMs = Int64(bitPattern: BigEndian.uint64(UnsafeRawBufferPointer(rebasing: value[12..<20])))
        }
    }

    private func manifests(_ cursor: inout Cursor) throws -> [Manifest] {
        var out: [Manifest] = []
        var entry = try cursor.seek(atLeast: [LMDBLogStorage.manifestTag])
        while let e = entry, e.key.first == LMDBLogStorage.manifestTag {
            if let m = Manifest(key: e.key, value: e.value) { out.append(m) }
            entry = try cursor.next()
        }
        return out
    }

    public func snapshots() throws -> [SnapshotInfo] {
        let all = try env.read { txn in try txn.withCursor(snapshotsDB) { try manifests(&$0) } }
        return all.sorted { $0.seq > $1.seq }.map {
            SnapshotInfo(seq: $0.seq, bytes: $0.bytes, writtenAtMs: $0.writtenAtMs)
        }
    }

    public func snapshotBytes(seq: UInt64) throws -> [UInt8]? {
        try env.read { txn -> [UInt8]? in
            guard let v = try txn.get(snapshotsDB, LMDBLogStorage.manifestKey(seq)) else { return nil }
            let key = LMDBLogStorage.manifestKey(seq)
            guard
                let m = key.withUnsafeBytes({ k in v.withUnsafeBytes { Manifest(key: k, value: $0) } })
            else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(m.bytes)
            for i in 0..<m.chunks {
                guard let chunk = try txn.get(snapshotsDB, LMDBLogStorage.chunkKey(seq, i)) else { return nil }
                out.append(contentsOf: chunk)
            }
            return out.count == m.bytes ? out : nil
        }
    }

    @available(*, noasync)
    public func storeSnapshot(
        seq: UInt64, bytes: [UInt8], writtenAtMs: Int64, beforeTransaction: () -> Void
    ) throws {
        precondition(!bytes.isEmpty && snapshotChunkBytes > 0)
        // The log's commits must never fail for want of room a snapshot took: keep twice the
        // blob (old pages are freed only after the next transactions) plus a margin spare.
        let stat = env.stat
        let need = 2 * bytes.count + (64 << 20)
        let free = mapSizeBytesMax - stat.usedBytes
        guard free > need else { throw SnapshotStoreError.noRoom(needBytes: need, freeBytes: free) }
        let chunks = (bytes.count + snapshotChunkBytes - 1) / snapshotChunkBytes
        for i in 0..<chunks {
            let range = (i * snapshotChunkBytes)..<min(bytes.count, (i + 1) * snapshotChunkBytes)
            let key = LMDBLogStorage.chunkKey(seq, i)
            beforeTransaction()
            try env.write { txn in
                try key.withUnsafeBytes { k in
                    try bytes.withUnsafeBytes { all in
                        try txn.put(snapshotsDB, key: k, value: UnsafeRawBufferPointer(rebasing: all[range]))
                    }
                }
            }
        }
        let manifest = Manifest(seq: seq, bytes: bytes.count, chunks: chunks, writtenAtMs: writtenAtMs)
        beforeTransaction()
        try env.write { txn in
            try txn.put(snapshotsDB, LMDBLogStorage.manifestKey(seq), manifest.encoded)
            var all = try txn.withCursor(snapshotsDB) { try manifests(&$0) }
            all.sort { $0.seq > $1.seq }
            let kept = Set(all.prefix(LMDBLogStorage.snapshotsKept).map(\.seq))
            for m in all.dropFirst(LMDBLogStorage.snapshotsKept) {
                _ = try txn.delete(snapshotsDB, LMDBLogStorage.manifestKey(m.seq))
            }
            // Chunks of dropped snapshots, and of any write a crash cut short.
            var stale: [[UInt8]] = []
            try txn.withCursor(snapshotsDB) { cursor in
                var entry = try cursor.seek(atLeast: [LMDBLogStorage.chunkTag])
                while let e = entry, e.key.first == LMDBLogStorage.chunkTag, e.key.count == 13 {
                    let s = BigEndian.uint64(UnsafeRawBufferPointer(rebasing: e.key[1..<9]))
                    if !kept.contains(s) { stale.append(Array(e.key)) }
                    entry = try cursor.next()
                }
            }
            for k in stale { _ = try txn.delete(snapshotsDB, k) }
        }
    }
}
