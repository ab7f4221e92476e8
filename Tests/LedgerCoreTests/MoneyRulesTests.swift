import Testing

@testable import LedgerCore

/// The money rules of PROTOCOL §5–§8 as given events / when a command / then events, with
/// figures computed by hand. `MoneyWorld` keeps the log so that `reverse`, `hold.commit` and
/// `hold.release` see the event they name (as the engine's `loadEvent` does), and runs the
/// scheduler when time moves.
@Suite struct MoneyRulesTests {
    // MARK: - The world

    /// Seqs of the standard world, named so that table rows can point at them.
    struct Seqs: Sendable {
        var allowance: UInt64 = 0
        var topup: UInt64 = 0
        var bonus: UInt64 = 0
        var consumed: UInt64 = 0
        var reversedConsumed: UInt64 = 0
        var releasedHold: UInt64 = 0
        var committedHold: UInt64 = 0
        var openHold: UInt64 = 0
        var userAdded: UInt64 = 0
        var cycleStarted: UInt64 = 0
    }

    /// acme (plan tiny: 1000 tokens, 2 pods, 3 members; UTC; created 2026-03-10T12:00Z; cycle
    /// ends 2026-04-10T00:00Z): users ann, bob, old (removed); pods p1, gone (archived); model gpt
    /// priced 1/1. A top-up of 500, a bonus of 100 (expires 2026-03-20), a consume of 40 by ann, a
    /// consume of 10 already reversed, a released hold (20), a committed hold (30), an open hold (25).
    static func world() -> (MoneyWorld, Seqs) {
        var w = MoneyWorld()
        var s = Seqs()
        w.given(.planDefined(plan: id("tiny"), monthlyTokens: 1000, maxPods: 2, maxMembers: 3))
        s.allowance = w.createTeam("acme", plan: "tiny", allowance: 1000)
        s.cycleStarted = s.allowance
        s.userAdded = w.given(.userAdded(team: id("acme"), user: id("ann"), dailyLimit: -1))
        w.given(.userAdded(team: id("acme"), user: id("bob"), dailyLimit: -1))
        w.given(.userAdded(team: id("acme"), user: id("old"), dailyLimit: -1))
        w.given(.userRemoved(team: id("acme"), user: id("old")))
        w.given(.podCreated(team: id("acme"), pod: id("p1"), budget: -1, budgetAction: .alert))
        w.given(.podCreated(team: id("acme"), pod: id("gone"), budget: -1, budgetAction: .alert))
        w.given(.podArchived(team: id("acme"), pod: id("gone"), budget: -1, budgetAction: .alert))
        w.given(.priceSet(MoneyWorld.gpt(1000, 1000)))
        s.topup = w.given(.topup(team: id("acme"), amount: 500, package: nil))
        s.bonus = w.given(
            .bonusGranted(team: id("acme"), amount: 100, reason: .gift, expiresAt: at("2026-03-20T00:00:00.000Z")))
        s.consumed = w.runSeq(consume("ann", cost: 40))
        s.reversedConsumed = w.runSeq(consume("ann", cost: 10))
        w.mustRun(.reverse(seq: s.reversedConsumed, reason: "test", amount: nil))
        s.releasedHold = w.runSeq(hold("ann", amount: 20))
        w.mustRun(.holdRelease(hold: s.releasedHold))
        s.committedHold = w.runSeq(hold("ann", amount: 30))
        w.mustRun(.holdCommit(hold: s.committedHold, usage: Usage(), cost: nil))
        s.openHold = w.runSeq(hold("ann", amount: 25))
        return (w, s)
    }

    static func consume(
        _ user: String, team: String = "acme", pod: String? = nil, task: String? = nil, cost: Int64? = nil,
        usage: Usage = Usage(), record: Bool = false
    ) -> Command {
        .consume(
            ConsumeCommand(
                tags: UsageTags(
                    team: id(team), user: id(user), pod: pod.map { id($0) }, task: task.map { id($0) }, model: id("gpt")
                ),
                usage: usage, cost: cost, record: record))
    }

    static func hold(
        _ user: String, team: String = "acme", pod: String? = nil, task: String? = nil, amount: Int64? = nil,
        usage: Usage = Usage(), ttlSeconds: Int64 = 600
    ) -> Command {
        .hold(
            HoldCommand(
                tags: UsageTags(
                    team: id(team), user: id(user), pod: pod.map { id($0) }, task: task.map { id($0) }, model: id("gpt")
                ),
                amount: amount, usage: usage, ttlSeconds: ttlSeconds))
    }

    // MARK: - Rejections (one row per rule)

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var command: @Sendable (Seqs) -> Command
        var code: ErrorCode
        var scope: LimitScope? = nil
        var seq: (@Sendable (Seqs) -> UInt64)? = nil
        var testDescription: String { name }
    }

    static let rejections: [Row] = [
        Row(
            name: "bonus.grant expiring at now → bad_request",
            command: { _ in
                .bonusGrant(team: id("acme"), amount: 5, reason: .gift, expiresAt: at("2026-03-10T12:00:00.000Z"))
            },
            code: .badRequest),
        Row(
            name: "bonus.grant expiring before now → bad_request",
            command: { _ in
                .bonusGrant(team: id("acme"), amount: 5, reason: .gift, expiresAt: at("2026-03-10T11:59:59.999Z"))
            },
            code: .badRequest),
        Row(
            name: "bonus.grant to an unknown team → not_found",
            command: { _ in .bonusGrant(team: id("ghost"), amount: 5, reason: .gift, expiresAt: nil) }, code: .notFound),
        Row(
            name: "hold.commit of a released hold → hold_closed naming it",
            command: { .holdCommit(hold: $0.releasedHold, usage: Usage(), cost: 5) }, code: .holdClosed,
            seq: { $0.releasedHold }),
        Row(
            name: "hold.commit of a committed hold → hold_closed",
            command: { .holdCommit(hold: $0.committedHold, usage: Usage(), cost: nil) },
            code: .holdClosed, seq: { $0.committedHold }),
        Row(
            name: "hold.release of a committed hold → hold_closed", command: { .holdRelease(hold: $0.committedHold) },
            code: .holdClosed, seq: { $0.committedHold }),
        Row(
            name: "hold.release of a released hold → hold_closed", command: { .holdRelease(hold: $0.releasedHold) },
            code: .holdClosed, seq: { $0.releasedHold }),
        Row(
            name: "hold.commit of a seq past the head → not_found",
            command: { _ in .holdCommit(hold: 9999, usage: Usage(), cost: 1) }, code: .notFound),
        Row(
            name: "hold.release of a seq that is not a hold → not_found", command: { .holdRelease(hold: $0.topup) },
            code: .notFound),
        Row(
            name: "reverse of an already reversed consume → already_exists",
            command: { .reverse(seq: $0.reversedConsumed, reason: "again", amount: nil) }, code: .alreadyExists),
        Row(
            name: "reverse of a user_added → bad_request",
            command: { .reverse(seq: $0.userAdded, reason: "x", amount: nil) },
            code: .badRequest),
        Row(
            name: "reverse of a cycle_started → bad_request",
            command: { .reverse(seq: $0.cycleStarted, reason: "x", amount: nil) }, code: .badRequest),
        Row(
            name: "reverse of a hold_placed → bad_request",
            command: { .reverse(seq: $0.openHold, reason: "x", amount: nil) },
            code: .badRequest),
        Row(
            name: "reverse of more than the consume → bad_request",
            command: { .reverse(seq: $0.consumed, reason: "x", amount: 41) }, code: .badRequest),
        Row(
            name: "reverse of more than the top-up → bad_request",
            command: { .reverse(seq: $0.topup, reason: "x", amount: 501) }, code: .badRequest),
        Row(
            name: "reverse of more than the commit → bad_request",
            command: { .reverse(seq: $0.committedHold + 1, reason: "x", amount: 31) }, code: .badRequest),
        Row(
            name: "reverse of a seq not in the log → not_found",
            command: { _ in .reverse(seq: 9999, reason: "x", amount: nil) }, code: .notFound),
        Row(name: "hold by a removed user → not_found", command: { _ in hold("old", amount: 1) }, code: .notFound),
        Row(
            name: "hold in an archived pod → not_found", command: { _ in hold("ann", pod: "gone", amount: 1) },
            code: .notFound),
        Row(
            name: "user.assign of a removed user → not_found",
            command: { _ in .userAssign(team: id("acme"), user: id("old"), amount: 5) }, code: .notFound),
        Row(
            name: "user.remove of a removed user → not_found",
            command: { _ in .userRemove(team: id("acme"), user: id("old")) }, code: .notFound),
        Row(
            name: "reset of a removed user → not_found", command: { _ in .reset(team: id("acme"), user: id("old")) },
            code: .notFound),
        Row(
            name: "reset of an unknown team → not_found", command: { _ in .reset(team: id("ghost"), user: nil) },
            code: .notFound),
        Row(
            name: "pod.configure of an archived pod → not_found",
            command: { _ in .podConfigure(team: id("acme"), pod: id("gone"), budget: 5, budgetAction: nil) },
            code: .notFound),
        Row(
            name: "pod.archive of an archived pod → not_found",
            command: { _ in .podArchive(team: id("acme"), pod: id("gone")) }, code: .notFound),
        Row(
            name: "pod.resume of an archived pod → not_found",
            command: { _ in .podResume(team: id("acme"), pod: id("gone")) }, code: .notFound),
        Row(
            name: "pod.create of an archived pod → already_exists",
            command: { _ in .podCreate(team: id("acme"), pod: id("gone"), budget: nil, budgetAction: nil) },
            code: .alreadyExists),
        Row(
            name: "team.configure to an unknown plan → not_found",
            command: { _ in
                .teamConfigure(
                    team: id("acme"), dailyLimit: nil, monthlyBudget: nil, budgetAction: nil, alertAt: nil,
                    plan: id("nope"))
            }, code: .notFound),
        Row(
            name: "hold past the pool (held tokens are out of it) → pool",
            command: { _ in hold("ann", amount: 1506) }, code: .insufficientTokens, scope: .pool),
    ]

    @Test(arguments: MoneyRulesTests.rejections)
    func decide_whenAMoneyRuleRefuses_rejectsWithItsCode(_ row: Row) {
        let (w, s) = Self.world()
        switch w.decide(row.command(s)) {
        case .success(let events):
            Issue.record("accepted, appending \(events.map(\.type))")
        case .failure(let r):
            #expect(r.code == row.code, "\(r.message)")
            #expect(r.scope == row.scope, "\(r.message)")
            if let seq = row.seq { #expect(r.seq == seq(s), "\(r.message)") }
        }
    }

    @Test func world_hasTheFiguresTheTableAssumes() {
        let (w, s) = Self.world()
        let t = w.team("acme")
        // 1000 + 500 + 100 − 40 − 30 (commit) − 25 (held): the reversed 10 and released 20 came back.
        #expect(t.available == 1505)
        #expect(t.held == 25)
        #expect(t.consumedToday == 70)
        #expect(w.decide(Self.hold("ann", amount: 1505)).isSuccess)
        #expect(w.state.holds[s.openHold] != nil)
    }

    // MARK: - bonus.grant

    @Test func bonusGrant_whenOverdrawn_repaysTheOverdraftFirst() {
        var w = MoneyWorld()
        w.createTeam("lean", plan: "tiny", allowance: 50)
        w.given(.userAdded(team: id("lean"), user: id("lee"), dailyLimit: -1))
        w.mustRun(Self.consume("lee", team: "lean", cost: 80, record: true))
        #expect(w.team("lean").overdraft == 30)
        let small = w.runSeq(.bonusGrant(team: id("lean"), amount: 10, reason: .gift, expiresAt: nil))
        #expect(w.team("lean").overdraft == 20)
        #expect(w.team("lean").buckets.first { $0.seq == small }?.amount == 0)
        let big = w.runSeq(
            .bonusGrant(team: id("lean"), amount: 100, reason: .referral, expiresAt: at("2026-03-12T00:00:00.000Z")))
        #expect(w.team("lean").overdraft == 0)
        #expect(w.team("lean").buckets.first { $0.seq == big }?.amount == 80)
        #expect(w.team("lean").available == 80)
    }

    // MARK: - Holds (§5 hold, hold.commit)

    /// order: allowance 1000 (A), top-up 500 (T), bonus 100 expiring before the cycle end (B).
    static func orderWorld() -> (MoneyWorld, a: UInt64, t: UInt64, b: UInt64) {
        var w = MoneyWorld()
        let a = w.createTeam("acme", plan: "tiny", allowance: 1000)
        w.given(.userAdded(team: id("acme"), user: id("ann"), dailyLimit: -1))
        w.given(.priceSet(MoneyWorld.gpt(1000, 1000)))
        let t = w.given(.topup(team: id("acme"), amount: 500, package: nil))
        let b = w.given(
            .bonusGranted(team: id("acme"), amount: 100, reason: .gift, expiresAt: at("2026-03-20T00:00:00.000Z")))
        return (w, a, t, b)
    }

    @Test func hold_escrowsInSpendOrder_andTheEscrowIsOutOfAvailable() throws {
        var (w, a, t, b) = Self.orderWorld()
        let events = try #require(w.run(Self.hold("ann", amount: 1200)).events)
        guard case .holdPlaced(let h) = events.first else {
            Issue.record("expected hold_placed, got \(events)")
            return
        }
        #expect(events.count == 1)
        #expect(h.amount == 1200)
        #expect(h.expiresAt == at("2026-03-10T12:10:00.000Z"))
        #expect(
            h.draws == [
                Draw(bucketSeq: b, amount: 100), Draw(bucketSeq: a, amount: 1000), Draw(bucketSeq: t, amount: 100),
            ])
        #expect(w.team("acme").available == 400)
        #expect(w.team("acme").held == 1200)
        #expect(w.team("acme").users[id("ann")]?.held == 1200)
        // Committed consumption only: a hold is not consumption.
        #expect(w.team("acme").consumedToday == 0)
        #expect(w.team("acme").consumedCycle == 0)
    }

    struct CommitRow: Sendable, CustomTestStringConvertible {
        var name: String
        var cost: Int64?
        /// Per bucket name ("A", "T", "B"): what the commit drew in total.
        var drawn: [String: Int64]
        var overdraft: Int64
        var released: Int64
        var available: Int64
        var testDescription: String { name }
    }

    // Hold 300 from B 100, A 200. Buckets before the commit: B 0, A 800, T 500 (held 300).
    static let commits: [CommitRow] = [
        CommitRow(
            name: "below the hold: the rest of the escrow goes back", cost: 250, drawn: ["B": 100, "A": 150],
            overdraft: 0,
            released: 50, available: 1350),
        CommitRow(
            name: "equal to the hold", cost: 300, drawn: ["B": 100, "A": 200], overdraft: 0, released: 0,
            available: 1300),
        CommitRow(
            name: "without usage or cost: the whole hold", cost: nil, drawn: ["B": 100, "A": 200], overdraft: 0,
            released: 0, available: 1300),
        CommitRow(
            name: "above the hold: beyond it from the buckets", cost: 700, drawn: ["B": 100, "A": 600], overdraft: 0,
            released: 0, available: 900),
        CommitRow(
            name: "above everything: the rest as overdraft", cost: 1700, drawn: ["B": 100, "A": 1000, "T": 500],
            overdraft: 100, released: 0, available: 0),
        CommitRow(name: "zero", cost: 0, drawn: [:], overdraft: 0, released: 300, available: 1600),
    ]

    @Test(arguments: MoneyRulesTests.commits)
    func holdCommit_booksUpToTheHoldFromEscrowThenBucketsThenOverdraft(_ row: CommitRow) throws {
        var (w, a, t, b) = Self.orderWorld()
        let names: [UInt64: String] = [a: "A", t: "T", b: "B"]
        let holdSeq = w.runSeq(Self.hold("ann", amount: 300))
        let events = try #require(w.run(.holdCommit(hold: holdSeq, usage: Usage(), cost: row.cost)).events)
        guard case .holdCommitted(let c) = events.first else {
            Issue.record("expected hold_committed, got \(events)")
            return
        }
        var drawn: [String: Int64] = [:]
        for d in c.draws { drawn[names[d.bucketSeq] ?? "?\(d.bucketSeq)", default: 0] += d.amount }
        #expect(drawn == row.drawn)
        #expect(c.draws.allSatisfy { $0.amount > 0 })
        #expect(c.cost == row.cost ?? 300)
        #expect(c.overdraft == row.overdraft)
        #expect(c.released == row.released)
        #expect(c.holdSeq == holdSeq)
        let team = w.team("acme")
        #expect(team.available == row.available)
        #expect(team.overdraft == row.overdraft)
        #expect(team.held == 0)
        #expect(team.users[id("ann")]?.held == 0)
        #expect(team.consumedToday == row.cost ?? 300)
        #expect(team.consumedCycle == row.cost ?? 300)
        #expect(w.state.holds[holdSeq] == nil)
    }

    @Test func holdCommit_isNeverRefusedByALimit() throws {
        var (w, _, _, _) = Self.orderWorld()
        w.given(.podCreated(team: id("acme"), pod: id("p1"), budget: 10, budgetAction: .pause))
        let holdSeq = w.runSeq(Self.hold("ann", pod: "p1", task: "t", amount: 10))
        // Every limit shut after the hold was placed.
        w.given(
            .teamConfigured(
                team: id("acme"), dailyLimit: 0, monthlyBudget: 0, budgetAction: .pause, alertAt: nil, plan: nil))
        w.given(.userAssigned(team: id("acme"), user: id("ann"), amount: 0))
        #expect(w.decide(Self.consume("ann", cost: 1)).rejection?.code == .budgetExceeded)
        let events = try #require(w.run(.holdCommit(hold: holdSeq, usage: Usage(), cost: 5000)).events)
        guard case .holdCommitted(let c) = events.first else { return }
        #expect(c.cost == 5000)
        #expect(c.overdraft == 5000 - 1600)
    }

    @Test func holdCommit_pricesUsageAtThePricesInForceWhenTheHoldWasPlaced() throws {
        var (w, _, _, _) = Self.orderWorld()
        let holdSeq = w.runSeq(Self.hold("ann", usage: Usage(inputTokens: 10, outputTokens: 10)))
        #expect(w.state.holds[holdSeq]?.amount == 20)
        w.given(.priceSet(MoneyWorld.gpt(2000, 5000)))
        let events = try #require(
            w.run(.holdCommit(hold: holdSeq, usage: Usage(inputTokens: 10, outputTokens: 5), cost: nil)).events)
        guard case .holdCommitted(let c) = events.first else { return }
        #expect(c.cost == 15)
        #expect(c.released == 5)
    }

    @Test func holdRelease_returnsTheEscrowToItsBuckets() throws {
        var (w, a, t, b) = Self.orderWorld()
        let holdSeq = w.runSeq(Self.hold("ann", amount: 1200))
        let events = try #require(w.run(.holdRelease(hold: holdSeq)).events)
        #expect(events == [.holdReleased(holdSeq: holdSeq, team: id("acme"), released: 1200)])
        let amounts = Dictionary(uniqueKeysWithValues: w.team("acme").buckets.map { ($0.seq, $0.amount) })
        #expect(amounts == [a: 1000, t: 500, b: 100])
        #expect(w.team("acme").held == 0)
    }

    // MARK: - Held tokens count in every check (§8)

    struct HeldRow: Sendable, CustomTestStringConvertible {
        var name: String
        /// Sets the limit to 500 (and makes pod p1 exist).
        var limit: [EventBody]
        var pod: String?
        var code: ErrorCode
        var scope: LimitScope
        var testDescription: String { name }
    }

    static let heldRows: [HeldRow] = [
        HeldRow(
            name: "team daily",
            limit: [
                .teamConfigured(
                    team: id("acme"), dailyLimit: 500, monthlyBudget: nil, budgetAction: nil, alertAt: nil, plan: nil)
            ],
            code: .dailyLimitExceeded, scope: .teamDaily),
        HeldRow(
            name: "user daily", limit: [.userAdded(team: id("acme"), user: id("cap"), dailyLimit: 500)],
            code: .dailyLimitExceeded, scope: .userDaily),
        HeldRow(
            name: "allocation",
            limit: [
                .userAdded(team: id("acme"), user: id("cap"), dailyLimit: -1),
                .userAssigned(team: id("acme"), user: id("cap"), amount: 500),
            ],
            code: .insufficientTokens, scope: .allocation),
        HeldRow(
            name: "team budget (pause)",
            limit: [
                .teamConfigured(
                    team: id("acme"), dailyLimit: nil, monthlyBudget: 500, budgetAction: .pause, alertAt: nil, plan: nil
                )
            ],
            code: .budgetExceeded, scope: .teamBudget),
        HeldRow(
            name: "team budget (block_new_tasks)",
            limit: [
                .teamConfigured(
                    team: id("acme"), dailyLimit: nil, monthlyBudget: 500, budgetAction: .blockNewTasks, alertAt: nil,
                    plan: nil)
            ],
            code: .budgetExceeded, scope: .teamBudget),
        HeldRow(
            name: "pod budget (pause)",
            limit: [.podCreated(team: id("acme"), pod: id("p1"), budget: 500, budgetAction: .pause)],
            pod: "p1", code: .budgetExceeded, scope: .podBudget),
        HeldRow(
            name: "pod budget (block_new_tasks)",
            limit: [.podCreated(team: id("acme"), pod: id("p1"), budget: 500, budgetAction: .blockNewTasks)], pod: "p1",
            code: .budgetExceeded, scope: .podBudget),
        HeldRow(
            name: "pool", limit: [.topup(team: id("acme"), amount: 0, package: nil)], code: .insufficientTokens,
            scope: .pool),
    ]

    /// Limit 500 (the pool: 1000 − a 500 consume), a hold of 200: 300 more is allowed, 301 is not.
    @Test(arguments: MoneyRulesTests.heldRows)
    func check_whenAHoldIsOpen_countsItsTokensAsSpent(_ row: HeldRow) throws {
        var v = MoneyWorld()
        v.given(.planDefined(plan: id("tiny"), monthlyTokens: 1000, maxPods: 2, maxMembers: 3))
        v.createTeam("acme", plan: "tiny", allowance: 1000)
        for b in row.limit { v.given(b) }
        if v.team("acme").users[id("cap")] == nil {
            v.given(.userAdded(team: id("acme"), user: id("cap"), dailyLimit: -1))
        }
        if row.scope == .pool {
            v.mustRun(Self.consume("cap", cost: 500))
        }
        v.mustRun(Self.hold("cap", pod: row.pod, task: row.pod == nil ? nil : "old", amount: 200))
        let refused = v.decide(Self.consume("cap", pod: row.pod, task: row.pod == nil ? nil : "new", cost: 301))
        #expect(refused.rejection?.code == row.code, "\(String(describing: refused.rejection))")
        #expect(refused.rejection?.scope == row.scope, "\(String(describing: refused.rejection))")
        #expect(v.decide(Self.consume("cap", pod: row.pod, task: row.pod == nil ? nil : "new", cost: 300)).isSuccess)
        // A second hold is checked the same way.
        #expect(v.decide(Self.hold("cap", pod: row.pod, amount: 301)).rejection?.scope == row.scope)
    }

    // MARK: - reverse (§5)

    /// record consume 1700 over A 1000 + T 500: draws A 1000, T 500, overdraft 200; then a top-up
    /// T2 of 50 repays 50 of it (overdraft 150).
    static func overdrawnWorld() -> (MoneyWorld, a: UInt64, t: UInt64, t2: UInt64, consumed: UInt64) {
        var w = MoneyWorld()
        let a = w.createTeam("acme", plan: "tiny", allowance: 1000)
        w.given(.userAdded(team: id("acme"), user: id("ann"), dailyLimit: -1))
        w.given(.podCreated(team: id("acme"), pod: id("p1"), budget: -1, budgetAction: .alert))
        let t = w.given(.topup(team: id("acme"), amount: 500, package: nil))
        let consumed = w.runSeq(Self.consume("ann", pod: "p1", cost: 1700, record: true))
        let t2 = w.given(.topup(team: id("acme"), amount: 50, package: nil))
        return (w, a, t, t2, consumed)
    }

    struct ReverseRow: Sendable, CustomTestStringConvertible {
        var name: String
        var amount: Int64?
        var restored: [String: Int64]
        var lapsed: Int64
        var overdraft: Int64
        /// The top-up bucket named by the reversal: what was already repaid of the overdraft part.
        var repaidBack: Int64
        var available: Int64
        var testDescription: String { name }
    }

    static let reverses: [ReverseRow] = [
        ReverseRow(
            name: "all of it", amount: nil, restored: ["T": 500, "A": 1000], lapsed: 0, overdraft: 0, repaidBack: 50,
            available: 1550),
        ReverseRow(
            name: "the overdraft part and the last draw's end", amount: 250, restored: ["T": 50], lapsed: 0,
            overdraft: 0, repaidBack: 50, available: 100),
        ReverseRow(
            name: "the overdraft part, into the last draw and before", amount: 800, restored: ["T": 500, "A": 100],
            lapsed: 0, overdraft: 0, repaidBack: 50, available: 650),
        ReverseRow(
            name: "less than the unrepaid overdraft", amount: 100, restored: [:], lapsed: 0, overdraft: 50,
            repaidBack: 0,
            available: 0),
        ReverseRow(
            name: "just the unrepaid overdraft and more", amount: 170, restored: [:], lapsed: 0, overdraft: 0,
            repaidBack: 20, available: 20),
    ]

    @Test(arguments: MoneyRulesTests.reverses)
    func reverse_ofAConsume_takesTheOverdraftPartFirstThenTheDrawsLastToFirst(_ row: ReverseRow) throws {
        var (w, a, t, _, consumed) = Self.overdrawnWorld()
        let names: [UInt64: String] = [a: "A", t: "T"]
        let events = try #require(w.run(.reverse(seq: consumed, reason: "refund", amount: row.amount)).events)
        guard case .reversed(let r) = events.first, events.count == 1 else {
            Issue.record("expected one reversed, got \(events)")
            return
        }
        let reversalSeq = w.state.head
        var restored: [String: Int64] = [:]
        for d in r.restored { restored[names[d.bucketSeq] ?? "?", default: 0] += d.amount }
        #expect(restored == row.restored)
        #expect(r.amount == row.amount ?? 1700)
        #expect(r.lapsed == row.lapsed)
        #expect(r.reversesSeq == consumed)
        let team = w.team("acme")
        #expect(team.overdraft == row.overdraft)
        #expect(team.available == row.available)
        let back = team.buckets.first { $0.seq == reversalSeq }
        if row.repaidBack > 0 {
            #expect(back?.source == .topup && back?.amount == row.repaidBack && back?.expiresAt == nil)
        } else {
            #expect(back == nil || back?.amount == 0)
        }
        // Counters of the original's day and cycle go down.
        let left = 1700 - (row.amount ?? 1700)
        #expect(team.consumedToday == left)
        #expect(team.consumedCycle == left)
        #expect(team.users[id("ann")]?.consumedToday == left)
        #expect(team.users[id("ann")]?.consumedCycle == left)
        #expect(team.pods[id("p1")]?.used == left)
    }

    @Test func reverse_whenADrawsBucketExpired_thatPartLapses() throws {
        var w = MoneyWorld()
        let a = w.createTeam("acme", plan: "tiny", allowance: 1000)
        w.given(.userAdded(team: id("acme"), user: id("ann"), dailyLimit: -1))
        let b = w.given(
            .bonusGranted(team: id("acme"), amount: 100, reason: .gift, expiresAt: at("2026-03-10T18:00:00.000Z")))
        let seq = w.runSeq(Self.consume("ann", cost: 150))
        #expect(w.lastConsumed?.draws == [Draw(bucketSeq: b, amount: 100), Draw(bucketSeq: a, amount: 50)])
        w.advance(to: at("2026-03-10T19:00:00.000Z"))
        let events = try #require(w.run(.reverse(seq: seq, reason: "refund", amount: nil)).events)
        guard case .reversed(let r) = events.first else { return }
        #expect(r.restored == [Draw(bucketSeq: a, amount: 50)])
        #expect(r.lapsed == 100)
        #expect(w.team("acme").available == 1000)
        #expect(w.team("acme").consumedToday == 0)
    }

    @Test func reverse_ofAnEarlierDaysConsume_leavesTodaysCountersAlone() throws {
        var w = MoneyWorld()
        w.createTeam("acme", plan: "tiny", allowance: 1000)
        w.given(.userAdded(team: id("acme"), user: id("ann"), dailyLimit: -1))
        w.given(.podCreated(team: id("acme"), pod: id("p1"), budget: -1, budgetAction: .alert))
        let first = w.runSeq(Self.consume("ann", pod: "p1", cost: 100))
        w.advance(to: at("2026-03-11T08:00:00.000Z"))
        w.mustRun(Self.consume("ann", pod: "p1", cost: 30))
        w.mustRun(.reverse(seq: first, reason: "refund", amount: 60))
        let t = w.team("acme")
        #expect(t.consumedToday == 30)
        #expect(t.users[id("ann")]?.consumedToday == 30)
        #expect(t.consumedCycle == 70)
        #expect(t.users[id("ann")]?.consumedCycle == 70)
        #expect(t.pods[id("p1")]?.used == 70)
        #expect(t.available == 1000 - 130 + 60)
    }

    @Test func reverse_ofAPreviousCyclesConsume_leavesThisCyclesCountersAlone() throws {
        var w = MoneyWorld()
        w.createTeam("acme", plan: "tiny", allowance: 1000)
        w.given(.userAdded(team: id("acme"), user: id("ann"), dailyLimit: -1))
        let t = w.given(.topup(team: id("acme"), amount: 500, package: nil))
        w.mustRun(Self.consume("ann", cost: 1000))
        let old = w.runSeq(Self.consume("ann", cost: 200))  // from T
        w.advance(to: at("2026-04-10T06:00:00.000Z"))
        w.mustRun(Self.consume("ann", cost: 10))
        let events = try #require(w.run(.reverse(seq: old, reason: "refund", amount: nil)).events)
        guard case .reversed(let r) = events.first else { return }
        #expect(r.restored == [Draw(bucketSeq: t, amount: 200)])
        #expect(w.team("acme").consumedCycle == 10)
        #expect(w.team("acme").consumedToday == 10)
        #expect(w.team("acme").available == 1000 - 10 + 500)
    }

    @Test func reverse_ofAHoldCommit_undoesItLikeAConsume() throws {
        var (w, a, _, b) = Self.orderWorld()
        let holdSeq = w.runSeq(Self.hold("ann", amount: 300))
        let commit = w.runSeq(.holdCommit(hold: holdSeq, usage: Usage(), cost: 250))
        let events = try #require(w.run(.reverse(seq: commit, reason: "refund", amount: 200)).events)
        guard case .reversed(let r) = events.first else { return }
        // Commit draws B 100, A 150: last to first, A 150 then B 50.
        #expect(r.restored == [Draw(bucketSeq: a, amount: 150), Draw(bucketSeq: b, amount: 50)])
        #expect(w.team("acme").available == 1600 - 50)
        #expect(w.team("acme").consumedCycle == 50)
    }

    struct CreditReverseRow: Sendable, CustomTestStringConvertible {
        var name: String
        var bonus: Bool
        var spent: Int64
        var amount: Int64?
        var lost: Int64
        var testDescription: String { name }
    }

    static let creditReverses: [CreditReverseRow] = [
        CreditReverseRow(name: "an unspent top-up, all", bonus: false, spent: 0, amount: nil, lost: 300),
        CreditReverseRow(name: "an unspent top-up, part", bonus: false, spent: 0, amount: 100, lost: 100),
        CreditReverseRow(
            name: "a partly spent top-up, all: its unspent part", bonus: false, spent: 1200, amount: nil, lost: 100),
        CreditReverseRow(
            name: "a partly spent top-up, less than unspent", bonus: false, spent: 1200, amount: 60, lost: 60),
        CreditReverseRow(name: "a spent top-up: nothing", bonus: false, spent: 1300, amount: nil, lost: 0),
        CreditReverseRow(name: "an unspent bonus, all", bonus: true, spent: 0, amount: nil, lost: 300),
        CreditReverseRow(
            name: "a partly spent bonus, all: its unspent part", bonus: true, spent: 250, amount: nil, lost: 50),
        CreditReverseRow(name: "a partly spent bonus, part", bonus: true, spent: 250, amount: 20, lost: 20),
    ]

    /// Allowance 1000 and a credit of 300 (a top-up spends after the allowance; a bonus expiring
    /// before the cycle end, before it).
    @Test(arguments: MoneyRulesTests.creditReverses)
    func reverse_ofACredit_losesAtMostItsUnspentPart(_ row: CreditReverseRow) throws {
        var w = MoneyWorld()
        w.createTeam("acme", plan: "tiny", allowance: 1000)
        w.given(.userAdded(team: id("acme"), user: id("ann"), dailyLimit: -1))
        let credit =
            row.bonus
            ? w.given(
                .bonusGranted(team: id("acme"), amount: 300, reason: .event, expiresAt: at("2026-03-20T00:00:00.000Z")))
            : w.given(.topup(team: id("acme"), amount: 300, package: "p"))
        if row.spent > 0 { w.mustRun(Self.consume("ann", cost: row.spent)) }
        let before = w.team("acme").available
        let events = try #require(w.run(.reverse(seq: credit, reason: "chargeback", amount: row.amount)).events)
        guard case .reversed(let r) = events.first else { return }
        #expect(r.amount == row.lost)
        #expect(r.restored == [] && r.lapsed == 0)
        #expect(w.team("acme").available == before - row.lost)
        #expect(w.team("acme").consumedCycle == row.spent)
        #expect(w.decide(.reverse(seq: credit, reason: "again", amount: nil)).rejection?.code == .alreadyExists)
    }

    @Test func reverse_ofATopupThatRepaidAnOverdraft_losesOnlyWhatReachedItsBucket() throws {
        var w = MoneyWorld()
        w.createTeam("lean", plan: "tiny", allowance: 50)
        w.given(.userAdded(team: id("lean"), user: id("lee"), dailyLimit: -1))
        w.mustRun(Self.consume("lee", team: "lean", cost: 80, record: true))
        let t = w.given(.topup(team: id("lean"), amount: 100, package: nil))
        let events = try #require(w.run(.reverse(seq: t, reason: "chargeback", amount: nil)).events)
        guard case .reversed(let r) = events.first else { return }
        #expect(r.amount == 70)
        #expect(w.team("lean").available == 0)
        #expect(w.team("lean").overdraft == 0)
    }

    @Test func reverse_whenPartlyReversedAlready_refusesASecondPart() {
        var (w, _, _, _, consumed) = Self.overdrawnWorld()
        w.mustRun(.reverse(seq: consumed, reason: "part", amount: 10))
        #expect(w.decide(.reverse(seq: consumed, reason: "rest", amount: 10)).rejection?.code == .alreadyExists)
        #expect(w.decide(.reverse(seq: consumed, reason: "rest", amount: nil)).rejection?.code == .alreadyExists)
    }

    // MARK: - Budgets (§8)

    static func budgetWorld(
        team budget: Int64 = -1, action: BudgetAction = .alert, pod: Int64 = -1, podAction: BudgetAction = .alert
    ) -> MoneyWorld {
        var w = MoneyWorld()
        w.createTeam("acme", plan: "pro", allowance: 100_000)
        w.given(.userAdded(team: id("acme"), user: id("ann"), dailyLimit: -1))
        w.given(.podCreated(team: id("acme"), pod: id("p1"), budget: pod, budgetAction: podAction))
        if budget != -1 {
            w.given(
                .teamConfigured(
                    team: id("acme"), dailyLimit: nil, monthlyBudget: budget, budgetAction: action, alertAt: nil,
                    plan: nil))
        }
        return w
    }

    @Test func pause_refusesTheConsumeThatWouldPassIt_thenEveryConsumeWhileUsedReachesIt() {
        var w = Self.budgetWorld(team: 500, action: .pause)
        w.mustRun(Self.consume("ann", cost: 400))
        #expect(w.decide(Self.consume("ann", cost: 101)).rejection?.scope == .teamBudget)
        #expect(w.decide(Self.consume("ann", cost: 101)).rejection?.code == .budgetExceeded)
        #expect(!w.team("acme").paused)
        w.mustRun(Self.consume("ann", cost: 100))  // reaching it exactly is allowed
        #expect(w.team("acme").paused)
        #expect(w.decide(Self.consume("ann", cost: 0)).rejection?.code == .budgetExceeded)
        #expect(w.decide(Self.hold("ann", amount: 1)).rejection?.code == .budgetExceeded)
        // record:true is never refused, even while paused.
        #expect(w.decide(Self.consume("ann", cost: 5, record: true)).isSuccess)
    }

    @Test func pause_isLiftedByResume_untilTheNextCycle() {
        var w = Self.budgetWorld(team: 500, action: .pause)
        w.mustRun(Self.consume("ann", cost: 500))
        w.mustRun(.teamResume(team: id("acme")))
        #expect(!w.team("acme").paused)
        w.mustRun(Self.consume("ann", cost: 700))
        #expect(w.team("acme").consumedCycle == 1200)
        w.advance(to: at("2026-04-10T00:00:00.000Z"))
        #expect(!w.team("acme").paused)
        w.mustRun(Self.consume("ann", cost: 500))
        #expect(w.team("acme").paused)
        #expect(w.decide(Self.consume("ann", cost: 1)).rejection?.scope == .teamBudget)
    }

    @Test func pause_isLiftedByARaisedBudget() {
        var w = Self.budgetWorld(team: 500, action: .pause)
        w.mustRun(Self.consume("ann", cost: 500))
        #expect(w.team("acme").paused)
        w.mustRun(
            .teamConfigure(
                team: id("acme"), dailyLimit: nil, monthlyBudget: 600, budgetAction: nil, alertAt: nil, plan: nil))
        #expect(!w.team("acme").paused)
        #expect(w.decide(Self.consume("ann", cost: 101)).rejection?.scope == .teamBudget)
        w.mustRun(Self.consume("ann", cost: 100))
        #expect(w.team("acme").paused)
    }

    @Test func podPause_refusesInThePodOnly_andPodResumeLiftsIt() {
        var w = Self.budgetWorld(pod: 100, podAction: .pause)
        w.mustRun(Self.consume("ann", pod: "p1", cost: 100))
        #expect(w.team("acme").pods[id("p1")]?.budget.paused == true)
        #expect(w.decide(Self.consume("ann", pod: "p1", cost: 0)).rejection?.scope == .podBudget)
        #expect(w.decide(Self.consume("ann", cost: 50)).isSuccess)
        w.mustRun(.podResume(team: id("acme"), pod: id("p1")))
        #expect(w.decide(Self.consume("ann", pod: "p1", cost: 50)).isSuccess)
    }

    @Test func blockNewTasks_refusesNewTasksAndTasklessConsumes_butKnownTasksGoOn() {
        var w = Self.budgetWorld(pod: 100, podAction: .blockNewTasks)
        w.mustRun(Self.consume("ann", pod: "p1", task: "t1", cost: 60))
        w.mustRun(Self.hold("ann", pod: "p1", task: "t3", amount: 10))  // a hold makes its task known
        // 60 used + 10 held + 31 > 100.
        #expect(w.decide(Self.consume("ann", pod: "p1", task: "t2", cost: 31)).rejection?.scope == .podBudget)
        #expect(w.decide(Self.consume("ann", pod: "p1", task: "t2", cost: 30)).isSuccess)
        #expect(w.decide(Self.consume("ann", pod: "p1", cost: 31)).rejection?.code == .budgetExceeded)
        w.mustRun(Self.consume("ann", pod: "p1", task: "t1", cost: 500))
        w.mustRun(Self.consume("ann", pod: "p1", task: "t3", cost: 5))
        // 565 used + 10 held + 0 > 100: a new task is refused even at no cost.
        #expect(w.decide(Self.consume("ann", pod: "p1", task: "t2", cost: 0)).rejection?.scope == .podBudget)
        #expect(w.decide(Self.consume("ann", pod: "p1", task: "t4", cost: 1)).rejection?.scope == .podBudget)
        // Another pod's task of the same name is new there.
        w.given(.podCreated(team: id("acme"), pod: id("p2"), budget: 1, budgetAction: .blockNewTasks))
        #expect(w.decide(Self.consume("ann", pod: "p2", task: "t1", cost: 2)).rejection?.scope == .podBudget)
    }

    @Test func alert_neverRefuses() throws {
        var w = Self.budgetWorld(team: 100, action: .alert, pod: 100, podAction: .alert)
        let events = try #require(w.run(Self.consume("ann", pod: "p1", cost: 5000)).events)
        #expect(events.first?.type == "consumed")
        #expect(w.decide(Self.consume("ann", pod: "p1", cost: 5000)).isSuccess)
    }

    @Test func budgetAlert_isAppendedOncePerPercentAscendingInTheSameDecision() throws {
        var w = Self.budgetWorld(team: 1000, action: .alert)
        #expect(try #require(w.run(Self.consume("ann", cost: 400)).events).count == 1)
        let second = try #require(w.run(Self.consume("ann", cost: 360)).events)
        #expect(
            Array(second.dropFirst()) == [
                .budgetAlert(team: id("acme"), scope: "team", pod: nil, percent: 50, used: 760, budget: 1000),
                .budgetAlert(team: id("acme"), scope: "team", pod: nil, percent: 75, used: 760, budget: 1000),
            ])
        let third = try #require(w.run(Self.consume("ann", cost: 200)).events)
        #expect(
            Array(third.dropFirst()) == [
                .budgetAlert(team: id("acme"), scope: "team", pod: nil, percent: 90, used: 960, budget: 1000)
            ])
        let fourth = try #require(w.run(Self.consume("ann", cost: 40)).events)
        #expect(
            Array(fourth.dropFirst()) == [
                .budgetAlert(team: id("acme"), scope: "team", pod: nil, percent: 100, used: 1000, budget: 1000)
            ])
        #expect(try #require(w.run(Self.consume("ann", cost: 10)).events).count == 1)
    }

    @Test func budgetAlert_forAPod_usesTheTeamsAlertPercents() throws {
        var w = Self.budgetWorld(pod: 200)
        w.mustRun(
            .teamConfigure(
                team: id("acme"), dailyLimit: nil, monthlyBudget: nil, budgetAction: nil, alertAt: [80, 25, 25],
                plan: nil))
        let events = try #require(w.run(Self.consume("ann", pod: "p1", cost: 170)).events)
        #expect(
            Array(events.dropFirst()) == [
                .budgetAlert(team: id("acme"), scope: "pod", pod: id("p1"), percent: 25, used: 170, budget: 200),
                .budgetAlert(team: id("acme"), scope: "pod", pod: id("p1"), percent: 80, used: 170, budget: 200),
            ])
    }

    @Test func budgetAlert_holdsDoNotCount_butTheirCommitDoes() throws {
        var w = Self.budgetWorld(team: 1000, action: .alert)
        let holdEvents = try #require(w.run(Self.hold("ann", amount: 900)).events)
        #expect(holdEvents.map(\.type) == ["hold_placed"])
        let holdSeq = w.state.head
        #expect(try #require(w.run(Self.consume("ann", cost: 100)).events).count == 1)
        let commit = try #require(w.run(.holdCommit(hold: holdSeq, usage: Usage(), cost: 400)).events)
        #expect(
            Array(commit.dropFirst()) == [
                .budgetAlert(team: id("acme"), scope: "team", pod: nil, percent: 50, used: 500, budget: 1000)
            ])
    }

    @Test func budgetAlert_afterTheBudgetIsRaisedThenLowered_theNextConsumeAppendsEveryPercentReached() throws {
        var w = Self.budgetWorld(team: 1000, action: .alert)
        #expect(try #require(w.run(Self.consume("ann", cost: 800)).events).count == 3)  // 50, 75
        w.mustRun(
            .teamConfigure(
                team: id("acme"), dailyLimit: nil, monthlyBudget: 4000, budgetAction: nil, alertAt: nil, plan: nil))
        #expect(try #require(w.run(Self.consume("ann", cost: 0)).events).count == 1)  // 20%
        w.mustRun(
            .teamConfigure(
                team: id("acme"), dailyLimit: nil, monthlyBudget: 1000, budgetAction: nil, alertAt: nil, plan: nil))
        let events = try #require(w.run(Self.consume("ann", cost: 0)).events)
        #expect(
            Array(events.dropFirst()) == [
                .budgetAlert(team: id("acme"), scope: "team", pod: nil, percent: 50, used: 800, budget: 1000),
                .budgetAlert(team: id("acme"), scope: "team", pod: nil, percent: 75, used: 800, budget: 1000),
            ])
    }

    @Test func budgetAlert_afterTheBudgetIsLowered_appendsThePercentsNowReached() throws {
        var w = Self.budgetWorld(team: 1000, action: .alert)
        w.mustRun(Self.consume("ann", cost: 760))  // 50, 75
        w.mustRun(
            .teamConfigure(
                team: id("acme"), dailyLimit: nil, monthlyBudget: 800, budgetAction: nil, alertAt: nil, plan: nil))
        let events = try #require(w.run(Self.consume("ann", cost: 10)).events)
        #expect(
            Array(events.dropFirst()) == [
                .budgetAlert(team: id("acme"), scope: "team", pod: nil, percent: 90, used: 770, budget: 800)
            ])
    }

    @Test func budgetAlert_isRearmedByTheNextCycle() throws {
        var w = Self.budgetWorld(team: 1000, action: .alert)
        #expect(try #require(w.run(Self.consume("ann", cost: 500)).events).count == 2)
        w.advance(to: at("2026-04-10T00:00:00.000Z"))
        #expect(try #require(w.run(Self.consume("ann", cost: 500)).events).count == 2)
    }

    @Test func reverse_doesNotRearmAlertsAlreadySent() throws {
        var w = Self.budgetWorld(team: 1000, action: .alert)
        let seq = w.runSeq(Self.consume("ann", cost: 500))
        w.mustRun(.reverse(seq: seq, reason: "refund", amount: nil))
        #expect(w.team("acme").consumedCycle == 0)
        #expect(try #require(w.run(Self.consume("ann", cost: 600)).events).count == 1)
    }

    // MARK: - Plans and membership

    @Test func teamConfigurePlan_takesEffectAtTheNextCycle() throws {
        var w = MoneyWorld()
        w.given(.planDefined(plan: id("tiny"), monthlyTokens: 1000, maxPods: 1, maxMembers: 1))
        w.createTeam("acme", plan: "tiny", allowance: 1000)
        w.given(.userAdded(team: id("acme"), user: id("ann"), dailyLimit: -1))
        w.mustRun(Self.consume("ann", cost: 300))
        w.mustRun(
            .teamConfigure(
                team: id("acme"), dailyLimit: nil, monthlyBudget: nil, budgetAction: nil, alertAt: nil,
                plan: id("starter")))
        #expect(w.team("acme").plan == id("tiny"))
        #expect(w.team("acme").nextPlan == id("starter"))
        #expect(w.team("acme").available == 700)
        #expect(w.decide(.userAdd(team: id("acme"), user: id("bob"), dailyLimit: nil)).rejection?.code == .planLimit)
        let appended = w.advance(to: at("2026-04-10T00:00:00.000Z"))
        #expect(
            appended.last
                == .cycleStarted(
                    team: id("acme"), plan: id("starter"), allowance: 2_000_000,
                    cycleStart: at("2026-04-10T00:00:00.000Z"),
                    cycleEnd: at("2026-05-10T00:00:00.000Z"), lapsed: 700))
        #expect(w.team("acme").plan == id("starter"))
        #expect(w.team("acme").nextPlan == nil)
        #expect(w.team("acme").available == 2_000_000)
        #expect(w.decide(.userAdd(team: id("acme"), user: id("bob"), dailyLimit: nil)).isSuccess)
    }

    @Test func planDefine_ofAnExistingPlan_replacesItFromTheNextCycle() throws {
        var w = MoneyWorld()
        w.given(.planDefined(plan: id("tiny"), monthlyTokens: 1000, maxPods: 1, maxMembers: 1))
        w.createTeam("acme", plan: "tiny", allowance: 1000)
        w.given(.userAdded(team: id("acme"), user: id("ann"), dailyLimit: -1))
        w.mustRun(.planDefine(plan: id("tiny"), monthlyTokens: 3000, maxPods: 5, maxMembers: 5))
        #expect(w.team("acme").available == 1000)
        #expect(w.decide(.userAdd(team: id("acme"), user: id("bob"), dailyLimit: nil)).rejection?.code == .planLimit)
        #expect(
            w.decide(.podCreate(team: id("acme"), pod: id("a"), budget: nil, budgetAction: nil)).isSuccess)
        let appended = w.advance(to: at("2026-04-10T00:00:00.000Z"))
        guard case .cycleStarted(_, let plan, let allowance, _, _, let lapsed) = appended.last else {
            Issue.record("expected cycle_started, got \(appended)")
            return
        }
        #expect(plan == id("tiny") && allowance == 3000 && lapsed == 1000)
        #expect(w.team("acme").available == 3000)
        #expect(w.decide(.userAdd(team: id("acme"), user: id("bob"), dailyLimit: nil)).isSuccess)
    }

    @Test func removedUsersAndArchivedPods_stopCountingTowardPlanLimits_andStayTaken() {
        var w = MoneyWorld()
        w.given(.planDefined(plan: id("duo"), monthlyTokens: 1000, maxPods: 1, maxMembers: 2))
        w.createTeam("acme", plan: "duo", allowance: 1000)
        w.mustRun(.userAdd(team: id("acme"), user: id("a"), dailyLimit: nil))
        w.mustRun(.userAdd(team: id("acme"), user: id("b"), dailyLimit: nil))
        w.mustRun(.podCreate(team: id("acme"), pod: id("p"), budget: nil, budgetAction: nil))
        #expect(w.decide(.userAdd(team: id("acme"), user: id("c"), dailyLimit: nil)).rejection?.code == .planLimit)
        w.mustRun(.userRemove(team: id("acme"), user: id("a")))
        w.mustRun(.podArchive(team: id("acme"), pod: id("p")))
        #expect(w.decide(.userAdd(team: id("acme"), user: id("a"), dailyLimit: nil)).rejection?.code == .alreadyExists)
        #expect(
            w.decide(.podCreate(team: id("acme"), pod: id("p"), budget: nil, budgetAction: nil)).rejection?.code
                == .alreadyExists)
        #expect(w.decide(Self.consume("a", cost: 1)).rejection?.code == .notFound)
        #expect(w.decide(Self.consume("b", pod: "p", cost: 1)).rejection?.code == .notFound)
        w.mustRun(.userAdd(team: id("acme"), user: id("c"), dailyLimit: nil))
        w.mustRun(.podCreate(team: id("acme"), pod: id("q"), budget: nil, budgetAction: nil))
    }

    @Test func userAssign_refillsTheAllocationAtEachCycleStart() {
        var w = MoneyWorld()
        w.createTeam("acme", plan: "pro", allowance: 100_000)
        w.given(.userAdded(team: id("acme"), user: id("ann"), dailyLimit: -1))
        w.mustRun(.userAssign(team: id("acme"), user: id("ann"), amount: 300))
        w.mustRun(Self.consume("ann", cost: 250))
        #expect(w.team("acme").users[id("ann")]?.allocationLeft == 50)
        #expect(w.decide(Self.consume("ann", cost: 51)).rejection?.scope == .allocation)
        w.advance(to: at("2026-04-10T00:00:00.000Z"))
        #expect(w.team("acme").users[id("ann")]?.allocationLeft == 300)
        #expect(w.decide(Self.consume("ann", cost: 300)).isSuccess)
        #expect(w.decide(Self.consume("ann", cost: 301)).rejection?.scope == .allocation)
    }

    // MARK: - reset (§5)

    @Test func reset_ofATeam_resetsItAndAllItsUsers() throws {
        var w = Self.budgetWorld()
        w.given(.userAdded(team: id("acme"), user: id("bob"), dailyLimit: -1))
        w.mustRun(Self.consume("ann", cost: 30))
        w.mustRun(Self.consume("bob", cost: 20))
        let events = try #require(w.run(.reset(team: id("acme"), user: nil)).events)
        #expect(
            events == [.dailyReset(team: id("acme"), user: nil, day: LocalDay(string: "2026-03-10")!, manual: true)])
        let t = w.team("acme")
        #expect(t.consumedToday == 0)
        #expect(t.users[id("ann")]?.consumedToday == 0)
        #expect(t.users[id("bob")]?.consumedToday == 0)
        #expect(t.consumedCycle == 50)
    }

    @Test func reset_ofAUser_resetsOnlyThatUser() throws {
        var w = Self.budgetWorld()
        w.given(.userAdded(team: id("acme"), user: id("bob"), dailyLimit: -1))
        w.mustRun(Self.consume("ann", cost: 30))
        w.mustRun(Self.consume("bob", cost: 20))
        let events = try #require(w.run(.reset(team: id("acme"), user: id("ann"))).events)
        #expect(
            events == [
                .dailyReset(team: id("acme"), user: id("ann"), day: LocalDay(string: "2026-03-10")!, manual: true)
            ])
        let t = w.team("acme")
        #expect(t.users[id("ann")]?.consumedToday == 0)
        #expect(t.users[id("bob")]?.consumedToday == 20)
        #expect(t.consumedToday == 50)
    }
}

// MARK: - A world with a log

/// `LedgerWorld` plus the log: decisions get the event a command names, and `advance` runs the
/// scheduler as the engine does (every due instant in order, up to and including the target).
struct MoneyWorld {
    var state = LedgerState()
    var now: Instant
    var log: [Event] = []

    /// Defines plan tiny (1000 tokens, 2 pods, 3 members) so that cycle starts know its allowance.
    init(at text: String = "2026-03-10T12:00:00.000Z") {
        now = Instant(rfc3339: text)!
        given(.planDefined(plan: id("tiny"), monthlyTokens: 1000, maxPods: 2, maxMembers: 3))
    }

    static func gpt(_ inputMilli: Int64, _ outputMilli: Int64) -> PriceSpec {
        var p = PriceSpec(model: id("gpt"), kind: .text)
        p.inputWeightMilli = inputMilli
        p.outputWeightMilli = outputMilli
        return p
    }

    @discardableResult
    mutating func given(_ body: EventBody) -> UInt64 {
        let e = Event(seq: state.head + 1, ts: now, body: body)
        state.apply(e)
        log.append(e)
        return e.seq
    }

    @discardableResult
    mutating func createTeam(_ team: String, plan: String, allowance: Int64, dailyLimit: Int64 = -1) -> UInt64 {
        let anchor = ZoneCalendar.utc.day(of: now).day
        given(
            .teamCreated(
                team: id(team), plan: id(plan), timezone: "UTC", dailyLimit: dailyLimit, cycleAnchor: Int64(anchor)))
        return given(
            .cycleStarted(
                team: id(team), plan: id(plan), allowance: allowance, cycleStart: now,
                cycleEnd: ZoneCalendar.utc.nextCycleStart(after: now, anchor: anchor), lapsed: 0))
    }

    func decide(_ c: Command) -> Result<[EventBody], Rejection> {
        var ctx = DecideContext(now: now)
        if let seq = c.referencedSeq, seq >= 1, seq <= UInt64(log.count) { ctx.referenced = log[Int(seq - 1)] }
        return Decider.decide(c, state: state, context: ctx)
    }

    @discardableResult
    mutating func run(_ c: Command) -> Result<[EventBody], Rejection> {
        let r = decide(c)
        if case .success(let bodies) = r { for b in bodies { given(b) } }
        return r
    }

    mutating func mustRun(_ c: Command, sourceLocation: SourceLocation = #_sourceLocation) {
        if case .failure(let r) = run(c) { Issue.record("refused: \(r)", sourceLocation: sourceLocation) }
    }

    /// Runs `c`, which must be accepted, and answers the seq of its first event.
    mutating func runSeq(_ c: Command, sourceLocation: SourceLocation = #_sourceLocation) -> UInt64 {
        let first = state.head + 1
        mustRun(c, sourceLocation: sourceLocation)
        return first
    }

    var lastConsumed: Consumption? {
        for e in log.reversed() { if case .consumed(let c) = e.body { return c } }
        return nil
    }

    /// Moves time to `target`, appending what the scheduler makes due; answers those events.
    @discardableResult
    mutating func advance(to target: Instant) -> [EventBody] {
        var scheduler = Scheduler()
        var s = state
        var appended: [Event] = []
        var cursor = now
        while let due = scheduler.nextDue(state: s, cursor: cursor), due <= target {
            scheduler.fire(at: due, state: &s) { st, body in
                let e = Event(seq: st.head + 1, ts: due, body: body)
                st.apply(e)
                appended.append(e)
            }
            cursor = due
        }
        state = s
        log += appended
        now = target
        return appended.map(\.body)
    }

    func team(_ s: String) -> TeamState { state.teams[id(s)]! }
}
