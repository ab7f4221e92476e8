import Foundation
import LMDB
import LedgerCore
import LedgerStore

/// An event reduced to numbers for a bulk fold: ids are the interner's (0: absent).
struct CompactFact: Sendable {
    var seq: UInt64 = 0
    var kind: FactKind = .other
    var uncountCycle = false
    var team: UInt32 = 0
    var user: UInt32 = 0
    var pod: UInt32 = 0
    var task: UInt32 = 0
    var model: UInt32 = 0
    var operation: UInt32 = 0
    var day: UInt32 = 0
    var cost: Int64 = 0
    var inputTokens: Int64 = 0
    var outputTokens: Int64 = 0
    var amount: Int64 = 0
    var reversesSeq: UInt64 = 0
}

extension CompactFact {
    /// The event's facts in ids; `generic` gets the full facts of the events `Folder` folds.
    static func scan(
        _ b: UnsafeBufferPointer<UInt8>, seq: UInt64, ids: inout ByteInterner, generic: inout EventFacts?
    ) throws(FactsError) -> CompactFact {
        var r = RawFacts()
        switch FactScanner.scanRaw(b, into: &r) {
        case .scanned:
            var c = CompactFact()
            c.seq = seq
            c.kind = r.kind
            c.team = id(r.team, b, &ids)
            if r.kind.isUsage {
                c.user = id(r.user, b, &ids)
                c.pod = id(r.pod, b, &ids)
                c.task = id(r.task, b, &ids)
                c.model = id(r.model, b, &ids)
                c.operation = id(r.operation, b, &ids)
                c.day = id(r.day, b, &ids)
            }
            c.cost = r.cost
            c.inputTokens = r.inputTokens
            c.outputTokens = r.outputTokens
            c.amount = r.amount
            c.reversesSeq = r.reversesSeq
            c.uncountCycle = r.uncountCycle
            if BulkFold.isGeneric(r.kind) {
                var f = r.facts(b)
                f.seq = seq
                generic = f
            }
            return c
        case .needsParser:
            let f = try FactScanner.slow(Array(b), seq: seq)
            if BulkFold.isGeneric(f.kind) { generic = f }
            return CompactFact(f, ids: &ids)
        case .malformed:
            throw FactsError(seq: seq)
        }
    }

    @inline(__always)
    private static func id(_ r: Range<Int>?, _ b: UnsafeBufferPointer<UInt8>, _ ids: inout ByteInterner) -> UInt32 {
        guard let r else { return 0 }
        return ids.intern(UnsafeBufferPointer(rebasing: b[r]))
    }

    init(_ f: EventFacts, ids: inout ByteInterner) {
        func id(_ v: [UInt8]?) -> UInt32 { v.map { ids.intern($0) } ?? 0 }
        var c = CompactFact()
        c.seq = f.seq
        c.kind = f.kind
        c.team = id(f.team)
        if f.kind.isUsage {
            c.user = id(f.user)
            c.pod = id(f.pod)
            c.task = id(f.task)
            c.model = id(f.model)
            c.operation = id(f.operation)
            c.day = id(f.day)
        }
        c.cost = f.cost
        c.inputTokens = f.inputTokens
        c.outputTokens = f.outputTokens
        c.amount = f.amount
        c.reversesSeq = f.reversesSeq
        c.uncountCycle = f.uncountCycle
        self = c
    }
}

/// One tally of a bulk fold: the usage of one team, day, user, pod, task, model and
/// operation. `flags` bit 0: it counts in `daily` and `reports`; bits 1…: the team's pods
/// epoch + 1 when it counts in `pods` (a cycle start bumps the epoch, which drops the tallies
/// of the old cycle from `pods`), else 0.
struct UsageKey: Hashable {
    var team: UInt32
    var day: UInt32
    var user: UInt32
    var pod: UInt32
    var task: UInt32
    var model: UInt32
    var operation: UInt32
    var flags: UInt32

    func hash(into h: inout Hasher) {
        h.combine(UInt64(team) << 32 | UInt64(day))
        h.combine(UInt64(user) << 32 | UInt64(pod))
        h.combine(UInt64(task) << 32 | UInt64(model))
        h.combine(UInt64(operation) << 32 | UInt64(flags))
    }

    var countsInDailyAndReports: Bool { flags & 1 != 0 }
    var podsEpoch: UInt32 { flags >> 1 }
}

/// A row of one read model in ids, before it becomes bytes.
struct CompactRow: Hashable {
    var a: UInt32
    var b: UInt32
    var c: UInt32
    var d: UInt32
}

/// The whole-log fold of a rebuild. Events are scanned in place inside the log's read
/// transaction, their ids interned, and each consumption counted once in a tally keyed by
/// all its dimensions; the rows of `daily`, `reports` and `pods` are derived from the tally
/// when it is written out, so that they are touched once per distinct row rather than once
/// per event. The rare events that configure pods and cycles go through `Folder` as in live
/// folding. The rows written are byte for byte those that live folding writes
/// (`ProjectionPropertyTests`).
public struct BulkFold {
    let names: [ProjectionName]
    let wantsDaily: Bool
    let wantsReports: Bool
    let wantsPods: Bool
    let wantsAudit: Bool
    var tally: [UsageKey: Counters] = [:]
    /// Per team id: how many cycles have started (the pods epoch).
    var epochs: [UInt32] = []
    var podsFolder = Folder(name: .pods)
    /// What `Folder` gathers for `pods` (configuration, cycle clears and first days).
    var podsDelta = RowDelta()
    /// (team, block) pairs seen, for `audit_teams`.
    var blocks = Set<CompactRow>()
    var lastBlock = CompactRow(a: 0, b: 0, c: 0, d: 0)
    /// Tallies before the fold is written out, to bound memory (about 100 bytes each).
    public static let tallyMax = 400_000
    let tallyMax: Int

    init(names: [ProjectionName], tallyMax: Int = BulkFold.tallyMax) {
        precondition(tallyMax > 0)
        self.names = names
        self.tallyMax = tallyMax
        wantsDaily = names.contains(.daily)
        wantsReports = names.contains(.reports)
        wantsPods = names.contains(.pods)
        wantsAudit = names.contains(.auditTeams)
    }

    var needsFlush: Bool { tally.count >= tallyMax || podsDelta.rows >= 200_000 }

    /// Kinds only `Folder` folds (for `pods`).
    static func isGeneric(_ k: FactKind) -> Bool {
        switch k {
        case .teamCreated, .cycleStarted, .podCreated, .podConfigured, .podArchived, .podResumed: true
        case .other, .consumed, .holdCommitted, .reversed: false
        }
    }

    // MARK: folding

    /// Folds one event; `original` is the event a `reversed` one reverses (nil when none).
    mutating func fold(_ f: CompactFact, original: CompactFact?, generic: EventFacts?) {
        if wantsAudit, f.team != 0 {
            let block = CompactRow(
                a: f.team, b: UInt32(truncatingIfNeeded: f.seq >> Rows.blockShift),
                c: UInt32(truncatingIfNeeded: f.seq >> (Rows.blockShift + 32)), d: 0)
            if block != lastBlock {
                blocks.insert(block)
                lastBlock = block
            }
        }
        switch f.kind {
        case .consumed, .holdCommitted:
            count(
                f, Counters(tokens: f.cost, input: f.inputTokens, output: f.outputTokens, events: 1),
                team: f.team, podsTeam: f.team)
        case .reversed:
            guard let o = original, o.kind.isUsage else { return }
            let c =
                f.amount >= o.cost
                ? Counters(tokens: -o.cost, input: -o.inputTokens, output: -o.outputTokens, events: -1)
                : Counters(tokens: -f.amount)
            count(o, c, team: o.team, podsTeam: f.uncountCycle ? f.team : 0)
        case .teamCreated, .cycleStarted, .podCreated, .podConfigured, .podArchived, .podResumed:
            guard wantsPods, let g = generic else { return }
            if f.kind == .cycleStarted, f.team != 0 {
                growEpochs(f.team)
                epochs[Int(f.team)] &+= 1
            }
            podsFolder.fold(g, original: nil, into: &podsDelta) { _ in nil }
        case .other:
            return
        }
    }

    private mutating func growEpochs(_ team: UInt32) {
        if epochs.count <= Int(team) {
            epochs.append(contentsOf: repeatElement(0, count: Int(team) + 1 - epochs.count))
        }
    }

    private func epoch(_ team: UInt32) -> UInt32 { Int(team) < epochs.count ? epochs[Int(team)] : 0 }

    /// Counts usage `u` (the event, or the original of a reversal) under `team` for `daily`
    /// and `reports`, and under `podsTeam` (0: not at all) for `pods`, as `Folder` would.
    private mutating func count(_ u: CompactFact, _ c: Counters, team: UInt32, podsTeam: UInt32) {
        let dr = (wantsDaily || wantsReports) && team != 0 && u.day != 0
        let pods = wantsPods && podsTeam != 0 && u.model != 0 && u.day != 0
        var key = UsageKey(
            team: team, day: u.day, user: u.user, pod: u.pod, task: u.task, model: u.model,
            operation: u.operation, flags: 0)
        if dr && pods && team == podsTeam {
            key.flags = 1 | (epoch(team) &+ 1) << 1
            tally[key, default: Counters()] += c
            return
        }
        if dr {
            key.flags = 1
            tally[key, default: Counters()] += c
        }
        if pods {
            key.team = podsTeam
            key.flags = (epoch(podsTeam) &+ 1) << 1
            tally[key, default: Counters()] += c
        }
    }

    // MARK: writing out

    /// The rows gathered since the last call, as one delta per name (in `names` order).
    mutating func takeDeltas(ids: borrowing ByteInterner) -> [RowDelta] {
        var daily: [CompactRow: Counters] = [:]
        var reports: [CompactRow: Counters] = [:]
        var pods: [CompactRow: Counters] = [:]
        let dims = ReportDimensionKey.allCases
        for (k, c) in tally {
            if k.countsInDailyAndReports {
                if wantsDaily {
                    daily[CompactRow(a: k.team, b: k.day, c: 0, d: 0), default: Counters()] += c
                    if k.user != 0 { daily[CompactRow(a: k.team, b: k.day, c: k.user, d: 0), default: Counters()] += c }
                }
                if wantsReports {
                    for dim in dims {
                        let key: UInt32 =
                            switch dim {
                            case .model: k.model
                            case .user: k.user
                            case .pod: k.pod
                            case .task: k.task
                            case .operation: k.operation
                            }
                        reports[
                            CompactRow(a: k.team, b: UInt32(dim.rawValue), c: k.day, d: key), default: Counters()] += c
                    }
                }
            }
            // Tallies of a cycle that has since ended were cleared with it.
            if k.podsEpoch != 0, k.podsEpoch == epoch(k.team) &+ 1 {
                for pod in k.pod == 0 ? [UInt32(0)] : [0, k.pod] {
                    pods[CompactRow(a: k.team, b: UInt32(UInt8(ascii: "u")), c: pod, d: 0), default: Counters()] += c
                    pods[
                        CompactRow(a: k.team, b: UInt32(UInt8(ascii: "m")), c: pod, d: k.model), default: Counters()] +=
                        c
                    pods[CompactRow(a: k.team, b: UInt32(UInt8(ascii: "d")), c: pod, d: k.day), default: Counters()] +=
                        c
                    if pod != 0, ids.length(pod) > 0, k.task != 0 {
                        pods[
                            CompactRow(a: k.team, b: UInt32(UInt8(ascii: "t")), c: pod, d: k.task), default: Counters()] +=
                            c
                    }
                }
            }
        }
        tally.removeAll(keepingCapacity: true)

        func bytes(_ id: UInt32) -> [UInt8] { id == 0 ? [] : Array(ids.bytes(id)) }
        func optional(_ id: UInt32) -> [UInt8]? { id == 0 ? nil : Array(ids.bytes(id)) }
        var out: [RowDelta] = []
        for name in names {
            var d = RowDelta()
            switch name {
            case .daily:
                for (r, c) in daily { d.add(team: bytes(r.a), Rows.daily(day: bytes(r.b), user: optional(r.c)), c) }
            case .reports:
                for (r, c) in reports {
                    let dim = ReportDimensionKey(rawValue: UInt8(r.b))!
                    d.add(team: bytes(r.a), Rows.report(dim, day: bytes(r.c), key: optional(r.d)), c)
                }
            case .pods:
                d = podsDelta
                podsDelta = RowDelta()
                for (r, c) in pods {
                    let pod = bytes(r.c)
                    let rest: [UInt8] =
                        switch UInt8(r.b) {
                        case UInt8(ascii: "u"): Rows.used(pod)
                        case UInt8(ascii: "m"): Rows.byModel(pod, bytes(r.d))
                        case UInt8(ascii: "d"): Rows.byDay(pod, bytes(r.d))
                        default: Rows.byTask(pod, bytes(r.d))
                        }
                    d.add(team: bytes(r.a), rest, c)
                }
            case .auditTeams:
                for r in blocks {
                    let block = UInt64(r.c) << 32 | UInt64(r.b)
                    d.set(team: bytes(r.a), Rows.block(block << Rows.blockShift), [])
                }
                blocks.removeAll(keepingCapacity: true)
                lastBlock = CompactRow(a: 0, b: 0, c: 0, d: 0)
            }
            out.append(d)
        }
        return out
    }
}

/// Events of one read transaction, scanned into ids, on their way to the fold.
struct BulkBatch: Sendable {
    var facts: [CompactFact] = []
    /// The full facts of the events `Folder` folds, by index in `facts`.
    var generic: [Int: EventFacts] = [:]
    /// The originals of reversals that are not in `facts`.
    var originals: [UInt64: CompactFact] = [:]
}

/// The interner, shared by the scanning thread (which adds ids) and the folding one (which
/// reads them back when it writes rows out).
final class SharedInterner: @unchecked Sendable {
    private let lock = NSLock()
    private var ids = ByteInterner(capacity: 4096)

    func withLock<R>(_ body: (inout ByteInterner) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&ids)
    }
}

/// A bounded queue of batches from the scanning thread to the folding one; `nil` ends it.
final class BulkChannel: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Result<BulkBatch?, any Error>] = []
    private var closed = false
    private let capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Waits for room; false when the folding side has gone (the scanner should stop).
    func put(_ item: Result<BulkBatch?, any Error>) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !closed { condition.wait() }
        if closed { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// The next batch; nil at the end; rethrows what the scanner ran into.
    func take() throws -> BulkBatch? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty { condition.wait() }
        let item = items.removeFirst()
        condition.broadcast()
        return try item.get()
    }

    /// The folding side is done (or failed): wakes and stops the scanner.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// The scanning half of a bulk fold: reads the log up to `head` a read transaction at a
/// time, scans each event in place into ids, and resolves the originals of reversals.
enum BulkScan {
    static func run(log: any LogStorage, head: UInt64, chunk: Int, ids: SharedInterner, into channel: BulkChannel) {
        var seq: UInt64 = 0
        do {
            while seq < head {
                var batch = BulkBatch()
                batch.facts.reserveCapacity(Int(min(UInt64(chunk), head - seq)))
                let from = seq + 1
                var expected = from
                try ids.withLock { ids in
                    try log.scanEvents(from: from, limit: Int(min(UInt64(chunk), head - seq))) { s, b in
                        guard s == expected else { throw FactsError(seq: expected) }
                        var g: EventFacts?
                        batch.facts.append(try CompactFact.scan(b, seq: s, ids: &ids, generic: &g))
                        if let g { batch.generic[batch.facts.count - 1] = g }
                        expected += 1
                    }
                }
                guard let last = batch.facts.last else { break }
                for f in batch.facts where f.kind == .reversed && f.reversesSeq > 0 {
                    let r = f.reversesSeq
                    if (r >= from && r < f.seq) || batch.originals[r] != nil { continue }
                    var found: CompactFact?
                    try ids.withLock { ids in
                        try log.scanEvents(from: r, limit: 1) { s, b in
                            guard s == r else { return }
                            var g: EventFacts?
                            found = try CompactFact.scan(b, seq: s, ids: &ids, generic: &g)
                        }
                    }
                    guard let found else { throw FactsError(seq: r) }
                    batch.originals[r] = found
                }
                seq = last.seq
                guard channel.put(.success(batch)) else { return }
            }
            _ = channel.put(.success(nil))
        } catch {
            _ = channel.put(.failure(error))
        }
    }
}
