import DequeModule
import Foundation
import LedgerCore
import Logging

public struct WriterLimits: Sendable {
    /// Requests decided in one transaction (one fsync).
    public var batchRequestsMax = 4096
    /// Requests waiting for the writer; a submitter past it waits (backpressure, never a drop).
    public var queueRequestsMax = 16_384
    public init() {}
}

/// Published after every commit, for `stats` and `ping`-like reads off the writer thread.
public struct LogHead: Sendable, Equatable {
    public var seq: UInt64
    public var hash: [UInt8]
}

/// One thread owns every LMDB write transaction. Connections submit their batches to one
/// bounded queue; the writer drains what is waiting (up to `batchRequestsMax`) into one
/// transaction, commits once, then answers every request of it.
public final class Writer: @unchecked Sendable {
    private struct Submission {
        var requests: [LedgerRequest]
        var continuation: CheckedContinuation<[EngineAnswer], Never>
    }

    private struct Queue {
        var submissions: Deque<Submission> = []
        var queuedRequests = 0
        var spaceWaiters: Deque<CheckedContinuation<Void, Never>> = []
        var stopping = false
        var stopped = false
        /// A failure the background check found, for the writer thread to act on.
        var integrityReport: Rejection?
    }

    private let engine: LedgerEngine
    public let limits: WriterLimits
    private let logger: Logger
    private let condition = NSCondition()
    private var queue = Queue()  // guarded by `condition`
    private let headBox: Locked<LogHead>
    /// Wakes subscribers and projectors when the head moves.
    public let heads: HeadWatch
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    private let metrics: WriterMetrics
    /// Written on the writer thread, read by `stats` on others: behind a lock (once per batch).
    private let batchesBox = Locked(0)

    public var batchesCommitted: Int { batchesBox.withLock { $0 } }
    /// Takes snapshots between batches and writes one at a clean stop; set before `start`.
    public var snapshotter: Snapshotter?

    public init(engine: LedgerEngine, limits: WriterLimits = .init(), metrics: WriterMetrics = .none, logger: Logger) {
        precondition(limits.batchRequestsMax >= 1 && limits.queueRequestsMax >= limits.batchRequestsMax)
        self.engine = engine
        self.limits = limits
        self.metrics = metrics
        self.logger = logger
        headBox = Locked(engine.logHead)
        failureBox = Locked(engine.integrityFailure)
        heads = HeadWatch(seq: engine.logHead.seq)
    }

    public var head: LogHead { headBox.withLock { $0 } }

    private let failureBox: Locked<Rejection?>
    /// Set while the log fails its hash check: nothing computed from the log is served then.
    public var integrityFailure: Rejection? { failureBox.withLock { $0 } }

    public func start() {
        let t = Thread { [self] in run() }
        t.name = "tokenledger-writer"
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    /// Submits one connection's batch and waits for its answers (after the commit).
    /// Waits first while the queue is full. After `stop`, answers `unavailable`.
    public func submit(_ requests: [LedgerRequest]) async -> [EngineAnswer] {
        precondition(!requests.isEmpty && requests.count <= limits.batchRequestsMax)
        while true {
            let admitted: Bool? = condition.withLock {
                if queue.stopping { return nil }
                return queue.queuedRequests + requests.count <= limits.queueRequestsMax
            }
            guard let admitted else { return unavailable(requests.count) }
            if admitted { break }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = condition.withLock {
                    if queue.stopping || queue.queuedRequests + requests.count <= limits.queueRequestsMax {
                        return true
                    }
                    queue.spaceWaiters.append(c)
                    return false
                }
                if resumeNow { c.resume() }
            }
        }
        return await withCheckedContinuation { (c: CheckedContinuation<[EngineAnswer], Never>) in
            let accepted: Bool = condition.withLock {
                if queue.stopping { return false }
                queue.submissions.append(Submission(requests: requests, continuation: c))
                queue.queuedRequests += requests.count
                condition.signal()
                return true
            }
            if !accepted { c.resume(returning: unavailable(requests.count)) }
        }
    }

    private func unavailable(_ n: Int) -> [EngineAnswer] {
        Array(repeating: .failure(Rejection(.unavailable, "the daemon is shutting down")), count: n)
    }

    /// Stops taking work: the batch being committed finishes and is answered; requests not
    /// yet started are answered `unavailable`. Returns when the writer thread has exited.
    public func stop() {
        condition.withLock {
            queue.stopping = true
            condition.signal()
        }
        if thread != nil { finished.wait() }
        snapshotter?.writeFinal(engine)
    }

    /// Puts the ledger in `integrity` mode (from the background check of the log): the writer
    /// thread applies it before its next batch, and every later money answer refuses.
    public func reportIntegrityFailure(_ failure: Rejection) {
        condition.withLock {
            queue.integrityReport = failure
            condition.signal()
        }
    }

    private func run() {
        while true {
            var taken: [Submission] = []
            var waiters: Deque<CheckedContinuation<Void, Never>> = []
            var rejected: [Submission] = []
            var report: Rejection?
            var queuedAfter = 0
            let stop: Bool = condition.withLock {
                while queue.submissions.isEmpty && !queue.stopping && queue.integrityReport == nil {
                    let wake = nextWake()
                    if !condition.wait(until: wake) { break }
                }
                report = queue.integrityReport
                queue.integrityReport = nil
                if queue.stopping {
                    rejected = Array(queue.submissions)
                    queue.submissions.removeAll()
                    queue.queuedRequests = 0
                    waiters = queue.spaceWaiters
                    queue.spaceWaiters.removeAll()
                    return true
                }
                var n = 0
                while let first = queue.submissions.first, n == 0 || n + first.requests.count <= limits.batchRequestsMax
                {
                    n += first.requests.count
                    taken.append(queue.submissions.removeFirst())
                }
                queue.queuedRequests -= n
                queuedAfter = queue.queuedRequests
                waiters = queue.spaceWaiters
                queue.spaceWaiters.removeAll()
                return false
            }
            for w in waiters { w.resume() }
            for s in rejected { s.continuation.resume(returning: unavailable(s.requests.count)) }
            if stop { break }
            if let report {
                engine.enterIntegrityMode(report)
                publishHead()
            }
            let began = DispatchTime.now().uptimeNanoseconds
            if taken.isEmpty {
                do {
                    let n = try engine.tick()
                    if n > 0 { publishHead() }
                } catch {
                    logger.error("scheduler commit failed", metadata: ["error": "\(error)"])
                }
                snapshotter?.afterBatch(engine, batchSeconds: Self.seconds(since: began))
                continue
            }
            let all = taken.flatMap(\.requests)
            let decided = DispatchTime.now().uptimeNanoseconds
            let answers = engine.execute(all)
            let commitNanoseconds = DispatchTime.now().uptimeNanoseconds - decided
            precondition(answers.count == all.count, "one answer per request")
            publishHead()
            let batchSeconds = Self.seconds(since: began)
            batchesBox.withLock { $0 += 1 }
            var i = 0
            for s in taken {
                s.continuation.resume(returning: Array(answers[i..<(i + s.requests.count)]))
                i += s.requests.count
            }
            // After the answers: they wait for nothing but the commit, and taking a snapshot
            // must not delay them.
            snapshotter?.afterBatch(engine, batchSeconds: batchSeconds)
            metrics.commitLatency.recordNanoseconds(Int64(commitNanoseconds))
            metrics.batchRequests.record(all.count)
            metrics.queueRequests.record(queuedAfter)
        }
        heads.close()
        logger.info("writer stopped", metadata: ["ledger.seq": "\(engine.state.head)"])
        finished.signal()
    }

    private static func seconds(since ns: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - ns) / 1e9
    }

    private func publishHead() {
        let h = engine.logHead
        let before = headBox.withLock { head in
            defer { head = h }
            return head.seq
        }
        if h.seq > before { metrics.eventsAppended.increment(by: Int64(h.seq - before)) }
        let f = engine.integrityFailure
        failureBox.withLock { $0 = f }
        heads.publish(h.seq)
    }

    /// When the writer should wake with no work: the scheduler's next instant (system clock),
    /// at most a second away so that a clock jump is noticed.
    private func nextWake() -> Date {
        let waitMax = Date().addingTimeInterval(1)
        guard engine.clock.manual == nil, let due = engine.nextDue() else { return waitMax }
        let dueDate = Date(timeIntervalSince1970: Double(due.ms) / 1000)
        return min(waitMax, dueDate)
    }
}
