import Dispatch
import Foundation
import LedgerCore
import Logging

/// Writes snapshots of the write side without stalling the writer. The writer thread only
/// takes an O(1) copy of the state at a batch boundary (`LedgerEngine.snapshot()`); encoding
/// and hashing run on this type's own queue, and the store puts the blob in chunks of
/// `LMDBLogStorage.snapshotChunkBytes`, each its own short transaction, so the writer's next
/// commit waits at most for one chunk's write and fsync. One snapshot at a time.
public final class Snapshotter: @unchecked Sendable {
    public struct Status: Sendable {
        /// The newest stored snapshot (nil: none yet).
        public var newest: SnapshotInfo?
        public var inFlight = false
        public var written = 0
        public var failed = 0
        public var lastFailure: String?
        /// The longest writer batch (decide + commit) seen while the last snapshot was written,
        /// and the longest outside any snapshot write: what a snapshot costs the writer.
        public var batchMsMaxDuringLast: Double = 0
        public var batchMsMaxOutside: Double = 0
        var batchMsMaxDuringCurrent: Double = 0
        /// Every batch since start, by whether a snapshot was being written meanwhile.
        public var batchesDuring = BatchTimeHistogram()
        public var batchesOutside = BatchTimeHistogram()
    }

    let storage: any LogStorage
    public let policy: SnapshotPolicy
    let logger: Logger
    private let queue = DispatchQueue(label: "tokenledger.snapshot", qos: .utility)
    private let box: Locked<Status>
    /// Batches the writer finished: a snapshot transaction starts right after one, while the
    /// writer decides its next batch, instead of landing in front of that batch's commit.
    private let paceCondition = NSCondition()
    private var batchesDone: UInt64 = 0  // guarded by `paceCondition`
    /// Monotonic time of the last snapshot (or of the start): the seconds trigger. Writer thread only.
    private var lastAtNs = DispatchTime.now().uptimeNanoseconds
    /// Seq of the last snapshot taken (stored or not): the events trigger. Writer thread only.
    private var lastTakenSeq: UInt64

    public init(storage: any LogStorage, policy: SnapshotPolicy, logger: Logger) {
        precondition(policy.everyEvents >= 1 && policy.everySeconds > 0)
        self.storage = storage
        self.policy = policy
        self.logger = logger
        let newest = (try? storage.snapshots())?.first
        box = Locked(Status(newest: newest))
        lastTakenSeq = newest?.seq ?? 0
    }

    public var status: Status { box.withLock { $0 } }

    /// After a batch or a tick, on the writer thread: starts a snapshot when one is due and
    /// none is being written. `batchSeconds` is how long the batch took (for the stall figure).
    public func afterBatch(_ engine: LedgerEngine, batchSeconds: Double) {
        let ms = batchSeconds * 1000
        paceCondition.withLock {
            batchesDone &+= 1
            paceCondition.broadcast()
        }
        let busy = box.withLock { s in
            if s.inFlight {
                s.batchMsMaxDuringCurrent = max(s.batchMsMaxDuringCurrent, ms)
                s.batchesDuring.record(ms: ms)
            } else {
                s.batchMsMaxOutside = max(s.batchMsMaxOutside, ms)
                s.batchesOutside.record(ms: ms)
            }
            return s.inFlight
        }
        guard !busy else { return }
        let head = engine.state.head
        guard head > lastTakenSeq else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let byEvents = head - lastTakenSeq >= policy.everyEvents
        let byTime = Double(now - lastAtNs) / 1e9 >= policy.everySeconds
        guard byEvents || byTime, let snapshot = engine.snapshot() else { return }
        lastTakenSeq = head
        lastAtNs = now
        box.withLock {
            $0.inFlight = true
            $0.batchMsMaxDuringCurrent = 0
        }
        queue.async { [self] in write(snapshot, paced: true) }
    }

    /// At a clean stop, after the writer thread exited: waits for a snapshot being written, then
    /// writes one at the head unless the newest already stands there.
    @available(*, noasync)
    public func writeFinal(_ engine: LedgerEngine) {
        queue.sync {}
        guard let snapshot = engine.snapshot(), snapshot.seq != box.withLock({ $0.newest?.seq }) else { return }
        box.withLock { $0.inFlight = true }
        queue.sync { write(snapshot, paced: false) }
    }

    /// Encodes and stores one snapshot; a failure is logged and counted, and the log goes on.
    /// `paced`: each transaction waits for a writer batch boundary (not at a stop: no batches).
    private func write(_ snapshot: Snapshot, paced: Bool) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let bytes = SnapshotCodec.encode(snapshot)
        let t1 = DispatchTime.now().uptimeNanoseconds
        let writtenAtMs = Int64(Date().timeIntervalSince1970 * 1000)
        do {
            try storage.storeSnapshot(
                seq: snapshot.seq, bytes: bytes, writtenAtMs: writtenAtMs,
                beforeTransaction: paced ? waitForABatchBoundary : {})
            let t2 = DispatchTime.now().uptimeNanoseconds
            let (stall, outside, during, rest) = box.withLock { s in
                s.inFlight = false
                s.written += 1
                s.newest = SnapshotInfo(seq: snapshot.seq, bytes: bytes.count, writtenAtMs: writtenAtMs)
                s.batchMsMaxDuringLast = s.batchMsMaxDuringCurrent
                return (s.batchMsMaxDuringCurrent, s.batchMsMaxOutside, s.batchesDuring, s.batchesOutside)
            }
            func quantiles(_ h: BatchTimeHistogram) -> String {
                "n=\(h.count),p50=\(String(format: "%.2f", h.quantileMs(0.5))),p99=\(String(format: "%.2f", h.quantileMs(0.99))),max=\(String(format: "%.2f", h.maxMs))"
            }
            logger.info(
                "snapshot written",
                metadata: [
                    "snapshot.seq": "\(snapshot.seq)", "snapshot.bytes": "\(bytes.count)",
                    "snapshot.encode_ms": "\(Self.ms(t1 - t0))", "snapshot.store_ms": "\(Self.ms(t2 - t1))",
                    "writer.batch_ms_max": "\(String(format: "%.2f", stall))",
                    "writer.batch_ms_max_outside": "\(String(format: "%.2f", outside))",
                    "writer.batch_ms_during_snapshots": "\(quantiles(during))",
                    "writer.batch_ms_outside_snapshots": "\(quantiles(rest))",
                ])
        } catch {
            box.withLock { s in
                s.inFlight = false
                s.failed += 1
                s.lastFailure = "\(error)"
            }
            logger.error(
                "snapshot write failed; the log goes on, the next start folds a longer tail",
                metadata: ["snapshot.seq": "\(snapshot.seq)", "error": "\(error)"])
        }
    }

    /// Waits until the writer finishes a batch (at most `paceWaitMs`: an idle writer commits
    /// nothing, so there is nothing to stay out of the way of).
    private func waitForABatchBoundary() {
        paceCondition.withLock {
            let seen = batchesDone
            let deadline = Date().addingTimeInterval(Double(Self.paceWaitMs) / 1000)
            while batchesDone == seen {
                if !paceCondition.wait(until: deadline) { break }
            }
        }
    }

    static let paceWaitMs = 50

    private static func ms(_ ns: UInt64) -> String { String(format: "%.2f", Double(ns) / 1e6) }
}
