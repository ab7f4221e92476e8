import Testing

@testable import LedgerCore

/// Given events / when a command / then events or a rejection (PROTOCOL §2, §5, §8).
@Suite struct DeciderTests {
    // MARK: - The world the rejection table runs in

    /// acme (plan tiny: 1000 tokens, 1 pod, 4 members; team daily 600): ann (daily 300),
    /// bob (allocation 200), cat (no limits), dee (daily 100, allocation 50), old (removed);
    /// pod p1, pod gone (archived). lean (pool 50): lee. Model gpt priced 1/1.
    static func world() -> LedgerWorld {
        var w = LedgerWorld()
        w.given(.planDefined(plan: id("tiny"), monthlyTokens: 1000, maxPods: 1, maxMembers: 4))
        w.createTeam("acme", plan: "tiny", dailyLimit: 600, allowance: 1000)
        w.given(.userAdded(team: id("acme"), user: id("ann"), dailyLimit: 300))
        w.given(.userAdded(team: id("acme"), user: id("bob"), dailyLimit: -1))
        w.given(.userAssigned(team: id("acme"), user: id("bob"), amount: 200))
        w.given(.userAdded(team: id("acme"), user: id("cat"), dailyLimit: -1))
        w.given(.userAdded(team: id("acme"), user: id("dee"), dailyLimit: 100))
        w.given(.userAssigned(team: id("acme"), user: id("dee"), amount: 50))
        w.given(.userAdded(team: id("acme"), user: id("old"), dailyLimit: -1))
        w.given(.userRemoved(team: id("acme"), user: id("old")))
        w.given(.podCreated(team: id("acme"), pod: id("p1"), budget: -1, budgetAction: .alert))
        w.given(.podCreated(team: id("acme"), pod: id("gone"), budget: -1, budgetAction: .alert))
        w.given(.podArchived(team: id("acme"), pod: id("gone"), budget: -1, budgetAction: .alert))
        w.createTeam("lean", plan: "tiny", dailyLimit: -1, allowance: 50)
        w.given(.userAdded(team: id("lean"), user: id("lee"), dailyLimit: -1))
        var price = PriceSpec(model: id("gpt"), kind: .text)
        price.inputWeightMilli = 1000
        price.outputWeightMilli = 1000
        w.given(.priceSet(price))
        return w
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var command: Command
        var code: ErrorCode
        var scope: LimitScope?
        var testDescription: String { name }
    }

    static func consume(
        _ team: String, _ user: String, pod: String? = nil, model: String = "gpt", cost: Int64?,
        usage: Usage = Usage(), record: Bool = false
    ) -> Command {
        .consume(
            ConsumeCommand(
                tags: UsageTags(team: id(team), user: id(user), pod: pod.map { id($0) }, model: id(model)),
                usage: usage, cost: cost, record: record))
    }

    static let rejections: [Row] = [
        Row(
            name: "team.create of an existing team → already_exists",
            command: .teamCreate(team: id("acme"), plan: nil, timezone: nil, dailyLimit: nil), code: .alreadyExists),
        Row(
            name: "team.create with an unknown plan → not_found",
            command: .teamCreate(team: id("new"), plan: id("nope"), timezone: nil, dailyLimit: nil), code: .notFound),
        Row(
            name: "team.create with an unknown timezone → bad_request",
            command: .teamCreate(team: id("new"), plan: nil, timezone: "Mars/Olympus", dailyLimit: nil),
            code: .badRequest),
        Row(
            name: "user.add over the plan's max_members → plan_limit",
            command: .userAdd(team: id("acme"), user: id("eve"), dailyLimit: nil), code: .planLimit, scope: .plan),
        Row(
            name: "user.add of an existing user → already_exists",
            command: .userAdd(team: id("acme"), user: id("ann"), dailyLimit: nil), code: .alreadyExists),
        Row(
            name: "user.add of a removed user → already_exists",
            command: .userAdd(team: id("acme"), user: id("old"), dailyLimit: nil), code: .alreadyExists),
        Row(
            name: "user.add to an unknown team → not_found",
            command: .userAdd(team: id("ghost"), user: id("ann"), dailyLimit: nil), code: .notFound),
        Row(
            name: "pod.create over the plan's max_pods → plan_limit",
            command: .podCreate(team: id("acme"), pod: id("p2"), budget: nil, budgetAction: nil), code: .planLimit,
            scope: .plan),
        Row(
            name: "pod.create of an existing pod → already_exists",
            command: .podCreate(team: id("acme"), pod: id("p1"), budget: nil, budgetAction: nil), code: .alreadyExists),
        Row(
            name: "pod.create in an unknown team → not_found",
            command: .podCreate(team: id("ghost"), pod: id("p1"), budget: nil, budgetAction: nil), code: .notFound),
        Row(
            name: "topup of an unknown team → not_found",
            command: .topup(team: id("ghost"), amount: 5, package: nil), code: .notFound),
        Row(name: "consume by an unknown team → not_found", command: consume("ghost", "ann", cost: 1), code: .notFound),
        Row(name: "consume by an unknown user → not_found", command: consume("acme", "zed", cost: 1), code: .notFound),
        Row(name: "consume by a removed user → not_found", command: consume("acme", "old", cost: 1), code: .notFound),
        Row(
            name: "consume in an unknown pod → not_found", command: consume("acme", "ann", pod: "nopod", cost: 1),
            code: .notFound),
        Row(
            name: "consume in an archived pod → not_found", command: consume("acme", "ann", pod: "gone", cost: 1),
            code: .notFound),
        Row(
            name: "consume of an unknown model without cost → not_found",
            command: consume("acme", "ann", model: "mystery", cost: nil, usage: Usage(inputTokens: 1)),
            code: .notFound),
        Row(
            name: "record:true does not skip existence checks → not_found",
            command: consume("acme", "zed", cost: 1, record: true), code: .notFound),
        Row(
            name: "consume past the team's daily limit → team_daily",
            command: consume("acme", "cat", cost: 601), code: .dailyLimitExceeded, scope: .teamDaily),
        Row(
            name: "consume past the user's daily limit → user_daily",
            command: consume("acme", "ann", cost: 301), code: .dailyLimitExceeded, scope: .userDaily),
        Row(
            name: "consume past the user's allocation → allocation",
            command: consume("acme", "bob", cost: 201), code: .insufficientTokens, scope: .allocation),
        Row(
            name: "consume past the pool → pool",
            command: consume("lean", "lee", cost: 51), code: .insufficientTokens, scope: .pool),
        Row(
            name: "team daily is checked before user daily",
            command: consume("acme", "ann", cost: 700), code: .dailyLimitExceeded, scope: .teamDaily),
        Row(
            name: "team daily is checked before the allocation",
            command: consume("acme", "bob", cost: 601), code: .dailyLimitExceeded, scope: .teamDaily),
        Row(
            name: "user daily is checked before the allocation",
            command: consume("acme", "dee", cost: 101), code: .dailyLimitExceeded, scope: .userDaily),
        Row(
            name: "the allocation is checked before the pool",
            command: consume("acme", "dee", cost: 51), code: .insufficientTokens, scope: .allocation),
        Row(
            name: "a priced usage past a limit is refused like a given cost",
            command: consume("acme", "ann", cost: nil, usage: Usage(inputTokens: 200, outputTokens: 101)),
            code: .dailyLimitExceeded, scope: .userDaily),
        Row(
            name: "a priced cost above 2^53-1 → bad_request",
            command: consume(
                "acme", "ann", model: "gpt", cost: nil,
                usage: Usage(inputTokens: 9_007_199_254_740_991, outputTokens: 1)),
            code: .badRequest),
    ]

    @Test(arguments: DeciderTests.rejections)
    func decide_whenALimitOrLookupRefuses_rejectsWithItsCodeAndScope(_ row: Row) {
        let w = Self.world()
        switch w.decide(row.command) {
        case .success(let events):
            Issue.record("accepted, appending \(events.map(\.type))")
        case .failure(let r):
            #expect(r.code == row.code, "\(r.message)")
            #expect(r.scope == row.scope, "\(r.message)")
            #expect(!r.message.isEmpty)
        }
    }

    @Test(
        arguments: [
            ("the team's daily limit exactly", DeciderTests.consume("acme", "cat", cost: 600)),
            ("the user's daily limit exactly", DeciderTests.consume("acme", "ann", cost: 300)),
            ("the allocation exactly", DeciderTests.consume("acme", "bob", cost: 200)),
            ("the pool exactly", DeciderTests.consume("lean", "lee", cost: 50)),
            ("both of dee's limits exactly", DeciderTests.consume("acme", "dee", cost: 50)),
            ("a zero cost", DeciderTests.consume("lean", "lee", cost: 0)),
            ("an unknown model with a given cost", DeciderTests.consume("acme", "ann", model: "mystery", cost: 7)),
            (
                "a priced usage",
                DeciderTests.consume("acme", "ann", cost: nil, usage: Usage(inputTokens: 200, outputTokens: 100))
            ),
        ] as [(String, Command)])
    func decide_whenReachingALimitExactly_accepts(name: String, command: Command) {
        let w = Self.world()
        guard case .success(let events) = w.decide(command) else {
            Issue.record("\(name) was refused: \(w.decide(command))")
            return
        }
        #expect(events.map(\.type) == ["consumed"])
    }

    @Test func decide_whenEarlierConsumptionCounts_refusesOnlyPastTheLimit() {
        var w = Self.world()
        #expect(w.run(Self.consume("acme", "ann", cost: 250)).isSuccess)
        #expect(w.decide(Self.consume("acme", "ann", cost: 50)).isSuccess)
        #expect(w.decide(Self.consume("acme", "ann", cost: 51)).rejection?.scope == .userDaily)
        #expect(w.run(Self.consume("acme", "cat", cost: 350)).isSuccess)
        // The team has 600 - 600 = 0 left today; cat has no limit of its own.
        #expect(w.decide(Self.consume("acme", "cat", cost: 1)).rejection?.scope == .teamDaily)
        #expect(w.decide(Self.consume("acme", "cat", cost: 0)).isSuccess)
    }

    @Test func decide_whenAllocationPartlyUsed_refusesPastWhatIsLeft() {
        var w = Self.world()
        #expect(w.run(Self.consume("acme", "bob", cost: 150)).isSuccess)
        #expect(w.team("acme").users[id("bob")]?.allocationLeft == 50)
        #expect(w.decide(Self.consume("acme", "bob", cost: 51)).rejection?.scope == .allocation)
        #expect(w.decide(Self.consume("acme", "bob", cost: 50)).isSuccess)
    }

    // MARK: - record:true

    @Test func decide_whenRecordPastThePool_acceptsAndOverdraftsTheUncoveredPart() throws {
        var w = Self.world()
        let bucket = try #require(w.team("lean").buckets.first?.seq)
        let events = try #require(w.run(Self.consume("lean", "lee", cost: 80, record: true)).events)
        guard case .consumed(let c) = events.first else {
            Issue.record("expected consumed, got \(events)")
            return
        }
        #expect(c.draws == [Draw(bucketSeq: bucket, amount: 50)])
        #expect(c.overdraft == 30)
        #expect(c.record)
        #expect(w.team("lean").available == 0)
        #expect(w.team("lean").overdraft == 30)
    }

    @Test func decide_whenRecordPastEveryLimit_neverRefuses() throws {
        let w = Self.world()
        for user in ["ann", "bob", "cat", "dee"] {
            let events = try #require(w.decide(Self.consume("acme", user, cost: 5000, record: true)).events)
            guard case .consumed(let c) = events.first else {
                Issue.record("expected consumed")
                continue
            }
            #expect(c.draws.reduce(0) { $0 + $1.amount } == 1000)
            #expect(c.overdraft == 4000)
        }
    }

    @Test func decide_whenOverdrawnAndToppedUp_repaysTheOverdraftFirst() throws {
        var w = Self.world()
        w.run(Self.consume("lean", "lee", cost: 80, record: true))
        w.run(.topup(team: id("lean"), amount: 100, package: nil))
        #expect(w.team("lean").overdraft == 0)
        #expect(w.team("lean").available == 70)
        w.run(.topup(team: id("lean"), amount: 5, package: nil))
        #expect(w.team("lean").available == 75)
    }

    // MARK: - Spend order (§8)

    @Test func draws_whenAllowanceBonusAndTopup_spendBonusThenAllowanceThenTopup() throws {
        var w = LedgerWorld()
        let allowance = w.createTeam("order", plan: "pro", dailyLimit: -1, allowance: 1000)
        w.given(.userAdded(team: id("order"), user: id("u"), dailyLimit: -1))
        let topup = w.given(.topup(team: id("order"), amount: 500, package: nil))
        let bonus = w.given(
            .bonusGranted(team: id("order"), amount: 300, reason: .gift, expiresAt: at("2026-03-20T00:00:00.000Z")))
        // then
        let events = try #require(w.run(Self.consume("order", "u", cost: 1400)).events)
        guard case .consumed(let c) = events.first else {
            Issue.record("expected consumed")
            return
        }
        #expect(
            c.draws == [
                Draw(bucketSeq: bonus, amount: 300), Draw(bucketSeq: allowance, amount: 1000),
                Draw(bucketSeq: topup, amount: 100),
            ])
        #expect(c.overdraft == 0)
        #expect(w.team("order").buckets.map(\.amount) == [0, 0, 400])
        // The next consume continues in the top-up.
        let next = try #require(w.decide(Self.consume("order", "u", cost: 10)).events)
        guard case .consumed(let c2) = next.first else { return }
        #expect(c2.draws == [Draw(bucketSeq: topup, amount: 10)])
    }

    @Test func draws_whenExpiriesTie_spendBonusBeforeAllowanceAndLaterExpiriesAfter() throws {
        var w = LedgerWorld()
        let allowance = w.createTeam("order", plan: "pro", dailyLimit: -1, allowance: 1000)
        let cycleEnd = w.team("order").cycleEnd
        w.given(.userAdded(team: id("order"), user: id("u"), dailyLimit: -1))
        let topup = w.given(.topup(team: id("order"), amount: 500, package: nil))
        let late = w.given(
            .bonusGranted(team: id("order"), amount: 200, reason: .event, expiresAt: at("2026-05-01T00:00:00.000Z")))
        let tie = w.given(.bonusGranted(team: id("order"), amount: 100, reason: .loyalty, expiresAt: cycleEnd))
        let soon = w.given(
            .bonusGranted(team: id("order"), amount: 300, reason: .gift, expiresAt: at("2026-03-20T00:00:00.000Z")))
        let events = try #require(w.decide(Self.consume("order", "u", cost: 1900)).events)
        guard case .consumed(let c) = events.first else { return }
        #expect(
            c.draws == [
                Draw(bucketSeq: soon, amount: 300), Draw(bucketSeq: tie, amount: 100),
                Draw(bucketSeq: allowance, amount: 1000), Draw(bucketSeq: late, amount: 200),
                Draw(bucketSeq: topup, amount: 300),
            ])
    }

    @Test func draws_whenPoolIsUnlimited_neverDrawsEvenFromATopup() throws {
        var w = LedgerWorld()
        w.createTeam("big", plan: "enterprise", dailyLimit: -1, allowance: -1)
        w.given(.userAdded(team: id("big"), user: id("u"), dailyLimit: -1))
        w.given(.topup(team: id("big"), amount: 100, package: nil))
        #expect(w.team("big").available == -1)
        let events = try #require(w.run(Self.consume("big", "u", cost: 1_000_000_000_000)).events)
        guard case .consumed(let c) = events.first else { return }
        #expect(c.draws == [])
        #expect(c.overdraft == 0)
        #expect(w.team("big").buckets.map(\.amount) == [100])
        #expect(w.team("big").consumedCycle == 1_000_000_000_000)
        let recorded = try #require(w.decide(Self.consume("big", "u", cost: 5, record: true)).events)
        guard case .consumed(let r) = recorded.first else { return }
        #expect(r.draws == [] && r.overdraft == 0)
    }

    // MARK: - Setup commands

    @Test func decide_whenTeamCreated_startsTheFirstCycleAtOnceWithTheFullAllowance() throws {
        let w = LedgerWorld(at: "2026-03-10T12:00:00.000Z")
        let events = try #require(
            Decider.decide(
                .teamCreate(team: id("t"), plan: id("starter"), timezone: nil, dailyLimit: nil), state: w.state,
                context: DecideContext(now: w.now, defaultDailyLimit: 777)
            ).events)
        #expect(
            events == [
                .teamCreated(team: id("t"), plan: id("starter"), timezone: "UTC", dailyLimit: 777, cycleAnchor: 10),
                .cycleStarted(
                    team: id("t"), plan: id("starter"), allowance: 2_000_000, cycleStart: w.now,
                    cycleEnd: at("2026-04-10T00:00:00.000Z"), lapsed: 0),
            ])
    }

    @Test(
        arguments: [
            ("2026-01-31T12:00:00.000Z", "UTC", 31, "2026-02-28T00:00:00.000Z"),
            ("2028-01-31T12:00:00.000Z", "UTC", 31, "2028-02-29T00:00:00.000Z"),
            ("2026-03-10T12:00:00.000Z", "America/New_York", 10, "2026-04-10T04:00:00.000Z"),
            ("2026-03-10T23:30:00.000Z", "Europe/Madrid", 11, "2026-04-10T22:00:00.000Z"),
        ] as [(String, String, Int64, String)])
    func decide_whenTeamCreated_anchorsTheCycleOnTheLocalDay(now: String, zone: String, anchor: Int64, end: String)
        throws
    {
        let w = LedgerWorld(at: now)
        let events = try #require(
            w.decide(.teamCreate(team: id("t"), plan: nil, timezone: zone, dailyLimit: 5)).events)
        guard case .teamCreated(_, let plan, let tz, let daily, let a) = events.first,
            case .cycleStarted(_, _, let allowance, let start, let cycleEnd, _) = events.last
        else {
            Issue.record("unexpected events \(events)")
            return
        }
        #expect(plan == id("solo") && tz == zone && daily == 5)
        #expect(a == anchor)
        #expect(allowance == 500_000)
        #expect(start == w.now)
        #expect(cycleEnd == at(end))
    }

    @Test func decide_whenMembersRemovedOrPodsArchived_theyStopCountingTowardPlanLimits() {
        var w = LedgerWorld()
        w.createTeam("s", plan: "solo", dailyLimit: -1, allowance: 500_000)
        #expect(w.run(.userAdd(team: id("s"), user: id("a"), dailyLimit: nil)).isSuccess)
        #expect(w.decide(.userAdd(team: id("s"), user: id("b"), dailyLimit: nil)).rejection?.code == .planLimit)
        w.given(.userRemoved(team: id("s"), user: id("a")))
        #expect(w.decide(.userAdd(team: id("s"), user: id("b"), dailyLimit: nil)).isSuccess)
        #expect(w.run(.podCreate(team: id("s"), pod: id("p"), budget: nil, budgetAction: nil)).isSuccess)
        #expect(
            w.decide(.podCreate(team: id("s"), pod: id("q"), budget: nil, budgetAction: nil)).rejection?.code
                == .planLimit)
        w.given(.podArchived(team: id("s"), pod: id("p"), budget: -1, budgetAction: .alert))
        #expect(w.decide(.podCreate(team: id("s"), pod: id("q"), budget: nil, budgetAction: nil)).isSuccess)
    }

    @Test func decide_whenUnlimitedPlan_neverRefusesMembersOrPods() {
        var w = LedgerWorld()
        w.createTeam("p", plan: "pro", dailyLimit: -1, allowance: 10_000_000)
        for i in 0..<20 {
            #expect(w.run(.userAdd(team: id("p"), user: id("u\(i)"), dailyLimit: nil)).isSuccess)
            #expect(w.run(.podCreate(team: id("p"), pod: id("p\(i)"), budget: nil, budgetAction: nil)).isSuccess)
        }
    }

    @Test func decide_isPure_sameCommandSameStateSameAnswer() {
        let w = Self.world()
        for row in Self.rejections {
            #expect(w.decide(row.command) == w.decide(row.command))
        }
        let c = Self.consume("acme", "ann", cost: nil, usage: Usage(inputTokens: 3, outputTokens: 4))
        #expect(w.decide(c) == w.decide(c))
    }
}

// MARK: - Helpers shared by the core tests

func id(_ s: String) -> ID { ID(s)! }
func at(_ s: String) -> Instant { Instant(rfc3339: s)! }

/// A state built by applying events (`given`), and the decider run against it.
struct LedgerWorld {
    var state = LedgerState()
    var now: Instant

    init(at text: String = "2026-03-10T12:00:00.000Z") { now = Instant(rfc3339: text)! }

    @discardableResult
    mutating func given(_ body: EventBody, at ts: Instant? = nil) -> UInt64 {
        let e = Event(seq: state.head + 1, ts: ts ?? now, body: body)
        state.apply(e)
        return e.seq
    }

    /// Creates a team with its first cycle (UTC, anchored on today), returning the allowance's seq.
    @discardableResult
    mutating func createTeam(_ team: String, plan: String, dailyLimit: Int64, allowance: Int64) -> UInt64 {
        let zone = ZoneCalendar.utc
        let anchor = zone.day(of: now).day
        given(
            .teamCreated(
                team: id(team), plan: id(plan), timezone: "UTC", dailyLimit: dailyLimit, cycleAnchor: Int64(anchor)))
        return given(
            .cycleStarted(
                team: id(team), plan: id(plan), allowance: allowance, cycleStart: now,
                cycleEnd: zone.nextCycleStart(after: now, anchor: anchor), lapsed: 0))
    }

    func decide(_ c: Command) -> Result<[EventBody], Rejection> {
        Decider.decide(c, state: state, context: DecideContext(now: now))
    }

    /// Decides and, when accepted, applies the events.
    @discardableResult
    mutating func run(_ c: Command) -> Result<[EventBody], Rejection> {
        let r = decide(c)
        if case .success(let bodies) = r { for b in bodies { given(b) } }
        return r
    }

    func team(_ s: String) -> TeamState { state.teams[id(s)]! }
}

extension Result where Success == [EventBody], Failure == Rejection {
    var isSuccess: Bool { if case .success = self { true } else { false } }
    var events: [EventBody]? { if case .success(let e) = self { e } else { nil } }
    var rejection: Rejection? { if case .failure(let r) = self { r } else { nil } }
}
