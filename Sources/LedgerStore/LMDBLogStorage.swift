import Foundation
import LMDB
import LedgerCore

/// The log in LMDB: `events` seq (big-endian u64) → version byte + the event's RFC 8785 bytes
/// with `hash`; `idempotency` key → `KeyRecord`; `meta` head seq/hash and format version.
/// `snapshots`: the write-side state at some seqs (see `LMDBLogStorage+Snapshots.swift`), so
/// that a start folds only the log's tail.
public final class LMDBLogStorage: LogStorage, @unchecked Sendable {
    public static let formatVersion: [UInt8] = Array("tokenledger-log-1".utf8)
    static let eventVersion: UInt8 = 1

    public let env: Environment
    let eventsDB: Database
    let keysDB: Database
    let metaDB: Database
    /// ts (big-endian) ‖ key → nothing: the keys in the order they age out.
    let keyTimesDB: Database
    /// Manifests and chunks of the newest two snapshots.
    let snapshotsDB: Database
    /// The map's ceiling: a snapshot that would take the log's last room is not written.
    let mapSizeBytesMax: Int
    /// The most a snapshot transaction puts: each holds LMDB's one write lock, and so the
    /// writer's next commit, for about one write of this size and one fsync.
    public var snapshotChunkBytes = 1 << 20
    /// Keys pruned per commit at most, so pruning never makes a commit long.
    public var pruneKeysPerCommitMax = 256
    public private(set) var keysPruned = 0

    /// `mapSizeBytes` is where the map starts; it grows online (every transaction paused for the
    /// moment of growth) up to `mapSizeBytesMax`, past which a commit fails with `MDB_MAP_FULL`.
    public init(directory: String, mapSizeBytes: Int = 1 << 30, mapSizeBytesMax: Int = 1 << 40) throws {
        var options = EnvironmentOptions()
        options.mapSizeBytes = mapSizeBytes
        options.mapGrowthBytes = max(mapSizeBytes, 1 << 26)
        options.mapSizeBytesMax = max(mapSizeBytesMax, mapSizeBytes)
        env = try Environment(directory: directory, options: options)
        eventsDB = try env.database("events")
        keysDB = try env.database("idempotency")
        metaDB = try env.database("meta")
        keyTimesDB = try env.database("key_times")
        snapshotsDB = try env.database("snapshots")
        self.mapSizeBytesMax = options.mapSizeBytesMax
        try env.write { txn in
            if let format = try txn.get(metaDB, Array("format".utf8)) {
                guard format == LMDBLogStorage.formatVersion else {
                    throw StorageError.incompatibleFormat(String(decoding: format, as: UTF8.self))
                }
            } else {
                try txn.put(metaDB, Array("format".utf8), LMDBLogStorage.formatVersion)
            }
        }
    }

    public func head() throws -> (seq: UInt64, hash: [UInt8]) {
        try env.read { txn in
            guard let v = try txn.get(metaDB, Array("head".utf8)) else { return (0, HashChain.genesis) }
            guard v.count == 40 else { throw StorageError.corruptMeta("head record has \(v.count) bytes") }
            return (BigEndian.uint64(Array(v[0..<8])), Array(v[8..<40]))
        }
    }

    public func lookupKeys(_ keys: [String]) throws -> [String: KeyRecord] {
        guard !keys.isEmpty else { return [:] }
        return try env.read { txn in
            var out: [String: KeyRecord] = [:]
            for k in keys {
                if let v = try txn.get(keysDB, Array(k.utf8)), let r = KeyRecord(encoded: v) { out[k] = r }
            }
            return out
        }
    }

    @available(*, noasync)
    public func commit(_ batch: CommitBatch) throws {
        guard !batch.isEmpty else { return }
        var head = BigEndian.bytes(batch.headSeq)
        head.append(contentsOf: batch.headHash)
        var pruned = 0
        try env.write { txn in
            pruned = 0
            // Keys and values are built on the stack or written straight into the map: a batch
            // holds thousands of events, and each array here would be an allocation.
            for e in batch.events {
                try withUnsafeBytes(of: e.seq.bigEndian) { seqKey in
                    // MDB_APPEND on big-endian keys: a free check that the log only grows.
                    try txn.put(eventsDB, key: seqKey, reserving: e.stored.count + 1, append: true) { value in
                        value[0] = LMDBLogStorage.eventVersion
                        e.stored.withUnsafeBytes {
                            UnsafeMutableRawBufferPointer(rebasing: value[1...]).copyMemory(from: $0)
                        }
                    }
                }
            }
            try withUnsafeTemporaryAllocation(byteCount: 8 + 4 * ID.bytesMax, alignment: 8) { scratch in
                for k in batch.keys {
                    var key = k.key
                    try key.withUTF8 { keyBytes in
                        let record = UnsafeMutableRawBufferPointer(rebasing: scratch[..<KeyRecord.encodedBytes])
                        k.record.write(to: record)
                        try txn.put(
                            keysDB, key: UnsafeRawBufferPointer(keyBytes), value: UnsafeRawBufferPointer(record))
                        try txn.put(
                            keyTimesDB,
                            key: LMDBLogStorage.keyTime(k.record.ts, UnsafeRawBufferPointer(keyBytes), in: scratch),
                            value: UnsafeRawBufferPointer(start: nil, count: 0))
                    }
                }
            }
            try txn.put(metaDB, Array("head".utf8), head)
            if let cutoff = batch.pruneKeysBefore { pruned = try prune(&txn, before: cutoff) }
        }
        keysPruned += pruned
    }

    /// The `key_times` key: ts (big-endian) ‖ key, written into `scratch`.
    static func keyTime(_ ts: Instant, _ key: UnsafeRawBufferPointer, in scratch: UnsafeMutableRawBufferPointer)
        -> UnsafeRawBufferPointer
    {
        precondition(8 + key.count <= scratch.count, "an idempotency key is an id")
        scratch.storeBytes(of: UInt64(bitPattern: ts.ms).bigEndian, as: UInt64.self)
        UnsafeMutableRawBufferPointer(rebasing: scratch[8...]).copyMemory(from: key)
        return UnsafeRawBufferPointer(rebasing: scratch[..<(8 + key.count)])
    }

    /// Forgets keys whose last use is before `cutoff`, oldest first, at most
    /// `pruneKeysPerCommitMax`. A key used again later has a newer record: only its stale
    /// time entry goes.
    private func prune(_ txn: inout WriteTransaction, before cutoff: Instant) throws -> Int {
        var stale: [(timeKey: [UInt8], ts: Int64, key: [UInt8])] = []
        try txn.withCursor(keyTimesDB) { cursor in
            var entry = try cursor.first()
            while let e = entry, stale.count < pruneKeysPerCommitMax {
                let ts = Int64(bitPattern: BigEndian.uint64(e.key))
                guard ts < cutoff.ms else { break }
                stale.append((Array(e.key), ts, Array(UnsafeRawBufferPointer(rebasing: e.key[8...]))))
                entry = try cursor.next()
            }
        }
        var n = 0
        for s in stale {
            _ = try txn.delete(keyTimesDB, s.timeKey)
            if let v = try txn.get(keysDB, s.key), let r = KeyRecord(encoded: v), r.ts.ms == s.ts {
                _ = try txn.delete(keysDB, s.key)
                n += 1
            }
        }
        return n
    }

    public func events(from: UInt64, limit: Int) throws -> [StoredEvent] {
        try env.read { txn in
            var out: [StoredEvent] = []
            out.reserveCapacity(min(limit, 4096))
            try txn.withCursor(eventsDB) { cursor in
                var entry = try cursor.seek(atLeast: BigEndian.bytes(max(from, 1)))
                while let e = entry, out.count < limit {
                    let seq = BigEndian.uint64(e.key)
                    guard e.value.count > 1, e.value[0] == LMDBLogStorage.eventVersion else {
                        out.append(StoredEvent(seq: seq, bytes: []))  // unreadable: the caller reports integrity
                        entry = try cursor.next()
                        continue
                    }
                    out.append(StoredEvent(seq: seq, bytes: Array(UnsafeRawBufferPointer(rebasing: e.value[1...]))))
                    entry = try cursor.next()
                }
            }
            return out
        }
    }

    public func scanEvents(
        from: UInt64, limit: Int, _ body: (UInt64, UnsafeBufferPointer<UInt8>) throws -> Void
    ) throws {
        try env.read { txn in
            try txn.withCursor(eventsDB) { cursor in
                var entry = try cursor.seek(atLeast: BigEndian.bytes(max(from, 1)))
                var n = 0
                while let e = entry, n < limit {
                    let seq = BigEndian.uint64(e.key)
                    if e.value.count > 1, e.value[0] == LMDBLogStorage.eventVersion {
                        let v = UnsafeRawBufferPointer(rebasing: e.value[1...])
                        try body(seq, v.assumingMemoryBound(to: UInt8.self))
                    } else {
                        try body(seq, UnsafeBufferPointer(start: nil, count: 0))
                    }
                    n += 1
                    entry = try cursor.next()
                }
            }
        }
    }

    public func usage() -> (mapSize: Int, mapUsed: Int) {
        let s = env.stat
        return (s.mapSizeBytes, s.usedBytes)
    }
}

public enum StorageError: Error, CustomStringConvertible {
    case incompatibleFormat(String)
    case corruptMeta(String)
    case locked(String)
    case cannotCreate(String)

    public var description: String {
        switch self {
        case .incompatibleFormat(let f): "the data directory holds another format (\(f))"
        case .corruptMeta(let m): "the log's meta record is damaged: \(m)"
        case .locked(let m): m
        case .cannotCreate(let m): m
        }
    }
}

/// Holds an exclusive lock on the data directory for the daemon's lifetime, so that a second
/// daemon on the same data exits instead of writing beside the first.
public final class DataDirectoryLock: @unchecked Sendable {
    private let fd: Int32
    public let path: String

    public init(directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StorageError.cannotCreate("cannot create data directory \(directory): \(error.localizedDescription)")
        }
        path = directory + "/tokenledgerd.lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StorageError.cannotCreate("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw StorageError.locked(
                "another tokenledgerd is running on data directory \(directory) (\(path) is locked)")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { write(fd, $0, strlen($0)) }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
