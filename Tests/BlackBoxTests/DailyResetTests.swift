import LedgerJSON
import LedgerTestKit
import Testing

/// A team's consumed-today resets at its local midnight (§3, §6), by the scheduler on the manual
/// clock, and after a restart across a missed midnight before anything else is served.
struct Midnight: Sendable, CustomTestStringConvertible {
    var timezone: String
    /// The first local midnight after `startTime` (2026-01-15T10:00:00.000Z), in UTC.
    var midnight: String
    /// The local day that begins then.
    var day: String
    var testDescription: String { timezone }
}

@Suite("Daily reset")
struct DailyResetTests {
    static let midnights = [
        Midnight(timezone: "UTC", midnight: "2026-01-16T00:00:00.000Z", day: "2026-01-16"),
        // UTC+05:45: 15:45 local at start; midnight of the 16th is 18:15 UTC on the 15th.
        Midnight(timezone: "Asia/Kathmandu", midnight: "2026-01-15T18:15:00.000Z", day: "2026-01-16"),
        // UTC-05:00 in January: 05:00 local at start; midnight of the 16th is 05:00 UTC on the 16th.
        Midnight(timezone: "America/New_York", midnight: "2026-01-16T05:00:00.000Z", day: "2026-01-16"),
    ]

    @Test(arguments: midnights)
    func advancingPastLocalMidnight_resetsConsumedTodayWithOneDailyReset(_ zone: Midnight) throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", timezone: zone.timezone)
            try ledger.makeTeam("idle", timezone: zone.timezone, users: [])
            try ledger.consume(cost: 100)
            let balance = try ledger.ok("balance", ["team": "t", "user": "u"])
            #expect(balance["consumed_today"]?.int == 100)
            #expect(balance["resets_at"]?.string == zone.midnight)

            // One second before midnight: nothing due.
            let justBefore = Time.adding(-1, to: zone.midnight)
            try ledger.ok("clock.advance", ["seconds": JSON(Time.seconds(from: startTime, to: justBefore))])
            #expect(try ledger.audit(["types": ["daily_reset"]]).isEmpty)
            #expect(try ledger.ok("balance", ["team": "t"])["consumed_today"]?.int == 100)

            let advanced = try ledger.ok("clock.advance", ["seconds": 2])
            #expect(advanced["now"]?.string == Time.adding(1, to: zone.midnight))
            let resets = try ledger.audit(["types": ["daily_reset"]])
            #expect(resets.count == 1, "one daily_reset, for the team that consumed: \(resets.map(\.line))")
            let reset = try #require(resets.first)
            #expect(reset["team"]?.string == "t")
            #expect(reset["ts"]?.string == zone.midnight, "stamped with its due instant")
            #expect(reset["day"]?.string == zone.day)
            #expect(reset["manual"]?.bool == false)
            #expect(reset["user"] == nil, "one event per team covers its users")
            let after = try ledger.ok("balance", ["team": "t", "user": "u"])
            #expect(after["consumed_today"]?.int == 0)
            #expect(after["user"]?["consumed_today"]?.int == 0)
            #expect(after["resets_at"]?.string == Time.adding(86_400, to: zone.midnight))
            #expect(after["available"]?.int == 499_900, "a daily reset does not refill the pool")
        }
    }

    @Test func dailyLimit_allowsSpendingAgainAfterTheReset() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", dailyLimit: 100)
            #expect(try ledger.consume(cost: 100)["ok"]?.bool == true)
            expectError(try ledger.consume(cost: 1), code: "daily_limit_exceeded", scope: "team_daily")
            try ledger.ok("clock.set", ["at": "2026-01-16T00:00:00.000Z"])
            let next = try ledger.consume(cost: 100)
            #expect(next["ok"]?.bool == true, "\(next.line)")
            #expect(next["consumed_today"]?.int == 100)
            #expect(try ledger.audit(["types": ["consumed"]]).last?["day"]?.string == "2026-01-16")
        }
    }

    @Test func clockAdvance_overSeveralMidnights_appendsOnlyWhereSomethingWasConsumed() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            try ledger.consume(cost: 1)
            // Jumping three days: the first midnight resets; later ones find nothing consumed.
            try ledger.ok("clock.advance", ["seconds": JSON(3 * 86_400)])
            let resets = try ledger.audit(["types": ["daily_reset"]])
            #expect(resets.map { $0["ts"]?.string } == ["2026-01-16T00:00:00.000Z"])
        }
    }

    @Test func restartAfterAMissedMidnight_appendsTheDailyResetBeforeServing() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", timezone: "Asia/Kathmandu")
            let consumed = try ledger.consume(cost: 100)
            let consumedSeq = try #require(consumed["seq"]?.int)
            let termination = try ledger.daemon.stop()
            #expect(termination == .exited(0))
            // Down across the team's midnight (2026-01-15T18:15:00.000Z) and the next one, which
            // is not due (nothing consumed on the 16th).
            try ledger.restart(arguments: ["--clock", "manual=2026-01-17T12:00:00.000Z"])
            let firstPing = try ledger.seq()
            #expect(firstPing == consumedSeq + 1, "the missed daily_reset is in the log before the first answer")
            let resets = try ledger.audit(["types": ["daily_reset"]])
            #expect(resets.count == 1)
            #expect(resets.first?["seq"]?.int == consumedSeq + 1)
            #expect(resets.first?["ts"]?.string == "2026-01-15T18:15:00.000Z")
            #expect(resets.first?["day"]?.string == "2026-01-16")
            #expect(try ledger.ok("balance", ["team": "t"])["consumed_today"]?.int == 0)
            #expect(try ledger.ok("verify")["checked"]?.int == firstPing)
        }
    }
}
