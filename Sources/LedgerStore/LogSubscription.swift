import Dispatch
import LedgerCore
import LedgerJSON
import Synchronization

/// Live subscribers, for `stats`: a subscription counts from its creation until it is released.
public final class SubscriberGauge: Sendable {
    private let live = Atomic<Int>(0)
    public init() {}
    public var count: Int { live.load(ordering: .relaxed) }
    func opened() { live.add(1, ordering: .relaxed) }

    /// Counts one more subscription if fewer than `limit` are live; the subscription made with
    /// `reserved: true` then takes the place (and gives it back when it ends).
    public func reserve(limit: Int) -> Bool {
        var current = live.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = live.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }
    func released() { live.subtract(1, ordering: .relaxed) }
}

/// One `subscribe` (PROTOCOL §5): a cursor over the log, never a queue. Each `next` takes short
/// read transactions (one per chunk, on `readQueue`, never across an `await` or a socket write),
/// returns the matching event lines `{"event":<stored bytes>}` after the cursor, and moves the
/// cursor past what it examined. At the head it waits on the writer's `HeadWatch`; when the
/// writer stops the stream ends.
///
/// Memory per subscriber, whatever the writers do and however slowly the client reads: the
/// server asks for more only after the previous lines were written, so at most one answer of
/// `next` is alive, which holds at most `limit` lines (the server's `batchLinesMax`, 1,024) and at
/// most `Limits.linesBytesMax` (256 KiB) of them, plus one event when a single event is larger;
/// plus one transient chunk of at most `Limits.chunkEventsMax` (256) stored events while it scans.
/// Writers never wait for a subscriber: a stuck one just stops asking.
///
/// A subscriber filtered to a rare team or type scans at most `Limits.scanEventsMax` (4,096) events per `next`
/// and then answers with no lines, so the server gets control back (to see a closed client)
/// between bounded pieces of work instead of one long scan.
///
/// An `after_seq` beyond the head waits until the log gets there: a subscriber may start
/// ahead, e.g. at a seq it will resume from.
public final class LogSubscription: Sendable {
    /// The limits of one `next`; the defaults are what the README states.
    public struct Limits: Sendable {
        /// Stored events read per read transaction.
        public var chunkEventsMax = 256
        /// Events examined per `next` before it hands back, matching or not.
        public var scanEventsMax = 4096
        /// Bytes of lines per `next` (at least one line, however large).
        public var linesBytesMax = 256 * 1024
        public init() {}
    }

    private struct State {
        /// The last seq examined: the next `next` starts after it.
        var cursor: UInt64
        var cancelled = false
        var ended = false
        var waiting: Task<UInt64?, Never>?
    }

    private let storage: any LogStorage
    private let heads: HeadWatch
    private let team: ID?
    private let types: Set<String>?
    private let readQueue: DispatchQueue
    private let gauge: SubscriberGauge?
    private let limits: Limits
    private let state: Locked<State>

    public init(
        _ query: SubscribeQuery, storage: any LogStorage, heads: HeadWatch, readQueue: DispatchQueue,
        gauge: SubscriberGauge? = nil, reserved: Bool = false, limits: Limits = Limits()
    ) {
        precondition(limits.chunkEventsMax >= 1 && limits.scanEventsMax >= 1 && limits.linesBytesMax >= 1)
        self.limits = limits
        self.storage = storage
        self.heads = heads
        self.team = query.team
        self.types = query.types
        self.readQueue = readQueue
        self.gauge = gauge
        self.state = Locked(State(cursor: query.afterSeq))
        if !reserved { gauge?.opened() }
    }

    deinit { gauge?.released() }

    /// The last seq examined so far.
    public var cursor: UInt64 { state.withLock { $0.cursor } }

    /// The next matching lines after the cursor, waiting at the head for more. `[]` after a
    /// bounded scan found nothing; `nil` once cancelled, once the writer stopped, or after a
    /// final `integrity` error line. Not to be called again before the previous call returned.
    public func next(limit: Int) async throws -> [[UInt8]]? {
        precondition(limit >= 1)
        while true {
            let (cursor, stop) = state.withLock { ($0.cursor, $0.cancelled || $0.ended) }
            if stop { return nil }
            let head = heads.seq
            if cursor >= head {
                guard await waitForHead(beyond: cursor) else { return nil }
                continue
            }
            let scan = try await read(after: cursor, upTo: head, limit: limit)
            let cancelled: Bool = state.withLock { s in
                assert(s.cursor == cursor, "next called concurrently")
                s.cursor = scan.last
                if scan.broken { s.ended = true }
                return s.cancelled
            }
            if cancelled { return nil }
            // Lines, or a bounded scan that found none and ended before the head: hand back.
            if !scan.lines.isEmpty || scan.last < head { return scan.lines }
        }
    }

    /// Ends the stream: a waiting `next` returns nil at once, later ones too.
    public func cancel() async {
        let task: Task<UInt64?, Never>? = state.withLock { s in
            s.cancelled = true
            defer { s.waiting = nil }
            return s.waiting
        }
        task?.cancel()
    }

    /// False when cancelled or the writer stopped.
    private func waitForHead(beyond seq: UInt64) async -> Bool {
        let heads = self.heads
        let task: Task<UInt64?, Never>? = state.withLock { s in
            if s.cancelled { return nil }
            let t = Task { await heads.wait(beyond: seq) }
            s.waiting = t
            return t
        }
        guard let task else { return false }
        let head = await task.value
        state.withLock { $0.waiting = nil }
        return head != nil
    }

    struct Scan: Sendable {
        var lines: [[UInt8]] = []
        /// The last seq examined.
        var last: UInt64
        /// An unreadable event ended the scan with an `integrity` line.
        var broken = false
    }

    /// Blocking LMDB reads belong off Swift's cooperative pool.
    private func read(after cursor: UInt64, upTo head: UInt64, limit: Int) async throws -> Scan {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Scan, any Error>) in
            readQueue.async {
                c.resume(with: Result { try self.scan(after: cursor, upTo: head, limit: limit) })
            }
        }
    }

    /// Examines events in (cursor, head] in chunks, one read transaction each, until `limit`
    /// lines, `linesBytesMax` bytes or `scanEventsMax` events.
    func scan(after cursor: UInt64, upTo head: UInt64, limit: Int) throws -> Scan {
        var out = Scan(last: cursor)
        var bytes = 0
        var scanned = 0
        while out.last < head && scanned < limits.scanEventsMax && out.lines.count < limit
            && bytes < limits.linesBytesMax
        {
            let want = Int(min(UInt64(limits.chunkEventsMax), head - out.last, UInt64(limits.scanEventsMax - scanned)))
            let chunk = try storage.events(from: out.last + 1, limit: want)
            if chunk.isEmpty {
                // The head says it was committed: a hole in the log.
                out.lines.append(Self.integrityLine(seq: out.last + 1, "event \(out.last + 1) is missing"))
                out.broken = true
                return out
            }
            for stored in chunk {
                guard stored.seq == out.last + 1, stored.seq <= head else {
                    out.lines.append(Self.integrityLine(seq: out.last + 1, "event \(out.last + 1) is missing"))
                    out.broken = true
                    return out
                }
                switch classify(stored) {
                case .unreadable:
                    out.lines.append(Self.integrityLine(seq: stored.seq, "event \(stored.seq) is unreadable"))
                    out.last = stored.seq
                    out.broken = true
                    return out
                case .skip:
                    break
                case .send:
                    let line = Self.eventLine(stored.bytes)
                    bytes += line.count
                    out.lines.append(line)
                }
                out.last = stored.seq
                scanned += 1
                if out.lines.count == limit || bytes >= limits.linesBytesMax { return out }
            }
        }
        return out
    }

    private enum Verdict { case send, skip, unreadable }

    private func classify(_ stored: StoredEvent) -> Verdict {
        let b = stored.bytes
        // Stored bytes are RFC 8785 objects: braces at both ends and no raw newline inside.
        guard b.count >= 2, b.first == UInt8(ascii: "{"), b.last == UInt8(ascii: "}") else { return .unreadable }
        if team == nil && types == nil {
            return b.contains(UInt8(ascii: "\n")) ? .unreadable : .send
        }
        guard case .object(let o)? = try? JSONParser.parse(b) else { return .unreadable }
        if let types {
            guard case .string(let t)? = o["type"], types.contains(t) else { return .skip }
        }
        if let team {
            guard case .string(let s)? = o["team"], ID(trusted: s) == team else { return .skip }
        }
        return .send
    }

    static let eventPrefix: [UInt8] = Array(#"{"event":"#.utf8)

    /// `{"event":` + the stored bytes + `}`: the stored form, never re-serialised.
    static func eventLine(_ stored: [UInt8]) -> [UInt8] {
        var line = [UInt8]()
        line.reserveCapacity(eventPrefix.count + stored.count + 1)
        line.append(contentsOf: eventPrefix)
        line.append(contentsOf: stored)
        line.append(UInt8(ascii: "}"))
        return line
    }

    static func integrityLine(seq: UInt64, _ message: String) -> [UInt8] {
        let error: JSONObject = [
            "code": .string(ErrorCode.integrity.rawValue), "message": .string(message), "seq": .int(seq),
        ]
        return CanonicalJSON.bytes(.object(["ok": .bool(false), "error": .object(error)]))
    }
}
