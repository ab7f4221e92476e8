import LedgerJSON
import LedgerTestKit
import Testing

/// The scheduler (§6) on the manual clock across time-zone edge cases (§3: a repeated midnight
/// counts once, a skipped midnight starts the day at its first instant), cycle anchors (§5), plan
/// changes at roll-over, bonus expiry and holds open across midnight and a cycle start.
/// Every check reads the events from `audit`: their types, `ts` and order.
@Suite("Scheduler zones")
struct SchedulerZoneTests {
    static func clock(_ at: String) -> [String] { ["--clock", "manual=\(at)"] }

    /// Events of `team` of the scheduler's types after `after`, in seq order.
    static func scheduled(_ ledger: Ledger, team: String = "t", after: Int = 0) throws -> [JSON] {
        try ledger.audit(
            ["team": .string(team), "types": ["daily_reset", "cycle_started", "bonus_expired", "hold_expired"]],
            after: after)
    }

    static func summary(_ events: [JSON]) -> [String] {
        events.map { "\($0["type"]?.string ?? "?")@\($0["ts"]?.string ?? "?")" }
    }

    /// Consumes 1 (so a reset is due), checks `resets_at`, then walks the clock to one second
    /// before `midnight` (nothing due) and to `midnight` itself (one `daily_reset` for `day`).
    static func crossMidnight(
        _ ledger: Ledger, midnight: String, day: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let consumed = try ledger.ok(
            "consume", ["team": "t", "user": "u", "model": "m", "cost": 1, "key": .string(Ledger.freshKey())])
        let balance = try ledger.ok("balance", ["team": "t"])
        #expect(
            balance["resets_at"]?.string == midnight, "resets_at before \(day): \(balance.line)",
            sourceLocation: sourceLocation)
        let head = try ledger.seq()
        try ledger.ok("clock.set", ["at": .string(Time.adding(-1, to: midnight))])
        let early = try ledger.audit(["team": "t", "types": ["daily_reset"]], after: head)
        #expect(
            early.isEmpty, "no reset one second before \(midnight): \(summary(early))", sourceLocation: sourceLocation)
        let set = try ledger.ok("clock.set", ["at": .string(midnight)])
        #expect(set["now"]?.string == midnight, sourceLocation: sourceLocation)
        let resets = try ledger.audit(["team": "t", "types": ["daily_reset"]], after: head)
        #expect(resets.count == 1, "one daily_reset at \(midnight): \(summary(resets))", sourceLocation: sourceLocation)
        if let reset = resets.first {
            #expect(reset["ts"]?.string == midnight, "\(reset.line)", sourceLocation: sourceLocation)
            #expect(reset["day"]?.string == day, "\(reset.line)", sourceLocation: sourceLocation)
            #expect(reset["manual"]?.bool == false, sourceLocation: sourceLocation)
            #expect((reset["seq"]?.int ?? 0) > (consumed["seq"]?.int ?? .max), sourceLocation: sourceLocation)
        }
        #expect(
            try ledger.ok("balance", ["team": "t"])["consumed_today"]?.int == 0, "reset at \(midnight)",
            sourceLocation: sourceLocation)
    }

    // MARK: Daily resets across DST and odd offsets

    @Test func newYork_springForward_dayStartsAtFiveThenFourUTC() throws {
        try withLedger(Self.clock("2026-03-07T12:00:00.000Z")) { ledger in
            try ledger.makeTeam("t", timezone: "America/New_York")
            try Self.crossMidnight(ledger, midnight: "2026-03-08T05:00:00.000Z", day: "2026-03-08")
            try Self.crossMidnight(ledger, midnight: "2026-03-09T04:00:00.000Z", day: "2026-03-09")
            #expect(
                Self.summary(try Self.scheduled(ledger).filter { $0["type"]?.string == "daily_reset" }) == [
                    "daily_reset@2026-03-08T05:00:00.000Z", "daily_reset@2026-03-09T04:00:00.000Z",
                ])
        }
    }

    @Test func newYork_fallBack_dayStartsAtFourThenFiveUTC() throws {
        try withLedger(Self.clock("2026-10-31T12:00:00.000Z")) { ledger in
            try ledger.makeTeam("t", timezone: "America/New_York")
            try Self.crossMidnight(ledger, midnight: "2026-11-01T04:00:00.000Z", day: "2026-11-01")
            try Self.crossMidnight(ledger, midnight: "2026-11-02T05:00:00.000Z", day: "2026-11-02")
        }
    }

    @Test func havana_repeatedMidnight_countsOnceForTheResetAndTheCycle() throws {
        // Created on Oct 1 local (08:00 at UTC-4): the cycle anchor is 1, so a cycle starts at the
        // local midnight of Nov 1, which Havana repeats (00:59:59 CDT → 00:00 CST).
        try withLedger(Self.clock("2026-10-01T12:00:00.000Z")) { ledger in
            try ledger.makeTeam("t", timezone: "America/Havana")
            let created = try #require(try ledger.audit(["team": "t", "types": ["team_created"]]).first)
            #expect(created["cycle_anchor"]?.int == 1)
            let first = try #require(try ledger.audit(["team": "t", "types": ["cycle_started"]]).first)
            #expect(first["cycle_end"]?.string == "2026-11-01T04:00:00.000Z")

            try ledger.ok("clock.set", ["at": "2026-10-31T12:00:00.000Z"])
            let head = try ledger.seq()
            try ledger.ok("consume", ["team": "t", "user": "u", "model": "m", "cost": 1, "key": "before-nov-1"])
            // Past both 00:00 local of Nov 1 (04:00Z and 05:00Z) and on to just before Nov 2.
            try ledger.ok("clock.set", ["at": "2026-11-01T06:00:00.000Z"])
            try ledger.ok("clock.set", ["at": "2026-11-02T04:59:59.000Z"])
            let events = try Self.scheduled(ledger, after: head)
            #expect(
                Self.summary(events) == [
                    "daily_reset@2026-11-01T04:00:00.000Z", "cycle_started@2026-11-01T04:00:00.000Z",
                ],
                "exactly one reset and one cycle start, at the first 00:00, reset first")
            let reset = try #require(events.first)
            #expect(reset["day"]?.string == "2026-11-01")
            let cycle = try #require(events.last)
            #expect(cycle["cycle_start"]?.string == "2026-11-01T04:00:00.000Z")
            #expect(cycle["cycle_end"]?.string == "2026-12-01T05:00:00.000Z", "Dec 1 local midnight at UTC-5")
            #expect(cycle["lapsed"]?.int == 500_000 - 1)

            // The next day starts at 05:00Z.
            try Self.crossMidnight(ledger, midnight: "2026-11-02T05:00:00.000Z", day: "2026-11-02")
        }
    }

    @Test func santiago_skippedMidnight_dayStartsAtItsFirstInstant() throws {
        // Created on Aug 6 local: anchor 6, so the next cycle starts on Sep 6, whose midnight is skipped.
        try withLedger(Self.clock("2026-08-06T12:00:00.000Z")) { ledger in
            try ledger.makeTeam("t", timezone: "America/Santiago")
            let first = try #require(try ledger.audit(["team": "t", "types": ["cycle_started"]]).first)
            #expect(first["cycle_end"]?.string == "2026-09-06T04:00:00.000Z", "Sep 6 starts at 01:00 -03")
            try ledger.ok("clock.set", ["at": "2026-09-05T12:00:00.000Z"])
            let head = try ledger.seq()
            try Self.crossMidnight(ledger, midnight: "2026-09-06T04:00:00.000Z", day: "2026-09-06")
            try Self.crossMidnight(ledger, midnight: "2026-09-07T03:00:00.000Z", day: "2026-09-07")
            #expect(
                Self.summary(try Self.scheduled(ledger, after: head)) == [
                    "daily_reset@2026-09-06T04:00:00.000Z", "cycle_started@2026-09-06T04:00:00.000Z",
                    "daily_reset@2026-09-07T03:00:00.000Z",
                ])
        }
    }

    @Test func kathmandu_quarterHourOffset() throws {
        try withLedger(Self.clock("2026-01-01T12:00:00.000Z")) { ledger in
            try ledger.makeTeam("t", timezone: "Asia/Kathmandu")
            let first = try #require(try ledger.audit(["team": "t", "types": ["cycle_started"]]).first)
            #expect(first["cycle_end"]?.string == "2026-01-31T18:15:00.000Z", "Feb 1 local midnight at +05:45")
            try Self.crossMidnight(ledger, midnight: "2026-01-01T18:15:00.000Z", day: "2026-01-02")
            try Self.crossMidnight(ledger, midnight: "2026-01-02T18:15:00.000Z", day: "2026-01-03")
        }
    }

    // MARK: Cycles

    @Test func cycleAnchoredOnThe31st_startsOnTheLastDayOfShorterMonths() throws {
        // 10:00 local on Jan 31 in New York: anchor 31.
        try withLedger(Self.clock("2026-01-31T15:00:00.000Z")) { ledger in
            try ledger.makeTeam("t", timezone: "America/New_York")
            let created = try #require(try ledger.audit(["team": "t", "types": ["team_created"]]).first)
            #expect(created["cycle_anchor"]?.int == 31)
            try ledger.ok("clock.set", ["at": "2026-04-30T12:00:00.000Z"])
            let cycles = try ledger.audit(["team": "t", "types": ["cycle_started"]])
            #expect(
                Self.summary(cycles) == [
                    "cycle_started@2026-01-31T15:00:00.000Z", "cycle_started@2026-02-28T05:00:00.000Z",
                    "cycle_started@2026-03-31T04:00:00.000Z", "cycle_started@2026-04-30T04:00:00.000Z",
                ])
            #expect(cycles.map { $0["cycle_start"]?.string } == cycles.map { $0["ts"]?.string })
            #expect(
                cycles.map { $0["cycle_end"]?.string } == [
                    "2026-02-28T05:00:00.000Z", "2026-03-31T04:00:00.000Z", "2026-04-30T04:00:00.000Z",
                    "2026-05-31T04:00:00.000Z",
                ])
        }
    }

    @Test func rollOverWithAPlanChange_grantsTheNewPlanAndLapsesTheUnusedAllowance() throws {
        try withLedger { ledger in
            try ledger.ok("plan.define", ["plan": "small", "monthly_tokens": 100, "max_pods": -1, "max_members": -1])
            try ledger.ok("plan.define", ["plan": "big", "monthly_tokens": 500, "max_pods": -1, "max_members": -1])
            try ledger.makeTeam("t", plan: "small")
            try ledger.ok("consume", ["team": "t", "user": "u", "model": "m", "cost": 30, "key": "c1"])
            try ledger.ok("topup", ["team": "t", "amount": 7, "key": "t1"])
            try ledger.ok("team.configure", ["team": "t", "plan": "big"])
            let before = try ledger.ok("balance", ["team": "t"])
            #expect(before["plan"]?.string == "small", "the plan takes effect at the next cycle: \(before.line)")
            #expect(before["next_plan"]?.string == "big")
            #expect(before["available"]?.int == 77)
            let configured = try #require(try ledger.audit(["types": ["team_configured"]]).last)
            #expect(configured["plan"]?.string == "big")

            try ledger.ok("clock.set", ["at": "2026-02-15T00:00:00.000Z"])
            let cycle = try #require(try ledger.audit(["team": "t", "types": ["cycle_started"]]).last)
            #expect(cycle["ts"]?.string == "2026-02-15T00:00:00.000Z")
            #expect(cycle["plan"]?.string == "big")
            #expect(cycle["allowance"]?.int == 500)
            #expect(cycle["lapsed"]?.int == 70, "unused allowance lapses; the top-up does not")
            #expect(cycle["cycle_end"]?.string == "2026-03-15T00:00:00.000Z")
            let after = try ledger.ok("balance", ["team": "t"])
            #expect(after["plan"]?.string == "big")
            #expect(after["available"]?.int == 507, "\(after.line)")
            #expect(after["consumed_cycle"]?.int == 0)
        }
    }

    // MARK: Bonus expiry

    @Test func bonusExpiringAtACycleStart_expiresBeforeTheResetAndTheCycleStartAtTheSameTs() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let bonus = try ledger.ok(
                "bonus.grant",
                ["team": "t", "amount": 50, "reason": "gift", "expires_at": "2026-02-15T00:00:00.000Z", "key": "b1"])
            let bonusSeq = try #require(bonus["seq"]?.int)
            try ledger.ok("clock.set", ["at": "2026-02-14T12:00:00.000Z"])
            // Bonus and allowance expire together: the tie goes to the bonus (§8).
            let consumed = try ledger.ok("consume", ["team": "t", "user": "u", "model": "m", "cost": 10, "key": "c1"])
            let event = try #require(try ledger.audit(["types": ["consumed"]]).last)
            #expect(event["draws"] == [["bucket_seq": JSON(bonusSeq), "amount": 10]], "\(event.line)")
            let head = try #require(consumed["seq"]?.int)
            try ledger.ok("clock.set", ["at": "2026-02-15T00:00:00.000Z"])
            let events = try Self.scheduled(ledger, after: head)
            #expect(
                Self.summary(events) == [
                    "bonus_expired@2026-02-15T00:00:00.000Z", "daily_reset@2026-02-15T00:00:00.000Z",
                    "cycle_started@2026-02-15T00:00:00.000Z",
                ], "expiries, then daily_reset, then cycle_started")
            let expired = try #require(events.first)
            #expect(expired["bonus_seq"]?.int == bonusSeq)
            #expect(expired["amount"]?.int == 40, "only the unspent part expires")
            #expect(events.last?["lapsed"]?.int == 500_000, "the allowance was untouched")
            let balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["available"]?.int == 500_000, "\(balance.line)")
        }
    }

    @Test func bonusExpiry_removesOnlyTheUnspentPart_andNothingWhenAllWasSpent() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let partial = try ledger.ok(
                "bonus.grant",
                ["team": "t", "amount": 100, "reason": "event", "expires_at": "2026-01-20T12:00:00.000Z", "key": "b1"])
            let spent = try ledger.ok(
                "bonus.grant",
                ["team": "t", "amount": 20, "reason": "loyalty", "expires_at": "2026-01-18T12:00:00.000Z", "key": "b2"])
            // Soonest expiry first: 20 from the Jan 18 bonus, then 30 from the Jan 20 one.
            try ledger.ok("consume", ["team": "t", "user": "u", "model": "m", "cost": 50, "key": "c1"])
            #expect(try ledger.ok("balance", ["team": "t"])["available"]?.int == 500_000 + 70)
            try ledger.ok("clock.set", ["at": "2026-01-21T00:00:00.000Z"])
            let expired = try ledger.audit(["team": "t", "types": ["bonus_expired"]])
            #expect(
                Self.summary(expired) == ["bonus_expired@2026-01-20T12:00:00.000Z"], "a spent bonus expires silently")
            #expect(expired.first?["bonus_seq"] == partial["seq"])
            #expect(expired.first?["amount"]?.int == 70)
            #expect(spent["seq"] != partial["seq"])
            let balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["available"]?.int == 500_000, "\(balance.line)")
            #expect(balance["buckets"]?.array?.count == 1, "only the allowance is left: \(balance.line)")
        }
    }

    // MARK: Holds across midnight and a cycle start

    @Test func holdOpenAcrossMidnightAndACycleStart_keepsItsEscrowAndCommitsAfterwards() throws {
        try withLedger(Self.clock("2026-02-13T20:00:00.000Z")) { ledger in
            // Created Feb 13 (UTC): anchor 13, next cycle at 2026-03-13T00:00Z.
            try ledger.ok("plan.define", ["plan": "p", "monthly_tokens": 1000, "max_pods": -1, "max_members": -1])
            try ledger.makeTeam("t", plan: "p")
            try ledger.ok("consume", ["team": "t", "user": "u", "model": "m", "cost": 10, "key": "c1"])
            let hold = try ledger.ok(
                "hold",
                ["team": "t", "user": "u", "model": "m", "amount": 300, "ttl_seconds": JSON(29 * 86_400), "key": "h1"])
            let holdSeq = try #require(hold["hold"]?.int)
            #expect(hold["expires_at"]?.string == "2026-03-14T20:00:00.000Z")

            // Across midnight: the hold stays.
            try ledger.ok("clock.set", ["at": "2026-02-14T01:00:00.000Z"])
            #expect(
                Self.summary(try Self.scheduled(ledger, after: holdSeq)) == ["daily_reset@2026-02-14T00:00:00.000Z"])
            var balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["held"]?.int == 300, "\(balance.line)")
            #expect(balance["available"]?.int == 690)

            // Across the cycle start (Mar 13): escrowed tokens do not lapse.
            try ledger.ok("clock.set", ["at": "2026-03-13T01:00:00.000Z"])
            let cycle = try #require(try ledger.audit(["team": "t", "types": ["cycle_started"]], after: holdSeq).first)
            #expect(cycle["ts"]?.string == "2026-03-13T00:00:00.000Z")
            #expect(cycle["lapsed"]?.int == 690, "the 300 in escrow do not lapse: \(cycle.line)")
            balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["held"]?.int == 300, "\(balance.line)")
            #expect(balance["available"]?.int == 1000)
            #expect(try ledger.audit(["types": ["hold_expired"]]).isEmpty)

            let committed = try ledger.ok("hold.commit", ["hold": JSON(holdSeq), "cost": 200, "key": "hc1"])
            #expect(committed["cost"]?.int == 200)
            #expect(committed["released"]?.int == 100)
            let event = try #require(try ledger.audit(["types": ["hold_committed"]]).last)
            #expect(event["day"]?.string == "2026-03-13", "booked now")
            #expect(event["overdraft"]?.int == 0)
            balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["held"]?.int == 0)
            #expect(balance["available"]?.int == 1000, "unused escrow of a lapsed bucket lapses: \(balance.line)")
            #expect(balance["consumed_today"]?.int == 200)
            #expect(balance["consumed_cycle"]?.int == 200)
        }
    }
}
