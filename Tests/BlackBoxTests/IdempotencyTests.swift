import LedgerJSON
import LedgerTestKit
import Testing

/// PROTOCOL §4: a key reused with the same payload answers `duplicate:true` with the original seq
/// and appends nothing; with another payload it is `conflict`; in one batch the same.
@Suite("Idempotency")
struct IdempotencyTests {
    private static let consume: JSON = JSON.request(
        "consume", ["team": "t", "user": "u", "model": "m", "cost": 10, "key": "same"])

    @Test func consume_retriedWithTheSamePayload_answersDuplicateWithTheOriginalSeqAndAppendsNothing() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let first = try ledger.connection.call(Self.consume)
            #expect(first["ok"]?.bool == true, "\(first.line)")
            #expect(first["duplicate"] == nil || first["duplicate"] == false)
            let seq = try ledger.seq()
            // Another id and another connection: the payload is the request without `id`.
            let other = try ledger.connect()
            defer { other.close() }
            let again = try other.call(Self.consume.setting("id", "retry-1"))
            #expect(again["ok"]?.bool == true, "\(again.line)")
            #expect(again["id"]?.string == "retry-1")
            #expect(again["duplicate"]?.bool == true)
            #expect(again["seq"] == first["seq"])
            #expect(again["cost"]?.int == 10)
            #expect(again["available"]?.int == 499_990)
            #expect(try ledger.seq() == seq, "a duplicate appends nothing")
            #expect(try ledger.audit(["types": ["consumed"]]).count == 1)
        }
    }

    @Test func duplicate_answersTheCurrentFigures() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            try ledger.connection.call(Self.consume)
            try ledger.consume(cost: 5)
            let again = try ledger.connection.call(Self.consume)
            #expect(again["duplicate"]?.bool == true)
            #expect(again["cost"]?.int == 10, "the original cost")
            #expect(again["available"]?.int == 499_985, "the current figures, not those of the original")
        }
    }

    @Test func topup_retriedWithTheSamePayload_isDuplicate() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let topup = JSON.request("topup", ["team": "t", "amount": 100, "key": "pay-1"])
            let first = try ledger.connection.call(topup)
            let seq = try ledger.seq()
            let again = try ledger.connection.call(topup)
            #expect(again["ok"]?.bool == true)
            #expect(again["duplicate"]?.bool == true)
            #expect(again["seq"] == first["seq"] || first["seq"] == nil)
            #expect(try ledger.seq() == seq)
            #expect(try ledger.ok("balance", ["team": "t"])["available"]?.int == 500_100)
        }
    }

    @Test func key_reusedWithADifferentPayload_isConflictAndAppendsNothing() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            try ledger.connection.call(Self.consume)
            let seq = try ledger.seq()
            expectError(try ledger.connection.call(Self.consume.setting("cost", 11)), code: "conflict")
            expectError(try ledger.connection.call(Self.consume.setting("operation", "chat")), code: "conflict")
            // Keys are global: the same key on another op is another payload.
            expectError(
                try ledger.call("topup", ["team": "t", "amount": 10, "key": "same"]), code: "conflict")
            #expect(try ledger.seq() == seq)
        }
    }

    @Test func oneKeyTwiceInOneBatch_answersOriginalThenDuplicate() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let answers = try ledger.connection.pipeline([Self.consume, Self.consume, JSON.request("ping")])
            #expect(answers.count == 3)
            #expect(answers[0]["ok"]?.bool == true, "\(answers[0].line)")
            #expect(answers[1]["ok"]?.bool == true, "\(answers[1].line)")
            #expect(answers[1]["duplicate"]?.bool == true)
            #expect(answers[1]["seq"] == answers[0]["seq"])
            #expect(answers[2]["seq"] == answers[0]["seq"], "one event appended")
            #expect(try ledger.audit(["types": ["consumed"]]).count == 1)
        }
    }

    @Test func oneKeyWithTwoPayloadsInOneBatch_answersTheSecondWithConflict() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let before = try ledger.seq()
            let answers = try ledger.connection.pipeline([
                Self.consume, Self.consume.setting("cost", 20), JSON.request("ping"),
            ])
            #expect(answers[0]["ok"]?.bool == true, "\(answers[0].line)")
            expectError(answers[1], code: "conflict")
            #expect(answers[2]["seq"]?.int == before + 1)
            #expect(try ledger.ok("balance", ["team": "t"])["available"]?.int == 499_990)
        }
    }

    @Test func rejectedRequest_leavesItsKeyFree() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let tooMuch = Self.consume.setting("cost", 600_000)
            expectError(try ledger.connection.call(tooMuch), code: "insufficient_tokens", scope: "pool")
            let fits = try ledger.connection.call(Self.consume)
            #expect(fits["ok"]?.bool == true, "\(fits.line)")
            #expect(fits["duplicate"] == nil || fits["duplicate"] == false)
            // Now the key is taken by the payload that succeeded; the refused one is another payload.
            let retried = try ledger.connection.call(tooMuch)
            expectError(retried, code: "conflict")
        }
    }

    @Test func keys_surviveARestart() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let first = try ledger.connection.call(Self.consume)
            try ledger.restart()
            let seq = try ledger.seq()
            let again = try ledger.connection.call(Self.consume)
            #expect(again["duplicate"]?.bool == true, "\(again.line)")
            #expect(again["seq"] == first["seq"])
            #expect(try ledger.seq() == seq)
        }
    }
}
