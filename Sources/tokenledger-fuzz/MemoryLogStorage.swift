import LedgerCore
import LedgerStore
import Synchronization

/// A `LogStorage` in memory with the promises of the LMDB one (a commit is all or nothing,
/// seqs are consecutive from 1), so the fuzzer runs the engine without I/O. A trimmed copy of
/// the test suite's `InMemoryLogStorage`, which lives in a test target and so cannot be linked here.
final class MemoryLogStorage: LogStorage {
    private struct Contents {
        var events: [[UInt8]] = []
        var keys: [String: KeyRecord] = [:]
        var headSeq: UInt64 = 0
        var headHash: [UInt8] = HashChain.genesis
    }

    private let contents: Mutex<Contents>

    init() { contents = Mutex(Contents()) }
    private init(_ c: Contents) { contents = Mutex(c) }

    /// An independent storage holding what this one holds now.
    func copy() -> MemoryLogStorage { MemoryLogStorage(contents.withLock { $0 }) }

    var eventCount: Int { contents.withLock { $0.events.count } }

    func head() throws -> (seq: UInt64, hash: [UInt8]) {
        contents.withLock { ($0.headSeq, $0.headHash) }
    }

    func lookupKeys(_ keys: [String]) throws -> [String: KeyRecord] {
        contents.withLock { c in
            var out: [String: KeyRecord] = [:]
            for k in keys { if let r = c.keys[k] { out[k] = r } }
            return out
        }
    }

    func commit(_ batch: CommitBatch) throws {
        guard !batch.isEmpty else { return }
        contents.withLock { c in
            var next = UInt64(c.events.count) + 1
            for e in batch.events {
                precondition(e.seq == next, "event seq \(e.seq) where \(next) was expected")
                next += 1
            }
            precondition(batch.headSeq == next - 1, "the head record does not name the last event")
            c.events.append(contentsOf: batch.events.map(\.stored))
            for k in batch.keys { c.keys[k.key] = k.record }
            if let cutoff = batch.pruneKeysBefore { c.keys = c.keys.filter { $0.value.ts >= cutoff } }
            c.headSeq = batch.headSeq
            c.headHash = batch.headHash
        }
    }

    func events(from: UInt64, limit: Int) throws -> [StoredEvent] {
        contents.withLock { c in
            let start = Int(max(from, 1)) - 1
            guard start < c.events.count else { return [] }
            let end = min(c.events.count, start + limit)
            return (start..<end).map { StoredEvent(seq: UInt64($0 + 1), bytes: c.events[$0]) }
        }
    }

    func usage() -> (mapSize: Int, mapUsed: Int) {
        contents.withLock { c in (0, c.events.reduce(0) { $0 + $1.count }) }
    }
}
