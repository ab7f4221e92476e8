import LedgerCore
import LedgerProtocol
import Testing

@testable import LedgerStore

/// The money rules through `LedgerEngine.execute` on the manual clock (PROTOCOL §3–§6):
/// expiries and cycle starts as the scheduler appends them, holds across midnights and cycle
/// starts, and idempotent duplicates of the money ops. acme is solo (500000), UTC, created
/// 2026-03-10T09:00Z (anchor 10: cycles start on the 10th at 00:00Z), with user ann.
@Suite struct MoneyEngineTests {
    /// Events appended after `seq`, as stored.
    static func events(_ h: EngineHarness, after seq: UInt64) throws -> [Event] {
        try h.storedEvents().filter { $0.seq > seq }
    }

    // MARK: - Bonus expiry

    @Test(arguments: StorageKind.allCases)
    func bonusExpiry_removesOnlyTheUnspentPart(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        let bonus = try #require(
            h.one(
                #"{"op":"bonus.grant","team":"acme","amount":100,"reason":"gift","expires_at":"2026-03-10T12:00:00.000Z","key":"b"}"#
            )
            .seq)
        // The bonus expires first, so it is spent first.
        #expect(
            h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":30,"key":"c"}"#).int("available")
                == 500_070)
        let head = h.engine.state.head
        #expect(h.one(#"{"op":"clock.set","at":"2026-03-10T11:59:59.999Z"}"#).int("appended") == 0)
        #expect(h.one(#"{"op":"clock.set","at":"2026-03-10T12:00:00.000Z"}"#).int("appended") == 1)
        let appended = try Self.events(h, after: head)
        #expect(appended.map(\.body) == [.bonusExpired(team: id("acme"), bonusSeq: bonus, amount: 70)])
        #expect(appended.first?.ts == at("2026-03-10T12:00:00.000Z"))
        #expect(appended.first?.key == nil)
        #expect(h.team("acme").available == 500_000)
        let balance = h.one(#"{"op":"balance","team":"acme"}"#)
        #expect(balance.object?["buckets"]?.arrayValue?.count == 1)
        try h.expectReplayMatches()
    }

    @Test func bonusExpiry_ofASpentBonus_appendsNothing() throws {
        let h = try EngineHarness(.memory)
        h.setUpAcme()
        h.one(
            #"{"op":"bonus.grant","team":"acme","amount":100,"reason":"gift","expires_at":"2026-03-10T12:00:00.000Z","key":"b"}"#
        )
        h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":100,"key":"c"}"#)
        #expect(h.one(#"{"op":"clock.set","at":"2026-03-10T13:00:00.000Z"}"#).int("appended") == 0)
        #expect(h.team("acme").available == 500_000)
        try h.expectReplayMatches()
    }

    @Test(arguments: StorageKind.allCases)
    func bonusExpiry_atACycleStart_isAppendedBeforeTheDailyResetAndTheCycleStart(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        let bonus = try #require(
            h.one(
                #"{"op":"bonus.grant","team":"acme","amount":100,"reason":"loyalty","expires_at":"2026-04-10T00:00:00.000Z","key":"b"}"#
            )
            .seq)
        h.one(#"{"op":"clock.set","at":"2026-04-09T12:00:00.000Z"}"#)
        // Tied expiry with the allowance: the bonus goes first.
        h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":10,"key":"c"}"#)
        let head = h.engine.state.head
        #expect(h.one(#"{"op":"clock.set","at":"2026-04-10T00:00:00.000Z"}"#).int("appended") == 3)
        let appended = try Self.events(h, after: head)
        #expect(appended.allSatisfy { $0.ts == at("2026-04-10T00:00:00.000Z") })
        #expect(
            appended.map(\.body) == [
                .bonusExpired(team: id("acme"), bonusSeq: bonus, amount: 90),
                .dailyReset(team: id("acme"), user: nil, day: LocalDay(string: "2026-04-10")!, manual: false),
                .cycleStarted(
                    team: id("acme"), plan: id("solo"), allowance: 500_000, cycleStart: at("2026-04-10T00:00:00.000Z"),
                    cycleEnd: at("2026-05-10T00:00:00.000Z"), lapsed: 500_000),
            ])
        #expect(h.team("acme").available == 500_000)
        #expect(h.team("acme").buckets.filter { $0.amount > 0 }.count == 1)
        try h.expectReplayMatches()
    }

    // MARK: - Holds and time

    @Test(arguments: StorageKind.allCases)
    func hold_openAcrossMidnightAndACycleStart_keepsItsEscrow_thenItsReleaseLapses(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        h.one(#"{"op":"clock.set","at":"2026-04-09T12:00:00.000Z"}"#)
        let placed = h.one(
            #"{"op":"hold","team":"acme","user":"ann","model":"m","amount":1000,"ttl_seconds":172800,"key":"h"}"#)
        let hold = try #require(placed.int("hold"))
        #expect(placed.int("amount") == 1000)
        #expect(placed.object?["expires_at"] == .string("2026-04-11T12:00:00.000Z"))
        #expect(placed.int("available") == 499_000)
        let head = h.engine.state.head
        h.one(#"{"op":"clock.set","at":"2026-04-10T06:00:00.000Z"}"#)
        // No consumption today: no daily reset; the unused allowance lapses, the escrow does not.
        let appended = try Self.events(h, after: head)
        #expect(appended.map(\.body.type) == ["cycle_started"])
        guard case .cycleStarted(_, _, _, _, _, let lapsed) = appended.first?.body else { return }
        #expect(lapsed == 499_000)
        #expect(h.team("acme").held == 1000)
        #expect(h.team("acme").available == 500_000)
        let released = h.one(#"{"op":"hold.release","hold":\#(hold)}"#)
        #expect(released.int("released") == 1000)
        #expect(released.int("available") == 500_000)  // the escrow's bucket is gone: it lapses
        #expect(h.team("acme").held == 0)
        try h.expectReplayMatches()
    }

    @Test(arguments: StorageKind.allCases)
    func hold_committedAfterACycleStart_booksFromEscrowNowAndTheUnusedEscrowLapses(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        h.one(#"{"op":"clock.set","at":"2026-04-09T23:00:00.000Z"}"#)
        let hold = try #require(
            h.one(#"{"op":"hold","team":"acme","user":"ann","model":"m","amount":1000,"ttl_seconds":7200,"key":"h"}"#)
                .int("hold"))
        h.one(#"{"op":"clock.set","at":"2026-04-10T00:30:00.000Z"}"#)
        let commit = h.one(#"{"op":"hold.commit","hold":\#(hold),"cost":600,"key":"hc"}"#)
        #expect(commit.int("cost") == 600)
        #expect(commit.int("released") == 400)
        #expect(commit.int("available") == 500_000)
        #expect(commit.int("consumed_today") == 600)
        let t = h.team("acme")
        #expect(t.consumedCycle == 600)
        #expect(t.held == 0)
        #expect(t.overdraft == 0)
        try h.expectReplayMatches()
    }

    @Test(arguments: StorageKind.allCases)
    func hold_escrowFromABonusThatExpires_doesNotExpireWhileHeld_andLapsesOnRelease(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        h.one(
            #"{"op":"bonus.grant","team":"acme","amount":100,"reason":"gift","expires_at":"2026-03-10T12:00:00.000Z","key":"b"}"#
        )
        let hold = try #require(
            h.one(#"{"op":"hold","team":"acme","user":"ann","model":"m","amount":150,"ttl_seconds":36000,"key":"h"}"#)
                .int("hold"))
        #expect(h.team("acme").available == 499_950)
        // At 12:00 the bonus has nothing unspent: no bonus_expired.
        #expect(h.one(#"{"op":"clock.set","at":"2026-03-10T13:00:00.000Z"}"#).int("appended") == 0)
        let released = h.one(#"{"op":"hold.release","hold":\#(hold)}"#)
        #expect(released.int("released") == 150)
        #expect(h.team("acme").available == 500_000)  // 50 back to the allowance, 100 lapsed
        try h.expectReplayMatches()
    }

    @Test(arguments: StorageKind.allCases)
    func holdExpiry_appendsHoldExpiredAndFreesTheEscrow(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        let placed = h.one(
            #"{"op":"hold","team":"acme","user":"ann","model":"m","amount":700,"ttl_seconds":60,"key":"h"}"#)
        let hold = try #require(placed.int("hold"))
        #expect(placed.object?["expires_at"] == .string("2026-03-10T09:01:00.000Z"))
        let head = h.engine.state.head
        #expect(h.one(#"{"op":"clock.advance","seconds":59}"#).int("appended") == 0)
        #expect(h.one(#"{"op":"clock.advance","seconds":1}"#).int("appended") == 1)
        let appended = try Self.events(h, after: head)
        #expect(appended.map(\.body) == [.holdExpired(holdSeq: UInt64(hold), team: id("acme"), released: 700)])
        #expect(appended.first?.ts == at("2026-03-10T09:01:00.000Z"))
        #expect(h.team("acme").available == 500_000)
        #expect(h.team("acme").held == 0)
        let late = h.one(#"{"op":"hold.commit","hold":\#(hold),"cost":5,"key":"late"}"#)
        #expect(late.code == .holdClosed)
        #expect(late.rejection?.seq == UInt64(hold))
        #expect(h.one(#"{"op":"hold.release","hold":\#(hold)}"#).code == .holdClosed)
        // The usage is then recorded with consume {record:true}.
        #expect(
            h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":5,"record":true,"key":"r"}"#).code
                == nil)
        try h.expectReplayMatches()
    }

    // MARK: - Cycles

    @Test(arguments: StorageKind.allCases)
    func cycle_anchoredOnThe31st_startsOnEachMonthsLastDayWhenShorter(kind: StorageKind) throws {
        let h = try EngineHarness(kind, start: "2026-01-31T10:00:00.000Z")
        let created = h.one(#"{"op":"team.create","team":"acme","key":"tc"}"#)
        #expect(created.object?["cycle_end"] == .string("2026-02-28T00:00:00.000Z"))
        let head = h.engine.state.head
        h.one(#"{"op":"clock.set","at":"2026-05-01T00:00:00.000Z"}"#)
        let starts = try Self.events(h, after: head).compactMap { e -> (Instant, Instant, Instant)? in
            guard case .cycleStarted(_, _, _, let start, let end, _) = e.body else { return nil }
            return (e.ts, start, end)
        }
        #expect(
            starts.map(\.0) == [
                at("2026-02-28T00:00:00.000Z"), at("2026-03-31T00:00:00.000Z"), at("2026-04-30T00:00:00.000Z"),
            ])
        #expect(starts.map(\.1) == starts.map(\.0))
        #expect(
            starts.map(\.2) == [
                at("2026-03-31T00:00:00.000Z"), at("2026-04-30T00:00:00.000Z"), at("2026-05-31T00:00:00.000Z"),
            ])
        #expect(h.team("acme").cycleAnchor == 31)
        try h.expectReplayMatches()
    }

    @Test(arguments: StorageKind.allCases)
    func cycle_rollOverWithAPlanChange_grantsTheNextPlansAllowance(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":1000,"key":"c"}"#)
        #expect(h.one(#"{"op":"team.configure","team":"acme","plan":"starter"}"#).code == nil)
        let before = h.one(#"{"op":"balance","team":"acme"}"#)
        #expect(before.object?["plan"] == .string("solo"))
        #expect(before.object?["next_plan"] == .string("starter"))
        #expect(before.int("available") == 499_000)
        // Still solo: one member.
        #expect(h.one(#"{"op":"user.add","team":"acme","user":"bob"}"#).code == .planLimit)
        let head = h.engine.state.head
        h.one(#"{"op":"clock.set","at":"2026-04-10T00:00:00.000Z"}"#)
        let cycle = try #require(try Self.events(h, after: head).last)
        #expect(
            cycle.body
                == .cycleStarted(
                    team: id("acme"), plan: id("starter"), allowance: 2_000_000,
                    cycleStart: at("2026-04-10T00:00:00.000Z"), cycleEnd: at("2026-05-10T00:00:00.000Z"),
                    lapsed: 499_000))
        let after = h.one(#"{"op":"balance","team":"acme"}"#)
        #expect(after.object?["plan"] == .string("starter"))
        #expect(after.object?["next_plan"] == .null)
        #expect(after.int("available") == 2_000_000)
        #expect(after.int("consumed_cycle") == 0)
        #expect(h.one(#"{"op":"user.add","team":"acme","user":"bob"}"#).code == nil)
        try h.expectReplayMatches()
    }

    // MARK: - Idempotency of the money ops (§4)

    @Test(arguments: StorageKind.allCases)
    func duplicates_ofHoldCommitAndReverse_answerTheOriginalSeqAndAppendNothing(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        let holdLine = #"{"op":"hold","team":"acme","user":"ann","model":"m","amount":300,"key":"h1"}"#
        let placed = h.one(holdLine)
        let hold = try #require(placed.int("hold"))
        #expect(placed.seq == UInt64(hold))
        let holdAgain = h.one(holdLine)
        #expect(holdAgain.object?["duplicate"] == .bool(true))
        #expect(holdAgain.seq == placed.seq)
        #expect(holdAgain.int("hold") == hold)
        #expect(holdAgain.int("amount") == 300)
        #expect(h.team("acme").held == 300)

        let commitLine = #"{"op":"hold.commit","hold":\#(hold),"cost":250,"key":"hc1"}"#
        let commit = h.one(commitLine)
        let commitSeq = try #require(commit.seq)
        #expect(commit.int("cost") == 250 && commit.int("released") == 50)
        let count = h.eventCount
        // After the commit, the same request is a duplicate, not hold_closed.
        let commitAgain = h.one(commitLine)
        #expect(commitAgain.object?["duplicate"] == .bool(true))
        #expect(commitAgain.seq == commitSeq)
        #expect(commitAgain.int("cost") == 250)
        #expect(commitAgain.int("released") == 50)
        // A hold placed again with its key, after the commit: still the original answer.
        #expect(h.one(holdLine).seq == placed.seq)

        let reverseLine = #"{"op":"reverse","seq":\#(commitSeq),"reason":"refund","amount":100,"key":"r1"}"#
        let reversed = h.one(reverseLine)
        let reversalSeq = try #require(reversed.seq)
        #expect(reversed.int("amount") == 100)
        let reverseAgain = h.one(reverseLine)
        #expect(reverseAgain.object?["duplicate"] == .bool(true))
        #expect(reverseAgain.seq == reversalSeq)
        #expect(reverseAgain.int("amount") == 100)
        // Another key: already reversed.
        #expect(
            h.one(#"{"op":"reverse","seq":\#(commitSeq),"reason":"refund","amount":100,"key":"r2"}"#).code
                == .alreadyExists)
        #expect(h.eventCount == count + 1)
        #expect(h.team("acme").consumedCycle == 150)
        #expect(h.team("acme").available == 499_850)
        try h.restart()
        #expect(h.one(commitLine).seq == commitSeq)
        #expect(h.one(reverseLine).seq == reversalSeq)
        #expect(h.one(holdLine).int("hold") == hold)
        #expect(h.eventCount == count + 1)
        try h.expectReplayMatches()
    }

    @Test func duplicates_withinOneBatch_ofHoldAndItsCommit() throws {
        let h = try EngineHarness(.memory)
        h.setUpAcme()
        let answers = h.run([
            #"{"op":"hold","team":"acme","user":"ann","model":"m","amount":40,"key":"h"}"#,
            #"{"op":"hold","team":"acme","user":"ann","model":"m","amount":40,"key":"h"}"#,
            #"{"op":"hold.commit","hold":4,"cost":10,"key":"c"}"#,
            #"{"op":"hold.commit","hold":4,"cost":10,"key":"c"}"#,
            #"{"op":"hold.commit","hold":4,"cost":11,"key":"c"}"#,
        ])
        #expect(answers.map(\.code) == [nil, nil, nil, nil, .conflict])
        #expect(answers[0].int("hold") == 4)  // after team_created, cycle_started, user_added
        #expect(answers[1].int("hold") == 4 && answers[1].object?["duplicate"] == .bool(true))
        #expect(answers[3].seq == answers[2].seq && answers[3].int("cost") == 10)
        #expect(h.eventCount == 5)
        try h.expectReplayMatches()
    }

    // MARK: - Overdraft repayment through the engine

    @Test func bonusGrant_whenOverdrawn_repaysFirstAndAnswersTheFigures() throws {
        let h = try EngineHarness(.memory)
        h.setUpAcme()
        h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":500300,"record":true,"key":"c"}"#)
        let grant = h.one(#"{"op":"bonus.grant","team":"acme","amount":500,"reason":"other","key":"b"}"#)
        #expect(grant.int("overdraft") == 0)
        #expect(grant.int("available") == 200)
        #expect(
            h.one(
                #"{"op":"bonus.grant","team":"acme","amount":5,"reason":"other","expires_at":"2026-03-10T09:00:00.000Z","key":"b2"}"#
            ).code == .badRequest)
        try h.expectReplayMatches()
    }
}
