import LedgerCore
import LedgerJSON
import LedgerProtocol
import Testing

@testable import LedgerStore

/// Generated money histories (seeded; every message names its seed, and `check(seed:kind:)`
/// replays one): holds, commits, releases, reversals of everything reversible, bonuses that
/// expire (at random instants, at local midnights, at cycle starts), `record:true` consumes,
/// plan and budget changes, and the clock moved across midnights and cycle starts.
///
/// Tokens are conserved. Every term is derived from the log's events alone (`Shadow`), with no
/// help from `LedgerState`, then compared with the engine's state. For each limited team:
///
///     available = credits − creditsReversed − consumed + consumptionReversed
///                 − held − lapsed − expired + overdraft
///
/// - credits: Σ `cycle_started.allowance` (≥ 0) + Σ `topup.amount` + Σ `bonus_granted.amount`,
///   each in full: the part that repaid an overdraft shows up as a smaller `overdraft`.
/// - creditsReversed: Σ `reversed.amount` of reversals of a `topup` / `bonus_granted`.
/// - consumed: Σ `cost` of `consumed` and `hold_committed`.
/// - consumptionReversed: Σ `reversed.amount` of reversals of a `consumed` / `hold_committed`
///   (its overdraft part either lowers `overdraft` or, where already repaid, comes back as the
///   top-up bucket named by the reversal's seq — both inside the formula).
/// - held: Σ `hold_placed.amount` of the holds not yet committed, released or expired.
/// - lapsed: Σ `cycle_started.lapsed` + Σ `reversed.lapsed` + escrow that went back (on release,
///   expiry, or the unused part of a commit) to a bucket no longer spendable at that event's ts.
/// - expired: Σ `bonus_expired.amount`.
/// - overdraft: Σ overdraft parts of `consumed`/`hold_committed`, less what each credit repaid
///   (min(overdraft, credit)), less what reversals took back (min(overdraft, overdraft part)).
///
/// And per bucket (named by its crediting seq): credit − repaid − draws (consumes, escrow,
/// commits beyond their escrow) + escrow returned + restored − reversed − expired equals the
/// state's bucket, for every bucket with tokens, limited or not.
@Suite struct MoneyPropertyTests {
    @Test(arguments: UInt64(1)...150)
    func generatedMoneyHistory_conservesTokensPerTeamAndBucket_andReplaysExactly(seed: UInt64) throws {
        try Self.check(seed: seed, kind: .memory)
    }

    @Test(arguments: UInt64(7001)...7003)
    func generatedMoneyHistory_onLMDB_conservesTokensAndReplaysExactly(seed: UInt64) throws {
        try Self.check(seed: seed, kind: .lmdb)
    }

    /// Runs one seed; call it directly to replay a failure.
    static func check(seed: UInt64, kind: StorageKind) throws {
        var config = EngineConfig()
        config.keyRetentionDays = 100_000
        let h = try EngineHarness(kind, config: config)
        var gen = MoneyHistoryGenerator(seed: seed)
        var issues = 0
        func expect(_ ok: Bool, _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) {
            guard !ok else { return }
            issues += 1
            if issues <= 8 { Issue.record("seed \(seed) (\(kind)): \(what())", sourceLocation: sourceLocation) }
        }

        for line in MoneyHistoryGenerator.preamble {
            let a = h.one(line)
            expect(a.code == nil, "preamble \(line) → \(a)")
        }
        var originals: [(line: String, seq: UInt64, cost: Int64?)] = []
        let commands = gen.int(60...180)
        var sent = 0
        var batch = 0
        while sent < commands {
            let size = min(gen.int(1...6), commands - sent)
            var lines: [(op: String, line: String)] = []
            var now = h.clock.now()
            for _ in 0..<size { lines.append(gen.nextLine(state: h.engine.state, now: &now)) }
            sent += size
            batch += 1
            let answers = h.engine.execute(lines.map { parsed($0.line) })
            for ((op, line), answer) in zip(lines, answers) {
                let at = "batch \(batch): \(line) → \(answer)"
                for f in negativeFigures(answer) { expect(false, "\(f) is below 0 at \(at)") }
                expect(answer.code != .internal && answer.code != .unavailable, "unexpected error at \(at)")
                expect(
                    answer.code != .conflict && answer.object?["duplicate"] == nil, "fresh key seen as used at \(at)")
                let limitCodes: [ErrorCode] = [.insufficientTokens, .dailyLimitExceeded, .budgetExceeded]
                if op == "hold.commit" || line.contains(#""record":true"#), let code = answer.code {
                    expect(!limitCodes.contains(code), "a limit refused a commit or record:true at \(at)")
                }
                guard answer.code == nil, let seq = answer.seq else { continue }
                gen.learn(op: op, seq: seq)
                if line.contains(#""key""#) { originals.append((line, seq, answer.int("cost"))) }
            }
            expect(try h.storage.head().hash == h.engine.headHash, "batch \(batch): stored head hash differs")
            for n in negativeCounters(h.engine.state) { expect(false, "batch \(batch): \(n) is below 0") }
            if issues > 0 { return }
        }

        // Replay: by hand and through a fresh engine on the same storage.
        try h.expectReplayMatches("seed \(seed) (\(kind)):")

        // Conservation, from the log alone.
        var shadow = Shadow()
        for e in try h.storedEvents() {
            shadow.apply(e) { expect(false, "seq \(e.seq) (\(e.body.type)): \($0)") }
        }
        for (team, s) in shadow.teams.sorted(by: { $0.key < $1.key }) {
            guard let t = h.engine.state.teams[team] else {
                expect(false, "team \(team) in the log, not in the state")
                continue
            }
            let stateBuckets = Dictionary(
                uniqueKeysWithValues: t.buckets.filter { $0.amount != 0 }.map { ($0.seq, $0.amount) })
            let shadowBuckets = s.buckets.filter { $0.value.amount != 0 }.mapValues(\.amount)
            expect(
                stateBuckets == shadowBuckets,
                "team \(team): buckets \(stateBuckets.sorted { $0.key < $1.key }) ≠ from the log \(shadowBuckets.sorted { $0.key < $1.key })"
            )
            expect(t.buckets.allSatisfy { $0.amount >= 0 }, "team \(team): a negative bucket \(t.buckets)")
            expect(t.held == s.held, "team \(team): held \(t.held) ≠ from the log \(s.held)")
            if s.unlimited {
                expect(
                    t.available == -1 && t.overdraft == 0, "team \(team): unlimited shows \(t.available)/\(t.overdraft)"
                )
                continue
            }
            expect(t.overdraft == s.overdraft, "team \(team): overdraft \(t.overdraft) ≠ from the log \(s.overdraft)")
            let formula =
                s.credits - s.creditsReversed - s.consumed + s.consumptionReversed - s.held - s.lapsed - s.expired
                + s.overdraft
            expect(
                t.available == formula,
                "team \(team): available \(t.available) ≠ credits \(s.credits) − creditsReversed \(s.creditsReversed) − consumed \(s.consumed) + consumptionReversed \(s.consumptionReversed) − held \(s.held) − lapsed \(s.lapsed) − expired \(s.expired) + overdraft \(s.overdraft) = \(formula)"
            )
        }

        // Every accepted keyed request sent again: duplicate, original seq (and cost), nothing appended.
        let head = h.engine.state.head
        let state = h.engine.state
        var start = 0
        while start < originals.count {
            let slice = originals[start..<min(start + gen.int(1...12), originals.count)]
            start += slice.count
            let answers = h.engine.execute(slice.map { parsed($0.line) })
            for (o, a) in zip(slice, answers) {
                expect(a.object?["duplicate"] == .bool(true) && a.seq == o.seq, "repeat of \(o.line) → \(a)")
                if let cost = o.cost { expect(a.int("cost") == cost, "repeat of \(o.line): cost \(a)") }
            }
        }
        expect(h.engine.state.head == head && h.engine.state == state, "repeats changed the ledger")
    }
}

/// Every counter of the write side that must never go below 0 (PROTOCOL §5: a reversal after a
/// manual `reset` lowers a counter to 0 and no further), named where it is.
func negativeCounters(_ s: LedgerState) -> [String] {
    var out: [String] = []
    func check(_ v: Int64, _ name: @autoclosure () -> String) { if v < 0 { out.append("\(name()) = \(v)") } }
    for (id, t) in s.teams.sorted(by: { $0.key < $1.key }) {
        check(t.consumedToday, "team \(id) consumed_today")
        check(t.budget.used, "team \(id) budget used")
        check(t.budget.held, "team \(id) held")
        check(t.overdraft, "team \(id) overdraft")
        for b in t.buckets { check(b.amount, "team \(id) bucket \(b.seq)") }
        for (u, x) in t.users {
            check(x.consumedToday, "user \(id)/\(u) consumed_today")
            check(x.consumedCycle, "user \(id)/\(u) consumed_cycle")
            check(x.held, "user \(id)/\(u) held")
            if x.allocation != -1 { check(x.allocationLeft, "user \(id)/\(u) allocation_left") }
        }
        for (p, x) in t.pods {
            check(x.budget.used, "pod \(id)/\(p) used")
            check(x.budget.held, "pod \(id)/\(p) held")
        }
    }
    for (seq, h) in s.holds { check(h.amount, "hold \(seq)") }
    return out
}

/// The figures of an answer that are counts (never below 0; `-1` is "unlimited" only where a
/// limit may be unlimited).
func negativeFigures(_ answer: EngineAnswer) -> [String] {
    guard let o = answer.object else { return [] }
    var out: [String] = []
    let counts = ["consumed_today", "consumed_cycle", "budget_used", "held", "overdraft", "cost", "amount", "released"]
    let limits = ["available", "allocation_left", "daily_limit", "monthly_budget"]
    func scan(_ o: JSONObject, _ prefix: String) {
        for name in counts {
            if let v = o[name]?.numberValue?.int64, v < 0 { out.append("\(prefix)\(name) \(v)") }
        }
        for name in limits {
            if let v = o[name]?.numberValue?.int64, v < -1 { out.append("\(prefix)\(name) \(v)") }
        }
    }
    scan(o, "")
    if let u = o["user"]?.objectValue { scan(u, "user.") }
    return out
}

// MARK: - The log, folded by hand

/// Token bookkeeping derived from events alone (see the suite's comment for the formula).
struct Shadow {
    struct Bucket {
        var amount: Int64
        var expiresAt: Instant?
        var allowance: Bool
        var bonus: Bool
    }

    struct Team {
        var unlimited = false
        var buckets: [UInt64: Bucket] = [:]
        var overdraft: Int64 = 0
        var credits: Int64 = 0
        var creditsReversed: Int64 = 0
        var consumed: Int64 = 0
        var consumptionReversed: Int64 = 0
        var held: Int64 = 0
        var lapsed: Int64 = 0
        var expired: Int64 = 0

        func live(_ seq: UInt64, at ts: Instant) -> Bool {
            guard let b = buckets[seq] else { return false }
            return b.expiresAt.map { ts < $0 } ?? true
        }

        mutating func credit(_ seq: UInt64, _ amount: Int64, expiresAt: Instant?, allowance: Bool, bonus: Bool) {
            credits += amount
            let repay = min(overdraft, amount)
            overdraft -= repay
            buckets[seq] = Bucket(amount: amount - repay, expiresAt: expiresAt, allowance: allowance, bonus: bonus)
        }
    }

    struct Hold {
        var team: ID
        var amount: Int64
        var draws: [Draw]
    }

    var teams: [ID: Team] = [:]
    var holds: [UInt64: Hold] = [:]
    var events: [UInt64: EventBody] = [:]
    var reversed: Set<UInt64> = []

    mutating func apply(_ e: Event, issue: (String) -> Void) {
        events[e.seq] = e.body
        // An unspent bonus never outlives its expiry: `bonus_expired` comes at that instant.
        for (id, t) in teams {
            for (seq, b) in t.buckets where b.bonus && b.amount > 0 && b.expiresAt.map({ $0 < e.ts }) == true {
                issue("team \(id): bonus \(seq) still has \(b.amount) after its expiry \(b.expiresAt!)")
            }
        }
        switch e.body {
        case .teamCreated(let team, _, _, _, _):
            teams[team] = Team()
        case .cycleStarted(let team, _, let allowance, let start, let end, let lapsed):
            var t = teams[team]!
            let unused = t.buckets.values.filter(\.allowance).reduce(0) { $0 + $1.amount }
            if lapsed != unused { issue("lapsed \(lapsed), but the allowance buckets hold \(unused)") }
            for (seq, b) in t.buckets where !b.allowance && b.amount != 0 && b.expiresAt.map({ $0 <= start }) == true {
                issue("bucket \(seq) vanished at the cycle start with \(b.amount)")
            }
            t.buckets = t.buckets.filter { !$0.value.allowance && !($0.value.expiresAt.map { $0 <= start } ?? false) }
            t.lapsed += lapsed
            t.unlimited = allowance == -1
            if allowance == -1 {
                t.overdraft = 0
            } else if allowance > 0 {
                t.credit(e.seq, allowance, expiresAt: end, allowance: true, bonus: false)
            }
            teams[team] = t
        case .topup(let team, let amount, _):
            teams[team]!.credit(e.seq, amount, expiresAt: nil, allowance: false, bonus: false)
        case .bonusGranted(let team, let amount, _, let expiresAt):
            if let x = expiresAt, x <= e.ts { issue("a bonus granted already expired") }
            teams[team]!.credit(e.seq, amount, expiresAt: expiresAt, allowance: false, bonus: true)
        case .bonusExpired(let team, let bonusSeq, let amount):
            var t = teams[team]!
            let b = t.buckets[bonusSeq]
            if b?.amount != amount || b?.expiresAt != e.ts || amount <= 0 {
                issue("bonus_expired \(amount) at \(e.ts), the bucket is \(String(describing: b))")
            }
            t.expired += amount
            t.buckets[bonusSeq] = nil
            teams[team] = t
        case .consumed(let c):
            var t = teams[c.tags.team]!
            take(c.draws, from: &t, at: e.ts, issue: issue)
            let drawn = c.draws.reduce(0) { $0 + $1.amount }
            if t.unlimited {
                if !c.draws.isEmpty || c.overdraft != 0 { issue("an unlimited pool drew") }
            } else if drawn + c.overdraft != c.cost {
                issue("draws \(drawn) + overdraft \(c.overdraft) ≠ cost \(c.cost)")
            }
            if !c.record && c.overdraft != 0 { issue("a checked consume overdrew") }
            if c.overdraft < 0 { issue("negative overdraft part") }
            t.consumed += c.cost
            t.overdraft += c.overdraft
            teams[c.tags.team] = t
        case .holdPlaced(let hp):
            var t = teams[hp.tags.team]!
            take(hp.draws, from: &t, at: e.ts, issue: issue)
            let drawn = hp.draws.reduce(0) { $0 + $1.amount }
            if t.unlimited ? !hp.draws.isEmpty : drawn != hp.amount { issue("escrow \(drawn) ≠ hold \(hp.amount)") }
            t.held += hp.amount
            holds[e.seq] = Hold(team: hp.tags.team, amount: hp.amount, draws: hp.draws)
            teams[hp.tags.team] = t
        case .holdCommitted(let c):
            guard let hold = holds.removeValue(forKey: c.holdSeq) else {
                issue("commit of hold \(c.holdSeq), which is not open")
                return
            }
            var t = teams[c.tags.team]!
            t.held -= hold.amount
            if c.released != hold.amount - min(c.cost, hold.amount) {
                issue("released \(c.released) for a hold of \(hold.amount) and a cost of \(c.cost)")
            }
            // The escrow comes back, then the cost is drawn; what went back to a bucket that is
            // no longer spendable and was not drawn again lapses.
            var goneBack: [UInt64: Int64] = [:]
            for d in hold.draws {
                if t.live(d.bucketSeq, at: e.ts) {
                    t.buckets[d.bucketSeq]!.amount += d.amount
                } else {
                    goneBack[d.bucketSeq, default: 0] += d.amount
                }
            }
            for d in c.draws {
                if t.live(d.bucketSeq, at: e.ts) {
                    t.buckets[d.bucketSeq]!.amount -= d.amount
                    if t.buckets[d.bucketSeq]!.amount < 0 { issue("bucket \(d.bucketSeq) below zero") }
                } else {
                    goneBack[d.bucketSeq, default: 0] -= d.amount
                    if goneBack[d.bucketSeq]! < 0 {
                        issue("a commit drew \(d.amount) from gone bucket \(d.bucketSeq) beyond its escrow")
                    }
                }
            }
            t.lapsed += goneBack.values.reduce(0, +)
            let drawn = c.draws.reduce(0) { $0 + $1.amount }
            if t.unlimited {
                if !c.draws.isEmpty || c.overdraft != 0 { issue("an unlimited pool drew") }
            } else if drawn + c.overdraft != c.cost {
                issue("draws \(drawn) + overdraft \(c.overdraft) ≠ cost \(c.cost)")
            }
            t.consumed += c.cost
            t.overdraft += c.overdraft
            teams[c.tags.team] = t
        case .holdReleased(let holdSeq, let team, let released), .holdExpired(let holdSeq, let team, let released):
            guard let hold = holds.removeValue(forKey: holdSeq) else {
                issue("close of hold \(holdSeq), which is not open")
                return
            }
            var t = teams[team]!
            if released != hold.amount { issue("released \(released) of a hold of \(hold.amount)") }
            t.held -= hold.amount
            for d in hold.draws {
                if t.live(d.bucketSeq, at: e.ts) {
                    t.buckets[d.bucketSeq]!.amount += d.amount
                } else {
                    t.lapsed += d.amount
                }
            }
            teams[team] = t
        case .reversed(let r):
            if !reversed.insert(r.reversesSeq).inserted { issue("seq \(r.reversesSeq) reversed twice") }
            var t = teams[r.team]!
            switch events[r.reversesSeq] {
            case .consumed(let c)?:
                reverseConsumption(
                    r, cost: c.cost, draws: c.draws, overdraft: c.overdraft, into: &t, seq: e.seq, at: e.ts,
                    issue: issue)
            case .holdCommitted(let c)?:
                reverseConsumption(
                    r, cost: c.cost, draws: c.draws, overdraft: c.overdraft, into: &t, seq: e.seq, at: e.ts,
                    issue: issue)
            case .topup(_, let credited, _)?, .bonusGranted(_, let credited, _, _)?:
                if r.amount > credited || r.amount < 0 { issue("reversed \(r.amount) of a credit of \(credited)") }
                if !r.restored.isEmpty || r.lapsed != 0 { issue("a credit's reversal restored or lapsed") }
                t.creditsReversed += r.amount
                if t.buckets[r.reversesSeq] != nil {
                    t.buckets[r.reversesSeq]!.amount -= r.amount
                    if t.buckets[r.reversesSeq]!.amount < 0 { issue("reversal took more than the unspent part") }
                } else if r.amount != 0 {
                    issue("reversed \(r.amount) of a credit whose bucket is gone")
                }
            default:
                issue("reversed seq \(r.reversesSeq), a \(events[r.reversesSeq]?.type ?? "missing") event")
            }
            teams[r.team] = t
        default:
            break
        }
    }

    private func take(_ draws: [Draw], from t: inout Team, at ts: Instant, issue: (String) -> Void) {
        for d in draws {
            if d.amount <= 0 { issue("an empty draw on \(d.bucketSeq)") }
            guard t.live(d.bucketSeq, at: ts) else {
                issue("a draw of \(d.amount) on bucket \(d.bucketSeq), not spendable at \(ts)")
                continue
            }
            t.buckets[d.bucketSeq]!.amount -= d.amount
            if t.buckets[d.bucketSeq]!.amount < 0 { issue("bucket \(d.bucketSeq) below zero") }
        }
    }

    private func reverseConsumption(
        _ r: Reversal, cost: Int64, draws: [Draw], overdraft: Int64, into t: inout Team, seq: UInt64, at ts: Instant,
        issue: (String) -> Void
    ) {
        if r.amount > cost || r.amount < 0 { issue("reversed \(r.amount) of a cost of \(cost)") }
        let overdraftPart = min(r.amount, overdraft)
        if let o = r.origin, o.overdraft != overdraftPart {
            issue("origin overdraft \(o.overdraft) ≠ \(overdraftPart)")
        }
        let restored = r.restored.reduce(0) { $0 + $1.amount }
        // An unlimited pool drew nothing: its consumption's reversal has nothing to give back.
        let backed = min(r.amount, draws.reduce(0) { $0 + $1.amount } + overdraft)
        if restored + r.lapsed + overdraftPart != backed {
            issue(
                "restored \(restored) + lapsed \(r.lapsed) + overdraft part \(overdraftPart) ≠ \(backed) of \(r.amount)"
            )
        }
        t.consumptionReversed += r.amount
        for d in r.restored {
            if t.live(d.bucketSeq, at: ts) {
                t.buckets[d.bucketSeq]!.amount += d.amount
            } else {
                issue("restored to gone bucket \(d.bucketSeq)")
            }
        }
        t.lapsed += r.lapsed
        let reduce = min(t.overdraft, overdraftPart)
        t.overdraft -= reduce
        if overdraftPart > reduce {
            t.buckets[seq] = Bucket(amount: overdraftPart - reduce, expiresAt: nil, allowance: false, bonus: false)
        }
    }
}

// MARK: - Generator

/// Money requests against four teams (UTC, Madrid, New York; one unlimited), with targets
/// (holds to commit, seqs to reverse) learnt from earlier answers and instants chosen to fall
/// exactly on midnights, cycle starts and expiries.
struct MoneyHistoryGenerator {
    var rng: SplitMix64
    var keys = 0
    var ids = 0
    var holds: [UInt64] = []
    var reversible: [UInt64] = []

    init(seed: UInt64) { rng = SplitMix64(state: seed &* 0x2545_F491_4F6C_DD1D) }

    static let teams = ["m0", "m1", "m2", "m3"]
    static let users = ["u0", "u1"]
    static let pods = ["p0", "p1"]

    static let preamble: [String] = {
        var lines = [
            #"{"op":"plan.define","plan":"tiny2","monthly_tokens":3000,"max_pods":3,"max_members":3}"#,
            #"{"op":"plan.define","plan":"mid","monthly_tokens":8000,"max_pods":3,"max_members":3}"#,
            #"{"op":"price.set","model":"gpt","kind":"text","input_weight":1.5,"output_weight":3}"#,
            #"{"op":"team.create","team":"m0","plan":"tiny2"}"#,
            #"{"op":"team.create","team":"m1","plan":"mid","timezone":"Europe/Madrid","daily_limit":6000}"#,
            #"{"op":"team.create","team":"m2","plan":"tiny2","timezone":"America/New_York"}"#,
            #"{"op":"team.create","team":"m3","plan":"enterprise"}"#,
        ]
        for t in teams {
            for u in users { lines.append(#"{"op":"user.add","team":"\#(t)","user":"\#(u)"}"#) }
            for p in pods { lines.append(#"{"op":"pod.create","team":"\#(t)","pod":"\#(p)"}"#) }
        }
        return lines
    }()

    mutating func int(_ r: ClosedRange<Int>) -> Int {
        r.lowerBound + Int(rng.next() % UInt64(r.upperBound - r.lowerBound + 1))
    }
    mutating func int64(_ r: ClosedRange<Int64>) -> Int64 { Int64(int(Int(r.lowerBound)...Int(r.upperBound))) }
    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }

    mutating func learn(op: String, seq: UInt64) {
        switch op {
        case "hold": holds.append(seq)
        case "consume", "topup", "bonus.grant", "hold.commit": reversible.append(seq)
        default: break
        }
    }

    private mutating func key() -> JSON {
        keys += 1
        return .string("mk\(keys)")
    }

    /// An instant after `now` on which something is due, or a plain later one.
    private mutating func dueInstant(_ state: LedgerState, team: TeamState, now: Instant) -> Instant {
        var options = [team.cycleEnd, team.zone.nextDayStart(after: now)]
        options += state.holds.values.map(\.expiresAt)
        options += team.buckets.compactMap(\.expiresAt)
        options = options.filter { $0 > now }
        return options.isEmpty ? now.adding(seconds: Int64(int(1...86_400))) : pick(options)
    }

    mutating func nextLine(state: LedgerState, now: inout Instant) -> (op: String, line: String) {
        ids += 1
        let teamName = pick(Self.teams)
        let team = state.teams[ID(teamName)!]!
        var o: JSONObject = ["id": .int(ids), "team": .string(teamName)]
        func usageTags(_ o: inout JSONObject) {
            o["user"] = .string(pick(Self.users))
            o["model"] = .string("gpt")
            if chance(40) {
                o["pod"] = .string(pick(Self.pods))
                if chance(60) { o["task"] = .string("task\(int(0...3))") }
            } else if chance(25) {
                o["task"] = .string("task\(int(0...3))")  // a task of the team: no pod
            }
        }
        let op: String
        switch int(0...99) {
        case 0..<9:
            op = "topup"
            o["amount"] = .int(pick([0, int64(1...300), int64(1...3000)]))
            o["key"] = key()
        case 9..<19:
            op = "bonus.grant"
            o["amount"] = .int(pick([int64(1...500), int64(1...4000)]))
            o["reason"] = .string(pick(["gift", "referral", "event", "loyalty", "other"]))
            if chance(80) {
                let x =
                    chance(50)
                    ? dueInstant(state, team: team, now: now) : now.adding(seconds: Int64(int(1...1_500_000)))
                o["expires_at"] = .string(x.rfc3339)
            }
            o["key"] = key()
        case 19..<44:
            // Now and then a `check` of the same usage: its answer (written as bytes) meets every limit.
            op = chance(12) ? "check" : "consume"
            usageTags(&o)
            if chance(80) {
                o["cost"] = .int(pick([0, int64(1...200), int64(1...2500), int64(2000...9000)]))
            } else {
                o["input_tokens"] = .int(int64(0...800))
                o["output_tokens"] = .int(int64(0...300))
            }
            if op == "consume" {
                if chance(20) { o["record"] = .bool(true) }
                o["key"] = key()
            }
        case 44..<57:
            op = "hold"
            usageTags(&o)
            if chance(85) {
                o["amount"] = .int(pick([0, int64(1...300), int64(1...3000)]))
            } else {
                o["input_tokens"] = .int(int64(0...500))
            }
            if chance(50) {
                let due = dueInstant(state, team: team, now: now)
                let seconds = (due.ms - now.ms) / 1000
                if (due.ms - now.ms) % 1000 == 0 && seconds >= 1 && seconds <= 30 * 86_400 {
                    o["ttl_seconds"] = .int(seconds)
                }
            } else if chance(50) {
                o["ttl_seconds"] = .int(int64(1...300_000))
            }
            o["key"] = key()
        case 57..<67:
            op = "hold.commit"
            o = ["id": .int(ids)]
            let open = state.holds.keys.sorted()
            let target = !open.isEmpty && chance(80) ? pick(open) : (holds.isEmpty ? 1 : pick(holds))
            o["hold"] = .int(Int64(target))
            switch int(0...3) {
            case 0: break
            case 1: o["input_tokens"] = .int(int64(0...900))
            default: o["cost"] = .int(pick([0, int64(1...400), int64(1...5000)]))
            }
            o["key"] = key()
        case 67..<72:
            op = "hold.release"
            o = ["id": .int(ids)]
            let open = state.holds.keys.sorted()
            o["hold"] = .int(Int64(!open.isEmpty && chance(80) ? pick(open) : (holds.isEmpty ? 1 : pick(holds))))
        case 72..<80:
            op = "reverse"
            o = ["id": .int(ids)]
            let target = reversible.isEmpty || chance(10) ? UInt64(int(1...Int(max(1, state.head)))) : pick(reversible)
            o["seq"] = .int(Int64(target))
            o["reason"] = .string("r")
            if chance(50) { o["amount"] = .int(pick([0, int64(1...100), int64(1...3000)])) }
            o["key"] = key()
        case 80..<84:
            op = "team.configure"
            if chance(40) { o["daily_limit"] = .int(pick([-1, 2000, 20_000])) }
            if chance(50) {
                o["monthly_budget"] = .int(pick([-1, 3000, 10_000, 40_000]))
                o["budget_action"] = .string(pick(["alert", "pause", "block_new_tasks"]))
            }
            if teamName != "m3" && chance(40) { o["plan"] = .string(pick(["tiny2", "mid", "solo"])) }
            if o.count == 2 || chance(20) {
                o["alert_at"] = .array(pick([[.int(50), .int(100)], [.int(80), .int(150)], [.int(1000), .int(90)]]))
            }
        case 84..<86:
            op = "user.assign"
            o["user"] = .string(pick(Self.users))
            o["amount"] = .int(pick([-1, 500, 3000]))
        case 86..<90:
            // Manual resets of the team or one user, then reversals of what they zeroed: no
            // counter may go below 0.
            op = chance(80) ? "reset" : "team.resume"
            if op == "reset" && chance(50) { o["user"] = .string(pick(Self.users)) }
        default:
            o = ["id": .int(ids)]
            if chance(45) {
                op = "clock.set"
                let target = dueInstant(state, team: team, now: now)
                o["at"] = .string(target.rfc3339)
                now = target
            } else {
                op = "clock.advance"
                let seconds: Int64
                switch int(0...9) {
                case 0..<4: seconds = int64(1...7200)
                case 4..<8: seconds = int64(7200...200_000)
                default: seconds = 86_400 * int64(5...35)
                }
                o["seconds"] = .int(seconds)
                now = now.adding(seconds: seconds)
            }
        }
        o["op"] = .string(op)
        return (op, CanonicalJSON.string(.object(o)))
    }
}
