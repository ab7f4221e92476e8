import Testing

@testable import LedgerCore

/// PROTOCOL §8 `status` and `warnings`: E is the least of the pool's available, the user's
/// allocation left and what remains of the team's and the user's daily limits.
@Suite struct StatusTests {
    /// Team t with a pool of `pool`, the given team daily limit, and user u.
    static func world(pool: Int64, teamDaily: Int64 = -1, userDaily: Int64 = -1, allocation: Int64? = nil)
        -> LedgerWorld
    {
        var w = LedgerWorld()
        w.createTeam("t", plan: "pro", dailyLimit: teamDaily, allowance: pool)
        w.given(.userAdded(team: id("t"), user: id("u"), dailyLimit: userDaily))
        if let allocation { w.given(.userAssigned(team: id("t"), user: id("u"), amount: allocation)) }
        return w
    }

    static func consumed(_ w: inout LedgerWorld, _ cost: Int64, record: Bool = false) {
        let r = w.run(
            .consume(
                ConsumeCommand(
                    tags: UsageTags(team: id("t"), user: id("u"), model: id("m")), usage: Usage(), cost: cost,
                    record: record)))
        #expect(r.isSuccess, "consume \(cost) refused: \(String(describing: r.rejection))")
    }

    static func status(_ w: LedgerWorld, user: Bool = true) -> (status: String, warnings: [String]) {
        let t = w.team("t")
        return Views.status(team: t, user: user ? t.users[id("u")] : nil)
    }

    @Test(
        arguments: [
            (0, "green", [String]()),
            (799, "green", []),
            (800, "green", []),  // E = 200, 20% of (200 + 800) = 200: not below
            (801, "yellow", ["low_balance"]),  // E = 199 < 200
            (999, "yellow", ["low_balance"]),
            (1000, "red", []),  // E = 0
        ] as [(Int64, String, [String])])
    func status_ofThePool_isRedAtZeroYellowBelowTwentyPercentElseGreen(
        consumed: Int64, expected: String, warnings: [String]
    ) {
        var w = Self.world(pool: 1000)
        if consumed > 0 { Self.consumed(&w, consumed) }
        let s = Self.status(w)
        #expect(s.status == expected)
        #expect(s.warnings == warnings)
    }

    @Test func status_whenNothingIsLimited_isGreen() {
        var w = LedgerWorld()
        w.createTeam("t", plan: "enterprise", dailyLimit: -1, allowance: -1)
        w.given(.userAdded(team: id("t"), user: id("u"), dailyLimit: -1))
        Self.consumed(&w, 1_000_000)
        #expect(Self.status(w).status == "green")
        #expect(Self.status(w).warnings == [])
    }

    @Test func status_whenTeamDailyLimitIsTheLeast_usesWhatRemainsOfIt() {
        var w = Self.world(pool: 100_000, teamDaily: 100)
        Self.consumed(&w, 90)
        // E = min(99910, 10) = 10 < 20% of (10 + 90).
        #expect(Self.status(w) == ("yellow", ["near_daily_limit", "low_balance"]))
        Self.consumed(&w, 10)
        #expect(Self.status(w).status == "red")
    }

    @Test func status_whenUserDailyLimitIsTheLeast_countsOnlyWithAUser() {
        var w = Self.world(pool: 100_000, userDaily: 100)
        Self.consumed(&w, 100)
        #expect(Self.status(w).status == "red")
        #expect(Self.status(w).warnings == ["near_daily_limit"])
        // Without a user, only the pool and the team's daily limit count.
        #expect(Self.status(w, user: false) == ("green", []))
    }

    @Test func status_whenAllocationIsUsedUp_isRedForThatUser() {
        var w = Self.world(pool: 100_000, allocation: 100)
        Self.consumed(&w, 100)
        #expect(Self.status(w).status == "red")
        #expect(Self.status(w, user: false).status == "green")
    }

    @Test(
        arguments: [
            (799, false), (800, true), (1000, true),
        ] as [(Int64, Bool)])
    func warnings_nearDailyLimit_fromEightyPercentOfTheTeamLimit(consumed: Int64, near: Bool) {
        var w = Self.world(pool: 1_000_000, teamDaily: 1000)
        Self.consumed(&w, consumed)
        #expect(Self.status(w).warnings.contains("near_daily_limit") == near)
        #expect(Self.status(w, user: false).warnings.contains("near_daily_limit") == near)
    }

    @Test(arguments: [(79, false), (80, true)] as [(Int64, Bool)])
    func warnings_nearDailyLimit_fromEightyPercentOfTheUserLimit(consumed: Int64, near: Bool) {
        var w = Self.world(pool: 1_000_000, userDaily: 100)
        Self.consumed(&w, consumed)
        #expect(Self.status(w).warnings.contains("near_daily_limit") == near)
        #expect(!Self.status(w, user: false).warnings.contains("near_daily_limit"))
    }

    @Test func warnings_whenOverdrawn_sayOverdraftAndStatusIsRed() {
        var w = Self.world(pool: 100)
        Self.consumed(&w, 130, record: true)
        #expect(w.team("t").overdraft == 30)
        #expect(Self.status(w) == ("red", ["overdraft"]))
    }

    @Test func warnings_whenNearLimitLowAndOverdrawn_comeInContractOrder() {
        var w = Self.world(pool: 1000, teamDaily: 10_000)
        Self.consumed(&w, 1500, record: true)  // pool 0, overdraft 500, today 1500
        w.given(.topup(team: id("t"), amount: 600, package: nil))  // repays 500, pool 100
        #expect(w.team("t").overdraft == 0)
        Self.consumed(&w, 6500, record: true)  // overdraft 6400, today 8000 = 80% of 10000
        #expect(Self.status(w).warnings == ["near_daily_limit", "overdraft"])
    }

    @Test func balance_listsNonEmptyBucketsInSpendOrder() throws {
        var w = Self.world(pool: 1000)
        let topup = w.given(.topup(team: id("t"), amount: 50, package: nil))
        Self.consumed(&w, 1000)
        let b = Views.balance(team: w.team("t"), user: id("u"), now: w.now)
        #expect(b["available"] == .int(50))
        #expect(
            b["buckets"]
                == .array([
                    .object(["seq": .int(topup), "source": .string("topup"), "amount": .int(50), "expires_at": .null])
                ]))
        #expect(b["consumed_cycle"] == .int(1000))
        #expect(b["resets_at"] == .string("2026-03-11T00:00:00.000Z"))
        #expect(b["user"]?.objectValue?["allocation_left"] == .int(-1))
    }
}
