import LedgerCore
import LedgerJSON

/// Reads of the log itself (`audit`, `verify`), off the writer thread. Each read takes short
/// read transactions chunk by chunk, never one held across a socket write.
public struct LogReader: Sendable {
    public let storage: any LogStorage
    /// Events one `audit` call may scan before it answers with `next_after_seq`.
    public var auditScanMax = 100_000
    static let chunk = 1024

    /// The smallest seq ≥ `from` that may hold an event of `team` (a team index kept by the
    /// read models; nil when it knows nothing), and the size of the blocks it indexes.
    public typealias TeamIndex = @Sendable (_ team: ID, _ from: UInt64) -> UInt64?
    public var teamIndex: TeamIndex?
    /// The team index names blocks of 2^shift seqs (the read models' `audit_teams`).
    public static let teamIndexBlockShift: UInt64 = 10
    static let teamIndexBlock: UInt64 = 1 << teamIndexBlockShift

    public init(storage: any LogStorage, teamIndex: TeamIndex? = nil) {
        self.storage = storage
        self.teamIndex = teamIndex
    }

    /// Matching events after `q.afterSeq`, up to the head seen on arrival.
    public func audit(_ q: AuditQuery, head: UInt64) throws -> JSONObject {
        let page = try auditPage(q, head: head)
        let events: [JSON] = try page.events.map {
            guard let e = try? JSONParser.parse($0) else { throw Rejection(.integrity, "an event is unreadable") }
            return e
        }
        return ["events": .array(events), "next_after_seq": page.nextAfterSeq.map { .int($0) } ?? .null]
    }

    /// `audit`'s page with the events as stored. A query with no filter passes the stored
    /// bytes through unparsed (an export reads the whole log this way); a filter parses each
    /// event to match it, and still answers the stored bytes.
    public func auditPage(_ q: AuditQuery, head: UInt64) throws -> EventsPage {
        var events: [[UInt8]] = []
        var next = q.afterSeq
        if let from = q.from, next < head {
            // Event time never decreases: skip what is before `from` without reading it.
            next = try firstSeq(atOrAfter: from, after: next, head: head) - 1
        }
        let unfiltered =
            q.from == nil && q.to == nil && q.types == nil && q.team == nil && q.pod == nil && q.model == nil
            && q.task == nil && q.user == nil
        var scanned = 0
        var reachedEnd = next >= head
        scan: while !reachedEnd {
            var limit = LogReader.chunk
            if let team = q.team, let index = teamIndex, let from = index(team, next + 1) {
                // Skip the blocks that hold nothing of the team; read at most to a block's end.
                if from > head {
                    next = head
                    reachedEnd = true
                    break scan
                }
                next = max(next, from - 1)
                let block = LogReader.teamIndexBlock
                limit = Int(min(UInt64(limit), block - (next % block)))
            }
            let chunk = try storage.events(from: next + 1, limit: limit)
            if chunk.isEmpty { break }
            for stored in chunk {
                if stored.seq > head {
                    reachedEnd = true
                    break scan
                }
                if unfiltered {
                    // Not parsed: at least an object on one line, so the answer stays framed.
                    guard LogReader.isFramedObject(stored.bytes) else {
                        throw Rejection(.integrity, "event \(stored.seq) is unreadable", seq: stored.seq)
                    }
                    next = stored.seq
                    scanned += 1
                    events.append(stored.bytes)
                    if events.count == q.limit { break scan }
                } else {
                    guard case .object(let o)? = try? JSONParser.parse(stored.bytes) else {
                        throw Rejection(.integrity, "event \(stored.seq) is unreadable", seq: stored.seq)
                    }
                    next = stored.seq
                    scanned += 1
                    if let to = q.to, let ts = o["ts"]?.stringValue.flatMap(Instant.init(rfc3339:)), ts >= to {
                        // Event time never decreases: nothing after this can match.
                        reachedEnd = true
                        break scan
                    }
                    if matches(o, q) {
                        events.append(stored.bytes)
                        if events.count == q.limit { break scan }
                    }
                }
                if next >= head {
                    reachedEnd = true
                    break scan
                }
                if scanned >= auditScanMax { break scan }
            }
        }
        if next >= head { reachedEnd = true }
        return EventsPage(events: events, nextAfterSeq: reachedEnd ? nil : next)
    }

    /// `{…}` with no control byte: RFC 8785 escapes them all, so a stored event that is not this
    /// is damaged, and copied into an answer it could break the line.
    static func isFramedObject(_ b: [UInt8]) -> Bool {
        guard b.count >= 2, b[0] == UInt8(ascii: "{"), b[b.count - 1] == UInt8(ascii: "}") else { return false }
        return b.withUnsafeBufferPointer { p in
            for c in p where c < 0x20 { return false }
            return true
        }
    }

    /// The first seq in (after, head] whose `ts` is at or after `from`, or head + 1 when none is:
    /// a binary search over the events, one short read per probe (about log2(head - after)).
    func firstSeq(atOrAfter from: Instant, after: UInt64, head: UInt64) throws -> UInt64 {
        var low = after + 1  // the answer is in [low, high]
        var high = head + 1
        while low < high {
            let mid = low + (high - low) / 2
            if try ts(of: mid) >= from { high = mid } else { low = mid + 1 }
        }
        assert(low > after && low <= head + 1)
        return low
    }

    private func ts(of seq: UInt64) throws -> Instant {
        guard let stored = try storage.events(from: seq, limit: 1).first, stored.seq == seq,
            case .object(let o)? = try? JSONParser.parse(stored.bytes),
            let ts = o["ts"]?.stringValue.flatMap(Instant.init(rfc3339:))
        else { throw Rejection(.integrity, "event \(seq) is unreadable", seq: seq) }
        return ts
    }

    private func matches(_ o: JSONObject, _ q: AuditQuery) -> Bool {
        func field(_ name: String, _ want: ID?) -> Bool {
            guard let want else { return true }
            guard case .string(let s)? = o[name] else { return false }
            return ID(trusted: s) == want
        }
        if let types = q.types {
            guard case .string(let t)? = o["type"], types.contains(t) else { return false }
        }
        if let from = q.from {
            guard let ts = o["ts"]?.stringValue.flatMap(Instant.init(rfc3339:)), ts >= from else { return false }
        }
        return field("team", q.team) && field("pod", q.pod) && field("model", q.model) && field("task", q.task)
            && field("user", q.user)
    }

    /// Re-derives the hash chain over `[from, to]` (inclusive; defaults: the whole log).
    public func verify(fromSeq: UInt64?, toSeq: UInt64?, head: LogHead) throws -> JSONObject {
        let from = fromSeq ?? 1
        let to = toSeq ?? head.seq
        if head.seq == 0 && fromSeq == nil && toSeq == nil {
            return ["checked": .int(0), "head_seq": .int(0), "head_hash": .string(HashChain.hex(HashChain.genesis))]
        }
        guard from >= 1, from <= head.seq else {
            throw Rejection.notFound("seq \(from) is not in the log (head \(head.seq))")
        }
        guard to >= from, to <= head.seq else {
            throw Rejection.notFound("seq \(to) is not in the log (head \(head.seq))")
        }
        var prev = HashChain.genesis
        if from > 1 {
            // Start from the stored hash of the event before: verifying a range trusts its left edge.
            guard let before = try storage.events(from: from - 1, limit: 1).first, before.seq == from - 1,
                case .object(let o)? = try? JSONParser.parse(before.bytes),
                let hex = o["hash"]?.stringValue, let h = HashChain.unhex(hex), h.count == 32
            else { throw Rejection(.integrity, "event \(from - 1) is unreadable", seq: from - 1) }
            prev = h
        }
        var seq = from
        var checked: Int64 = 0
        while seq <= to {
            let chunk = try storage.events(from: seq, limit: Int(min(UInt64(LogReader.chunk), to - seq + 1)))
            guard !chunk.isEmpty else { throw Rejection(.integrity, "event \(seq) is missing", seq: seq) }
            for stored in chunk {
                do {
                    prev = try HashChain.check(line: stored.bytes, previous: prev, expectedSeq: seq).hash
                } catch {
                    throw Rejection(.integrity, "event \(seq) fails its hash check: \(error)", seq: seq)
                }
                seq += 1
                checked += 1
            }
        }
        if to == head.seq && prev != head.hash {
            throw Rejection(.integrity, "the chain does not end at the head hash", seq: to)
        }
        return ["checked": .int(checked), "head_seq": .int(to), "head_hash": .string(HashChain.hex(prev))]
    }
}
