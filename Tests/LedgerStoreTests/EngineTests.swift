import Foundation
import LMDB
import LedgerCore
import LedgerJSON
import LedgerMemoryStore
import LedgerProtocol
import Logging
import Testing

@testable import LedgerStore

/// The write side end to end, below the socket: one commit per batch, idempotency (§4), the
/// scheduler (§6), and what a failed commit leaves behind. Most tests run against both the
/// in-memory storage and the real LMDB one.
@Suite struct EngineTests {
    // MARK: - Batches

    @Test(arguments: StorageKind.allCases)
    func execute_whenBatchOfSetupAndMoney_answersEachInOrderWithOneCommit(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        let answers = h.run([
            #"{"id":1,"op":"team.create","team":"acme","key":"tc1"}"#,
            #"{"id":2,"op":"user.add","team":"acme","user":"ann"}"#,
            #"{"id":3,"op":"pod.create","team":"acme","pod":"p1"}"#,
            #"{"id":4,"op":"price.set","model":"gpt","kind":"text","input_weight":1,"output_weight":3}"#,
            #"{"id":5,"op":"topup","team":"acme","amount":100,"key":"t1"}"#,
            #"{"id":6,"op":"consume","team":"acme","user":"ann","model":"any","cost":40,"key":"c1"}"#,
            #"{"id":7,"op":"consume","team":"acme","user":"ann","pod":"p1","model":"gpt","input_tokens":10,"output_tokens":5,"key":"c2"}"#,
            #"{"id":8,"op":"ping"}"#,
            #"{"id":9,"op":"balance","team":"acme","user":"ann"}"#,
        ])
        #expect(answers.count == 9)
        #expect(answers.map(\.seq) == [1, 3, 4, 5, 6, 7, 8, 8, nil])
        #expect(answers[0].object?["available"] == .int(500_000))
        #expect(answers[4].object?["available"] == .int(500_100))
        #expect(answers[5].int("cost") == 40)
        #expect(answers[6].int("cost") == 25)
        #expect(answers[6].int("available") == 500_035)
        #expect(answers[6].int("consumed_today") == 65)
        #expect(answers[6].object?["status"] == .string("green"))
        #expect(answers[8].int("available") == 500_035)
        #expect(answers[8].object?["user"]?.objectValue?["consumed_today"] == .int(65))
        #expect(try h.storage.head().seq == 8)
        #expect(h.eventCount == 8)
        if let memory = h.memory { #expect(memory.commits == 1) }
        #expect(
            try h.storedEvents().map(\.body.type) == [
                "team_created", "cycle_started", "user_added", "pod_created", "price_set", "topup", "consumed",
                "consumed",
            ])
        try h.expectReplayMatches()
    }

    @Test(arguments: StorageKind.allCases)
    func execute_whenARequestIsRejected_answersItAndTheRestOfTheBatchGoesOn(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        let answers = h.run([
            #"{"op":"team.create","team":"acme"}"#,
            #"{"op":"team.create","team":"acme"}"#,
            #"{"op":"user.add","team":"acme","user":"ann"}"#,
            #"{"op":"user.add","team":"acme","user":"bob"}"#,
            #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":500001,"key":"big"}"#,
            #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":500000,"key":"all"}"#,
        ])
        #expect(answers.map(\.code) == [nil, .alreadyExists, nil, .planLimit, .insufficientTokens, nil])
        #expect(answers[4].rejection?.scope == .pool)
        #expect(answers[5].int("available") == 0)
        #expect(answers[5].object?["status"] == .string("red"))
        #expect(h.eventCount == 4)
    }

    /// `consume` and `check` answer with figures written as bytes; the engine asserts (debug builds)
    /// that they equal the generic serialisation. Ids that need escaping, a user with a daily
    /// limit and a refusal with a scope walk every branch of those writers.
    @Test func execute_whenConsumeAndCheckAnswer_theirBytesAreTheCanonicalAnswer() throws {
        let h = try EngineHarness(.memory)
        let answers = h.run([
            #"{"op":"team.create","team":"t\"q","plan":"pro","daily_limit":100}"#,
            #"{"op":"user.add","team":"t\"q","user":"\u00fc\\","daily_limit":50}"#,
            #"{"op":"consume","team":"t\"q","user":"\u00fc\\","model":"m","cost":45,"key":"k\u00e9\/"}"#,
            #"{"op":"consume","team":"t\"q","user":"\u00fc\\","model":"m","cost":45,"key":"k\u00e9\/"}"#,
            #"{"op":"check","team":"t\"q","user":"\u00fc\\","model":"m","cost":5}"#,
            #"{"op":"check","team":"t\"q","user":"\u00fc\\","model":"m","cost":6}"#,
            #"{"op":"check","team":"t\"q","user":"\u00fc\\","model":"m","cost":10000001}"#,
        ])
        #expect(answers.map(\.code) == [nil, nil, nil, nil, nil, nil, nil])
        guard case .success(.consume) = answers[2], case .success(.check) = answers[4] else {
            Issue.record("consume or check answered without figures: \(answers[2]), \(answers[4])")
            return
        }
        #expect(answers[3].object?["duplicate"] == .bool(true) && answers[3].seq == answers[2].seq)
        #expect(answers[2].object?["warnings"]?.arrayValue?.contains(.string("near_daily_limit")) == true)
        #expect(answers[2].object?["user"]?.objectValue?["user"] == .string("\u{FC}\\"))
        #expect(answers[4].object?["allowed"] == .bool(true) && answers[4].object?["reason"] == nil)
        #expect(answers[5].object?["allowed"] == .bool(false))
        #expect(answers[5].object?["reason"] == .string("daily_limit_exceeded"))
        #expect(answers[5].object?["scope"] == .string("user_daily"))
        #expect(answers[5].object?["message"]?.stringValue?.contains("\u{FC}\\") == true)
        #expect(answers[6].object?["scope"] == .string("team_daily"))
        #expect(answers[6].object?["resets_at"] == .string("2026-03-11T00:00:00.000Z"))
    }

    @Test func execute_whenCommitFails_answersEveryRequestUnavailableAndKeepsTheState() throws {
        let h = try EngineHarness(.memory, faultable: true)
        h.setUpAcme()
        let before = h.engine.state
        let hashBefore = h.engine.headHash
        let countBefore = h.eventCount
        let batch = [
            #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":7,"key":"c9"}"#,
            #"{"op":"topup","team":"acme","amount":5,"key":"t9"}"#,
            #"{"op":"user.add","team":"acme","user":"bob"}"#,
            #"{"op":"ping"}"#,
            #"{"op":"clock.advance","seconds":86400}"#,
            #"{"op":"balance","team":"acme"}"#,
        ]
        h.faults.failCommits = true
        let failed = h.run(batch)
        #expect(failed.map(\.code) == [ErrorCode?](repeating: .unavailable, count: batch.count))
        #expect(h.engine.state == before)
        #expect(h.engine.headHash == hashBefore)
        #expect(h.eventCount == countBefore)
        try h.expectReplayMatches()

        // Nothing of it was stored, keys included: the retry is a new request, seq after the head.
        h.faults.failCommits = false
        let retried = h.run(batch)
        #expect(retried[0].code == nil)
        #expect(retried[0].object?["duplicate"] == nil)
        #expect(retried[0].seq == before.head + 1)
        try h.expectReplayMatches()
    }

    // MARK: - Idempotency (§4)

    @Test(arguments: StorageKind.allCases)
    func execute_whenKeyRepeatedWithTheSamePayload_answersDuplicateWithTheOriginalSeq(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        let first = h.one(#"{"id":1,"op":"consume","team":"acme","user":"ann","model":"m","cost":40,"key":"k1"}"#)
        let seq = try #require(first.seq)
        let head = h.engine.state.head
        let count = h.eventCount
        // Another id, another member order: the same payload.
        let again = h.one(#"{"key":"k1","cost":40,"model":"m","user":"ann","team":"acme","op":"consume","id":"x"}"#)
        #expect(again.seq == seq)
        #expect(again.object?["duplicate"] == .bool(true))
        #expect(again.int("cost") == 40)
        #expect(again.int("available") == 499_960)
        #expect(h.engine.state.head == head)
        #expect(h.eventCount == count)
        // And after a restart: keys are kept in storage.
        try h.restart()
        let afterRestart = h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":40,"key":"k1"}"#)
        #expect(afterRestart.seq == seq)
        #expect(afterRestart.object?["duplicate"] == .bool(true))
        #expect(h.eventCount == count)
    }

    @Test(arguments: StorageKind.allCases)
    func execute_whenSetupKeyRepeated_answersDuplicateInsteadOfAlreadyExists(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        let a = h.one(#"{"op":"team.create","team":"acme","key":"tc"}"#)
        let b = h.one(#"{"op":"team.create","team":"acme","key":"tc"}"#)
        let c = h.one(#"{"op":"team.create","team":"acme"}"#)
        #expect(a.seq == 1)
        #expect(b.seq == 1 && b.object?["duplicate"] == .bool(true))
        #expect(c.code == .alreadyExists)
        #expect(h.eventCount == 2)
    }

    @Test(arguments: StorageKind.allCases)
    func execute_whenKeyReusedWithAnotherPayload_answersConflictAndAppendsNothing(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":40,"key":"k1"}"#)
        let count = h.eventCount
        let state = h.engine.state
        let other = h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":41,"key":"k1"}"#)
        #expect(other.code == .conflict)
        // Keys are global: another op with the key conflicts too.
        let topup = h.one(#"{"op":"topup","team":"acme","amount":40,"key":"k1"}"#)
        #expect(topup.code == .conflict)
        #expect(h.eventCount == count)
        #expect(h.engine.state == state)
    }

    @Test(arguments: StorageKind.allCases)
    func execute_whenOneKeyUsedTwiceInOneBatch_behavesAsAcrossBatches(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        let count = h.eventCount
        let answers = h.run([
            #"{"id":1,"op":"consume","team":"acme","user":"ann","model":"m","cost":5,"key":"k"}"#,
            #"{"id":2,"op":"consume","team":"acme","user":"ann","model":"m","cost":5,"key":"k"}"#,
            #"{"id":3,"op":"consume","team":"acme","user":"ann","model":"m","cost":6,"key":"k"}"#,
            #"{"id":4,"op":"topup","team":"acme","amount":9,"key":"t"}"#,
            #"{"id":5,"op":"topup","team":"acme","amount":9,"key":"t"}"#,
        ])
        #expect(answers[0].code == nil && answers[0].object?["duplicate"] == nil)
        #expect(answers[1].seq == answers[0].seq && answers[1].object?["duplicate"] == .bool(true))
        #expect(answers[1].int("cost") == 5)
        #expect(answers[2].code == .conflict)
        #expect(answers[4].seq == answers[3].seq && answers[4].object?["duplicate"] == .bool(true))
        #expect(h.eventCount == count + 2)
        try h.expectReplayMatches()
    }

    @Test(arguments: StorageKind.allCases)
    func execute_whenARequestIsRejected_itsKeyStaysFree(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        let answers = h.run([
            #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":900000,"key":"k"}"#,
            #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":9,"key":"k"}"#,
        ])
        #expect(answers[0].code == .insufficientTokens)
        #expect(answers[1].code == nil && answers[1].object?["duplicate"] == nil)
        let later = h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":900000,"key":"k2"}"#)
        #expect(later.code == .insufficientTokens)
        let reused = h.one(#"{"op":"topup","team":"acme","amount":1,"key":"k2"}"#)
        #expect(reused.code == nil)
    }

    @Test(arguments: StorageKind.allCases)
    func execute_whenKeyReusedAfterTheRetentionDays_isANewRequest(kind: StorageKind) throws {
        var config = EngineConfig()
        config.keyRetentionDays = 2
        let h = try EngineHarness(kind, config: config)
        h.setUpAcme()
        let line = #"{"op":"topup","team":"acme","amount":10,"key":"k"}"#
        let first = try #require(h.one(line).seq)
        h.one(#"{"op":"clock.advance","seconds":86400}"#)
        #expect(h.one(line).seq == first)
        #expect(h.one(line).object?["duplicate"] == .bool(true))
        h.one(#"{"op":"clock.advance","seconds":86401}"#)  // 2 days and 1 second after the first use
        let renewed = h.one(line)
        #expect(renewed.code == nil)
        #expect(renewed.object?["duplicate"] == nil)
        let second = try #require(renewed.seq)
        #expect(second > first)
        // The key now names the new request.
        #expect(h.one(line).seq == second)
        #expect(h.one(#"{"op":"topup","team":"acme","amount":11,"key":"k"}"#).code == .conflict)
        try h.expectReplayMatches()
    }

    // MARK: - Scheduler (§6)

    @Test(arguments: StorageKind.allCases)
    func clockAdvance_toAUTCTeamsMidnight_appendsOneDailyResetCoveringItsUsers(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()  // created 2026-03-10T09:00Z, UTC
        h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":100,"key":"c"}"#)
        #expect(h.team("acme").consumedToday == 100)
        // 09:00 + 53999 s is 23:59:59: nothing due yet.
        let almost = h.one(#"{"op":"clock.advance","seconds":53999}"#)
        #expect(almost.object?["now"] == .string("2026-03-10T23:59:59.000Z"))
        #expect(almost.int("appended") == 0)
        #expect(h.one(#"{"op":"clock.advance","seconds":0}"#).int("appended") == 0)
        let midnight = h.one(#"{"op":"clock.advance","seconds":1}"#)
        #expect(midnight.object?["now"] == .string("2026-03-11T00:00:00.000Z"))
        #expect(midnight.int("appended") == 1)
        let last = try #require(try h.storedEvents().last)
        #expect(last.ts == at("2026-03-11T00:00:00.000Z"))
        #expect(last.key == nil)
        #expect(
            last.body == .dailyReset(team: id("acme"), user: nil, day: LocalDay(string: "2026-03-11")!, manual: false))
        #expect(h.team("acme").consumedToday == 0)
        #expect(h.team("acme").users[id("ann")]?.consumedToday == 0)
        #expect(h.team("acme").consumedCycle == 100)
        // The next midnight finds every counter at zero: nothing is appended.
        #expect(h.one(#"{"op":"clock.advance","seconds":86400}"#).int("appended") == 0)
        try h.expectReplayMatches()
    }

    @Test(arguments: StorageKind.allCases)
    func clockAdvance_whenCountersAreZero_appendsNoDailyReset(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()
        let count = h.eventCount
        #expect(h.one(#"{"op":"clock.advance","seconds":259200}"#).int("appended") == 0)
        #expect(h.eventCount == count)
    }

    @Test func clockSet_toAMadridTeamsMidnight_resetsAtTheLocalMidnight() throws {
        let h = try EngineHarness(.memory)
        h.run([
            #"{"op":"team.create","team":"es","timezone":"Europe/Madrid"}"#,
            #"{"op":"user.add","team":"es","user":"ana"}"#,
            #"{"op":"consume","team":"es","user":"ana","model":"m","cost":5,"key":"c"}"#,
        ])
        // 2026-03-11 00:00 in Madrid (CET, UTC+1) is 2026-03-10T23:00Z.
        #expect(h.one(#"{"op":"clock.set","at":"2026-03-10T22:59:59.999Z"}"#).int("appended") == 0)
        #expect(h.one(#"{"op":"clock.set","at":"2026-03-10T23:00:00.000Z"}"#).int("appended") == 1)
        let last = try #require(try h.storedEvents().last)
        #expect(last.ts == at("2026-03-10T23:00:00.000Z"))
        #expect(
            last.body == .dailyReset(team: id("es"), user: nil, day: LocalDay(string: "2026-03-11")!, manual: false))
    }

    @Test(arguments: StorageKind.allCases)
    func clockSet_toTheCycleEnd_startsTheNextCycleAndLapsesTheUnusedAllowance(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        h.setUpAcme()  // solo, 500000, anchor 10, first cycle ends 2026-04-10T00:00Z
        h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":100,"key":"c"}"#)
        h.one(#"{"op":"topup","team":"acme","amount":50,"key":"t"}"#)
        let answer = h.one(#"{"op":"clock.set","at":"2026-04-10T00:00:00.000Z"}"#)
        #expect(answer.int("appended") == 2)  // the 03-11 reset, then the cycle start
        let events = try h.storedEvents().suffix(2)
        #expect(events.map(\.body.type) == ["daily_reset", "cycle_started"])
        let cycle = try #require(events.last)
        #expect(cycle.ts == at("2026-04-10T00:00:00.000Z"))
        #expect(
            cycle.body
                == .cycleStarted(
                    team: id("acme"), plan: id("solo"), allowance: 500_000, cycleStart: at("2026-04-10T00:00:00.000Z"),
                    cycleEnd: at("2026-05-10T00:00:00.000Z"), lapsed: 499_900))
        let t = h.team("acme")
        #expect(t.available == 500_050)
        #expect(t.consumedCycle == 0)
        #expect(t.cycleEnd == at("2026-05-10T00:00:00.000Z"))
        try h.expectReplayMatches()
    }

    @Test func clockSet_toTheCycleEnd_repaysTheOverdraftFromTheNewAllowance() throws {
        let h = try EngineHarness(.memory)
        h.setUpAcme()
        h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":500100,"record":true,"key":"c"}"#)
        #expect(h.team("acme").overdraft == 100)
        h.one(#"{"op":"clock.set","at":"2026-04-10T00:00:00.000Z"}"#)
        let cycle = try #require(try h.storedEvents().last)
        guard case .cycleStarted(_, _, let allowance, _, _, let lapsed) = cycle.body else {
            Issue.record("expected cycle_started, got \(cycle.body.type)")
            return
        }
        #expect(allowance == 500_000 && lapsed == 0)
        #expect(h.team("acme").overdraft == 0)
        #expect(h.team("acme").available == 499_900)
    }

    @Test func clockAdvance_inTheMiddleOfABatch_laterRequestsSeeTheNewDay() throws {
        let h = try EngineHarness(.memory)
        h.setUpAcme()
        let answers = h.run([
            #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":10,"key":"a"}"#,
            #"{"op":"clock.advance","seconds":86400}"#,
            #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":20,"key":"b"}"#,
        ])
        let first = try #require(answers[0].seq)
        #expect(answers[1].int("appended") == 1)
        #expect(answers[2].seq == first + 2)
        #expect(answers[2].int("consumed_today") == 20)
        let events = try h.storedEvents()
        guard case .consumed(let c) = events.last?.body else {
            Issue.record("expected consumed")
            return
        }
        #expect(c.day == LocalDay(string: "2026-03-11")!)
        #expect(events.last?.ts == at("2026-03-11T09:00:00.000Z"))
    }

    @Test func tick_whenTheClockPassedMidnight_appendsWhatIsDueDurably() throws {
        let h = try EngineHarness(.memory)
        h.setUpAcme()
        h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":10,"key":"a"}"#)
        let count = h.eventCount
        h.clock.set(at("2026-03-11T00:00:05.000Z"))
        #expect(try h.engine.tick() == 1)
        #expect(h.eventCount == count + 1)
        #expect(try h.engine.tick() == 0)
        try h.expectReplayMatches()
    }

    /// A scheduler commit that fails must leave the engine as the log is (as `execute` does by
    /// reloading); otherwise the next batch is sealed after an event that was never stored.
    @Test func tick_whenCommitFails_leavesTheStateAsInTheLog() throws {
        let h = try EngineHarness(.memory, faultable: true)
        h.setUpAcme()
        h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":10,"key":"a"}"#)
        let before = h.engine.state
        h.clock.set(at("2026-03-11T00:00:05.000Z"))
        h.faults.failCommits = true
        #expect(throws: (any Error).self) { try h.engine.tick() }
        #expect(h.engine.state == before, "tick kept an unstored event in the state")
        #expect(try h.engine.headHash == h.storage.head().hash, "tick kept an unstored event in the head hash")
        h.faults.failCommits = false
        let next = h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":1,"key":"b"}"#)
        #expect(next.code == nil, "the batch after a failed tick: \(String(describing: next.rejection))")
        try h.expectReplayMatches()
    }

    /// A failed key lookup answers `unavailable`; what the scheduler appended to the state before it
    /// must not stay there (nor in the pending commit, which the next `execute` requires empty).
    @Test func execute_whenKeyLookupFails_answersUnavailableAndKeepsTheStateAsInTheLog() throws {
        let h = try EngineHarness(.memory, faultable: true)
        h.setUpAcme()
        h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":10,"key":"a"}"#)
        let before = h.engine.state
        h.clock.set(at("2026-03-11T00:00:05.000Z"))  // a daily reset is now due
        h.faults.failLookups = true
        let answers = h.run([#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":1,"key":"b"}"#])
        #expect(answers.map(\.code) == [.unavailable])
        #expect(h.engine.state == before, "the state kept a scheduled event that was never committed")
        // Not calling execute again here: with the bug present it traps on its `pending.isEmpty` precondition.
    }

    /// `params` go into the `consumed` event as given; its hashed bytes must still be RFC 8785,
    /// which writes `-0` as `0` (see CanonicalJSONTests.integer_whenNegativeZero_isWrittenAsZero).
    @Test func consume_whenParamsHoldNegativeZero_storesRFC8785Bytes() throws {
        let h = try EngineHarness(.memory)
        h.setUpAcme()
        let answer = h.one(
            #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":1,"params":{"steps":-0},"key":"z"}"#)
        let seq = try #require(answer.seq)
        let stored = try #require(try h.storage.events(from: seq, limit: 1).first)
        let text = String(decoding: stored.bytes, as: UTF8.self)
        #expect(text.contains(#""params":{"steps":0}"#), "stored: \(text)")
    }

    // MARK: - Clock ops and integrity

    @Test func clockOps_withoutAManualClock_areUnknownOps() throws {
        let storage = InMemoryLogStorage()
        let engine = try LedgerEngine(
            storage: storage, clock: SystemClock(), config: EngineConfig(), logger: quietLogger)
        let answers = engine.execute([
            parsed(#"{"op":"clock.advance","seconds":1}"#),
            parsed(#"{"op":"clock.set","at":"2030-01-01T00:00:00.000Z"}"#),
        ])
        #expect(answers.map(\.code) == [.unknownOp, .unknownOp])
    }

    @Test func clockSet_whenTimeWouldGoBack_isBadRequest() throws {
        let h = try EngineHarness(.memory)
        #expect(h.one(#"{"op":"clock.set","at":"2026-03-10T08:59:59.999Z"}"#).code == .badRequest)
        #expect(h.one(#"{"op":"clock.set","at":"2026-03-10T09:00:00.000Z"}"#).code == nil)
        #expect(h.clock.now() == at("2026-03-10T09:00:00.000Z"))
    }

    @Test func reload_whenAStoredEventWasAltered_refusesMoneyAnswersNamingTheSeq() throws {
        let h = try EngineHarness(.memory, faultable: true)
        h.setUpAcme()
        h.faults.tamper(seq: 3) { bytes in
            let i = bytes.firstIndex(of: UInt8(ascii: "a"))!
            bytes[i] = UInt8(ascii: "b")
        }
        try h.restart()
        #expect(h.engine.integrityFailure?.code == .integrity)
        #expect(h.engine.integrityFailure?.seq == 3)
        let answers = h.run([#"{"op":"ping"}"#, #"{"op":"balance","team":"acme"}"#])
        // ping states the log's head (its record), so that verify reaches the broken event.
        #expect(answers[0].seq == 3)
        #expect(h.engine.logHead.seq == 3)
        #expect(h.engine.state.head == 2, "the state stops before the broken event")
        #expect(answers[1].code == .integrity)
    }

    @Test func bootstrap_onAnEmptyLogOnly_appendsTheCatalog() throws {
        let h = try EngineHarness(.memory)
        var spec = PriceSpec(model: id("gpt"), kind: .text)
        spec.outputWeightMilli = 3000
        try h.engine.bootstrap(catalog: [spec])
        #expect(h.eventCount == 1)
        try h.engine.bootstrap(catalog: [spec])
        #expect(h.eventCount == 1)
        #expect(h.engine.state.prices[id("gpt")] == spec)
    }

    // MARK: - Restart on LMDB

    @Test func restart_onTheSameLMDBDirectory_reproducesStateAndHeadHash() throws {
        let h = try EngineHarness(.lmdb)
        h.setUpAcme()
        h.run([
            #"{"op":"price.set","model":"gpt","kind":"text","input_weight":1.5,"output_weight":3}"#,
            #"{"op":"consume","team":"acme","user":"ann","model":"gpt","input_tokens":3,"output_tokens":1,"key":"a"}"#,
            #"{"op":"topup","team":"acme","amount":77,"key":"t"}"#,
            #"{"op":"clock.advance","seconds":86400}"#,
            #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":600000,"record":true,"key":"b"}"#,
        ])
        let state = h.engine.state
        let hash = h.engine.headHash
        #expect(state.teams[id("acme")]?.overdraft == 99_931)
        try h.restart()
        #expect(h.engine.state == state)
        #expect(h.engine.headHash == hash)
        #expect(h.engine.integrityFailure == nil)
        #expect(try h.storage.head().hash == hash)
        // Keys survived too.
        #expect(h.one(#"{"op":"topup","team":"acme","amount":77,"key":"t"}"#).object?["duplicate"] == .bool(true))
    }
}

// MARK: - Harness

let quietLogger = Logger(label: "test.store") { _ in SwiftLogNoOpLogHandler() }

func id(_ s: String) -> ID { ID(s)! }
func at(_ s: String) -> Instant { Instant(rfc3339: s)! }

/// A request line that must parse (a test's own input), as the writer takes it.
func parsed(_ line: String) -> LedgerRequest {
    switch RequestParser.parse(Array(line.utf8)) {
    case .success(let r): return r.ledgerRequest
    case .failure(let f): preconditionFailure("test request does not parse: \(line): \(f.rejection)")
    }
}

enum StorageKind: String, CaseIterable, Sendable {
    case memory, lmdb
}

/// A directory under the system's temporary directory, removed when released.
final class ScratchDirectory {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/ledger-store-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// An engine on a storage with a manual clock (2026-03-10T09:00Z unless told), restartable.
final class EngineHarness {
    let kind: StorageKind
    let clock: ManualClock
    let config: EngineConfig
    private(set) var storage: any LogStorage
    private(set) var engine: LedgerEngine
    private let scratch: ScratchDirectory?
    private let faultStorage: InMemoryLogStorage?

    init(
        _ kind: StorageKind, faultable: Bool = false, start: String = "2026-03-10T09:00:00.000Z",
        config: EngineConfig = EngineConfig()
    ) throws {
        precondition(!faultable || kind == .memory, "faults are injected through the in-memory storage")
        self.kind = kind
        self.clock = ManualClock(at: at(start))
        self.config = config
        switch kind {
        case .memory:
            let s = InMemoryLogStorage()
            storage = s
            self.faultStorage = s
            scratch = nil
        case .lmdb:
            let dir = try ScratchDirectory()
            scratch = dir
            storage = try LMDBLogStorage(directory: dir.path, mapSizeBytes: 1 << 24)
            self.faultStorage = nil
        }
        engine = try LedgerEngine(storage: storage, clock: clock, config: config, logger: quietLogger)
    }

    var faults: InMemoryLogStorage { faultStorage! }
    var memory: InMemoryLogStorage? { storage as? InMemoryLogStorage }

    /// A new engine on the same storage (for LMDB: the environment closed and opened again).
    func restart() throws {
        if let scratch, let lmdb = storage as? LMDBLogStorage {
            lmdb.env.close()
            storage = try LMDBLogStorage(directory: scratch.path, mapSizeBytes: 1 << 24)
        }
        engine = try LedgerEngine(storage: storage, clock: clock, config: config, logger: quietLogger)
    }

    @discardableResult
    func run(_ lines: [String]) -> [EngineAnswer] {
        let answers = engine.execute(lines.map(parsed))
        precondition(answers.count == lines.count)
        return answers
    }

    @discardableResult
    func one(_ line: String) -> EngineAnswer { run([line])[0] }

    /// Team acme (solo, UTC, created at the start) with user ann.
    func setUpAcme() {
        let answers = run([#"{"op":"team.create","team":"acme"}"#, #"{"op":"user.add","team":"acme","user":"ann"}"#])
        precondition(answers.allSatisfy { $0.code == nil }, "set-up refused: \(answers)")
    }

    func team(_ s: String) -> TeamState { engine.state.teams[id(s)]! }

    var eventCount: Int { (try? storage.head().seq).map { Int($0) } ?? -1 }

    /// Every stored event, opened through the hash chain.
    func storedEvents() throws -> [Event] {
        var out: [Event] = []
        var prev = HashChain.genesis
        var next: UInt64 = 1
        while true {
            let chunk = try storage.events(from: next, limit: 1000)
            if chunk.isEmpty { break }
            for s in chunk {
                let (e, h) = try HashChain.open(stored: s.bytes, previous: prev, expectedSeq: next)
                out.append(e)
                prev = h
                next += 1
            }
        }
        return out
    }

    /// Folding the stored log reproduces the engine's state and head hash exactly, both by
    /// hand (open + apply) and through a fresh engine on the same storage.
    func expectReplayMatches(_ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) throws {
        var folded = LedgerState()
        var prev = HashChain.genesis
        var next: UInt64 = 1
        while true {
            let chunk = try storage.events(from: next, limit: 1000)
            if chunk.isEmpty { break }
            for s in chunk {
                let (e, h) = try HashChain.open(stored: s.bytes, previous: prev, expectedSeq: next)
                folded.apply(e)
                prev = h
                next += 1
            }
        }
        #expect(
            folded == engine.state, "\(context) folded log differs from the engine's state",
            sourceLocation: sourceLocation)
        #expect(prev == engine.headHash, "\(context) folded head hash differs", sourceLocation: sourceLocation)
        #expect(
            try storage.head().hash == engine.headHash, "\(context) stored head hash differs",
            sourceLocation: sourceLocation)
        let fresh = try LedgerEngine(storage: storage, clock: clock, config: config, logger: quietLogger)
        #expect(
            fresh.integrityFailure == nil, "\(context) replay: \(String(describing: fresh.integrityFailure))",
            sourceLocation: sourceLocation)
        #expect(fresh.state == engine.state, "\(context) a fresh engine differs", sourceLocation: sourceLocation)
        #expect(
            fresh.headHash == engine.headHash, "\(context) a fresh engine's head hash differs",
            sourceLocation: sourceLocation)
    }
}

extension Result where Success == Answer, Failure == Rejection {
    var object: JSONObject? { if case .success(let a) = self { a.object } else { nil } }
    var rejection: Rejection? { if case .failure(let r) = self { r } else { nil } }
    var code: ErrorCode? { rejection?.code }
    var seq: UInt64? { object?["seq"]?.numberValue?.int64.map { UInt64($0) } }
    func int(_ key: String) -> Int64? { object?[key]?.numberValue?.int64 }
}
