import LMDB
import LedgerCore

/// What an idempotency key remembers (PROTOCOL §4).
public struct KeyRecord: Sendable, Equatable {
    public var seq: UInt64
    public var digest: [UInt8]
    public var ts: Instant

    public init(seq: UInt64, digest: [UInt8], ts: Instant) {
        self.seq = seq
        self.digest = digest
        self.ts = ts
    }

    static let encodedBytes = 8 + 32 + 8

    func encoded() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: KeyRecord.encodedBytes) { buf, n in
            write(to: UnsafeMutableRawBufferPointer(buf))
            n = KeyRecord.encodedBytes
        }
    }

    /// seq (big-endian) ‖ digest ‖ ts ms (big-endian) into `out`, which has `encodedBytes` of room.
    func write(to out: UnsafeMutableRawBufferPointer) {
        precondition(digest.count == 32 && out.count >= KeyRecord.encodedBytes)
        out.storeBytes(of: seq.bigEndian, toByteOffset: 0, as: UInt64.self)
        digest.withUnsafeBytes { out.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: 32) }
        out.storeBytes(of: UInt64(bitPattern: ts.ms).bigEndian, toByteOffset: 40, as: UInt64.self)
    }

    init?(encoded b: [UInt8]) {
        guard b.count == KeyRecord.encodedBytes else { return nil }
        seq = readBE(b, 0)
        digest = Array(b[8..<40])
        ts = Instant(ms: Int64(bitPattern: readBE(b, 40)))
    }
}

func readBE(_ b: [UInt8], _ at: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<8 { v = v << 8 | UInt64(b[at + i]) }
    return v
}

/// One durable commit: events in seq order, the keys they used, the new head.
public struct CommitBatch: Sendable {
    public var events: [(seq: UInt64, stored: [UInt8])] = []
    public var keys: [(key: String, record: KeyRecord)] = []
    public var headSeq: UInt64 = 0
    public var headHash: [UInt8] = HashChain.genesis
    /// Keys last used before this instant may be forgotten: the commit prunes a bounded
    /// number of them (oldest first) in the same transaction.
    public var pruneKeysBefore: Instant?

    public init() {}
    public var isEmpty: Bool { events.isEmpty && keys.isEmpty }
}

extension LogStorage {
    public func scanEvents(
        from: UInt64, limit: Int, _ body: (UInt64, UnsafeBufferPointer<UInt8>) throws -> Void
    ) throws {
        for e in try events(from: from, limit: limit) { try e.bytes.withUnsafeBufferPointer { try body(e.seq, $0) } }
    }
}

/// An event as stored: its RFC 8785 bytes with `hash` (what `audit` and exports carry).
public struct StoredEvent: Sendable {
    public var seq: UInt64
    public var bytes: [UInt8]

    public init(seq: UInt64, bytes: [UInt8]) {
        self.seq = seq
        self.bytes = bytes
    }
}

/// The log's storage, behind a protocol so that a test can drive the writer deterministically
/// and inject faults. `commit` is durable when it returns; after it throws, nothing of the
/// batch is stored.
public protocol LogStorage: AnyObject, Sendable {
    func head() throws -> (seq: UInt64, hash: [UInt8])
    func lookupKeys(_ keys: [String]) throws -> [String: KeyRecord]
    func commit(_ batch: CommitBatch) throws
    /// Up to `limit` events with seq ≥ `from`, in order.
    func events(from: UInt64, limit: Int) throws -> [StoredEvent]
    /// Lends up to `limit` events with seq ≥ `from` to `body`, in order, without copying them
    /// where the storage allows (an LMDB read transaction stays open meanwhile, so `body`
    /// must be quick). The bytes are valid only during the call; empty for an unreadable record.
    func scanEvents(from: UInt64, limit: Int, _ body: (UInt64, UnsafeBufferPointer<UInt8>) throws -> Void) throws
    /// Map size and use, for `stats`.
    func usage() -> (mapSize: Int, mapUsed: Int)

    /// The complete snapshots stored (`SnapshotCodec` blobs), newest first; at most two.
    func snapshots() throws -> [SnapshotInfo]
    /// One stored snapshot's bytes; nil when it is not (or no longer, or not wholly) there.
    func snapshotBytes(seq: UInt64) throws -> [UInt8]?
    /// Stores a snapshot of the log at `seq` and keeps only the newest two. Must not hold the
    /// log's commits for long: a large blob goes in several short transactions, the last of
    /// which makes it visible. After it throws, the snapshots stored before are intact.
    /// `beforeTransaction` runs before each of those transactions (the caller paces them).
    func storeSnapshot(seq: UInt64, bytes: [UInt8], writtenAtMs: Int64, beforeTransaction: () -> Void) throws
}

extension LogStorage {
    /// A storage without snapshots (a test double): start-up folds from genesis.
    public func snapshots() throws -> [SnapshotInfo] { [] }
    public func snapshotBytes(seq: UInt64) throws -> [UInt8]? { nil }
    public func storeSnapshot(
        seq: UInt64, bytes: [UInt8], writtenAtMs: Int64, beforeTransaction: () -> Void
    ) throws {
        throw SnapshotStoreError.unsupported
    }

    /// `storeSnapshot` with nothing between its transactions.
    public func storeSnapshot(seq: UInt64, bytes: [UInt8], writtenAtMs: Int64) throws {
        try storeSnapshot(seq: seq, bytes: bytes, writtenAtMs: writtenAtMs, beforeTransaction: {})
    }
}
