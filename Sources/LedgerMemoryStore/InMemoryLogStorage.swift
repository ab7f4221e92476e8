import LedgerCore
import LedgerStore

/// A `LogStorage` in memory, for driving the engine deterministically and injecting faults: the
/// tests, the writer simulation and the fuzzer use it; the daemon never does.
/// It holds the same promises as the LMDB one: a commit is all or nothing, the log grows by
/// consecutive seqs from 1, and the head record names the last event.
public final class InMemoryLogStorage: LogStorage {
    public enum Fault: Error, Equatable, CustomStringConvertible {
        case commitRefused
        case mapFull
        case lookupRefused
        case notConsecutive(expected: UInt64, found: UInt64)
        case headMismatch(head: UInt64, lastEvent: UInt64)

        public var description: String {
            switch self {
            case .commitRefused: "injected commit failure"
            case .mapFull: "injected MDB_MAP_FULL"
            case .lookupRefused: "injected lookup failure"
            case .notConsecutive(let e, let f): "event seq \(f) where \(e) was expected"
            case .headMismatch(let h, let l): "head record says \(h) but the last event is \(l)"
            }
        }
    }

    private struct Contents {
        var events: [[UInt8]] = []
        var keys: [String: KeyRecord] = [:]
        var headSeq: UInt64 = 0
        var headHash: [UInt8] = HashChain.genesis
        var snapshots: [UInt64: (bytes: [UInt8], writtenAtMs: Int64)] = [:]
        var failSnapshotWrites = false
        public var failCommits = false
        public var failLookups = false
        var mapFullAttempts = 0
        var growsOnMapFull = false
        public var commits = 0
        public var commitAttempts = 0
        public var failedCommits = 0
        var scans = 0
    }

    private let contents = Locked(Contents())

    public init() {}

    /// A storage holding what `other` holds (its log and keys), without its faults or counters.
    public init(copying other: InMemoryLogStorage) {
        let c = other.contents.withLock { $0 }
        contents.withLock { mine in
            mine.events = c.events
            mine.keys = c.keys
            mine.headSeq = c.headSeq
            mine.headHash = c.headHash
            mine.snapshots = c.snapshots
        }
    }

    /// While true, every `storeSnapshot` throws and stores nothing.
    public var failSnapshotWrites: Bool {
        get { contents.withLock { $0.failSnapshotWrites } }
        set { contents.withLock { $0.failSnapshotWrites = newValue } }
    }

    /// Rewrites a stored snapshot's bytes behind the engine's back (fallback tests).
    public func tamperSnapshot(seq: UInt64, _ change: (inout [UInt8]) -> Void) {
        contents.withLock { c in
            guard var s = c.snapshots[seq] else { return }
            change(&s.bytes)
            c.snapshots[seq] = s
        }
    }

    /// While true, every `commit` throws and stores nothing.
    public var failCommits: Bool {
        get { contents.withLock { $0.failCommits } }
        set { contents.withLock { $0.failCommits = newValue } }
    }

    /// While true, every `lookupKeys` throws.
    public var failLookups: Bool {
        get { contents.withLock { $0.failLookups } }
        set { contents.withLock { $0.failLookups = newValue } }
    }

    /// The next `n` commit attempts find the map full. With `growsOnMapFull` the storage behaves
    /// as the LMDB one does below its maximum size: it grows and retries the whole transaction
    /// inside the same `commit`, so the caller never sees the failure; without it, the attempt
    /// throws `mapFull` and stores nothing (the maximum size reached).
    public func mapFull(attempts n: Int, grows: Bool) {
        contents.withLock {
            $0.mapFullAttempts = n
            $0.growsOnMapFull = grows
        }
    }

    /// Successful commits that stored something.
    public var commits: Int { contents.withLock { $0.commits } }
    /// Calls of `commit` with something to store, and those of them that threw.
    public var commitAttempts: Int { contents.withLock { $0.commitAttempts } }
    public var failedCommits: Int { contents.withLock { $0.failedCommits } }
    public var eventCount: Int { contents.withLock { $0.events.count } }
    /// Reads of more than one event (`events(from:limit:)` with a limit above 1): a fold of the
    /// log shows here, while the engine's reads of one event (a key's original, a referenced
    /// seq) do not. The tests prove with it that a failed commit is recovered without a fold.
    public var scans: Int { contents.withLock { $0.scans } }
    public var keyCount: Int { contents.withLock { $0.keys.count } }

    /// The stored bytes of every event, in seq order.
    public var storedEvents: [[UInt8]] { contents.withLock { $0.events } }

    /// Rewrites a stored event's bytes behind the engine's back (integrity tests).
    public func tamper(seq: UInt64, _ change: (inout [UInt8]) -> Void) {
        contents.withLock { c in change(&c.events[Int(seq) - 1]) }
    }

    // MARK: LogStorage

    public func head() throws -> (seq: UInt64, hash: [UInt8]) {
        contents.withLock { ($0.headSeq, $0.headHash) }
    }

    public func lookupKeys(_ keys: [String]) throws -> [String: KeyRecord] {
        try contents.withLock { c throws(Fault) in
            if c.failLookups { throw Fault.lookupRefused }
            var out: [String: KeyRecord] = [:]
            for k in keys { if let r = c.keys[k] { out[k] = r } }
            return out
        }
    }

    public func commit(_ batch: CommitBatch) throws {
        guard !batch.isEmpty else { return }
        try contents.withLock { c throws(Fault) in
            c.commitAttempts += 1
            do throws(Fault) {
                try Self.apply(batch, to: &c)
            } catch {
                c.failedCommits += 1
                throw error
            }
        }
    }

    private static func apply(_ batch: CommitBatch, to c: inout Contents) throws(Fault) {
        if c.failCommits { throw Fault.commitRefused }
        while c.mapFullAttempts > 0 {
            c.mapFullAttempts -= 1
            if !c.growsOnMapFull { throw Fault.mapFull }
        }
        var next = UInt64(c.events.count) + 1
        for e in batch.events {
            guard e.seq == next else { throw Fault.notConsecutive(expected: next, found: e.seq) }
            next += 1
        }
        guard batch.headSeq == next - 1 else { throw Fault.headMismatch(head: batch.headSeq, lastEvent: next - 1) }
        // Validated: now apply all of it.
        c.events.append(contentsOf: batch.events.map(\.stored))
        for k in batch.keys { c.keys[k.key] = k.record }
        if let cutoff = batch.pruneKeysBefore { c.keys = c.keys.filter { $0.value.ts >= cutoff } }
        c.headSeq = batch.headSeq
        c.headHash = batch.headHash
        c.commits += 1
    }

    public func events(from: UInt64, limit: Int) throws -> [StoredEvent] {
        contents.withLock { c in
            if limit > 1 { c.scans += 1 }
            let start = Int(max(from, 1)) - 1
            guard start < c.events.count else { return [] }
            let end = min(c.events.count, start + limit)
            return (start..<end).map { StoredEvent(seq: UInt64($0 + 1), bytes: c.events[$0]) }
        }
    }

    public func snapshots() throws -> [SnapshotInfo] {
        contents.withLock { c in
            c.snapshots.sorted { $0.key > $1.key }.map {
                SnapshotInfo(seq: $0.key, bytes: $0.value.bytes.count, writtenAtMs: $0.value.writtenAtMs)
            }
        }
    }

    public func snapshotBytes(seq: UInt64) throws -> [UInt8]? {
        contents.withLock { $0.snapshots[seq]?.bytes }
    }

    public func storeSnapshot(
        seq: UInt64, bytes: [UInt8], writtenAtMs: Int64, beforeTransaction: () -> Void
    ) throws {
        beforeTransaction()
        try contents.withLock { c throws(SnapshotStoreError) in
            if c.failSnapshotWrites { throw SnapshotStoreError.injected }
            c.snapshots[seq] = (bytes, writtenAtMs)
            // The newest two, as the LMDB storage keeps.
            for old in c.snapshots.keys.sorted(by: >).dropFirst(2) { c.snapshots[old] = nil }
        }
    }

    public func usage() -> (mapSize: Int, mapUsed: Int) {
        contents.withLock { c in (0, c.events.reduce(0) { $0 + $1.count }) }
    }
}
