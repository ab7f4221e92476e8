import LedgerJSON
import LedgerTestKit
import Testing

/// One line the daemon must refuse: what it gets, what it must answer.
struct BadLine: Sendable, CustomTestStringConvertible {
    var name: String
    /// The line without its "\n".
    var bytes: [UInt8]
    var code: String
    /// The id the answer must echo; `nil`: the answer must have no `id`.
    var id: JSON?
    /// The op whose schemas the answer and the line belong to (`nil`: not a readable request).
    var op: String?
    /// The line as a JSON object the contract rejects, so its request schema must reject it too.
    var invalid: JSON?
    /// A word the error message must contain (the unknown field's name).
    var mentions: String?
    /// `false` where the contract leaves open whether the id is readable.
    var checksId = true

    var testDescription: String { name }

    /// The same line, not checked against the request schema (which cannot tell, e.g. bytes
    /// from characters in maxLength).
    func schemaCannotTell() -> BadLine {
        var copy = self
        copy.invalid = nil
        return copy
    }

    /// The same line, without a check of the answer's id.
    func idLeftOpen() -> BadLine {
        var copy = self
        copy.checksId = false
        return copy
    }

    init(_ name: String, text: String, code: String = "bad_request", id: JSON? = nil) {
        self.init(name, bytes: Array(text.utf8), code: code, id: id)
    }

    init(_ name: String, bytes: [UInt8], code: String = "bad_request", id: JSON? = nil) {
        self.name = name
        self.bytes = bytes
        self.code = code
        self.id = id
    }

    /// A JSON object the contract rejects; its `id` must be echoed.
    init(_ name: String, object: JSON, code: String = "bad_request", mentions: String? = nil) {
        self.name = name
        self.bytes = Array(object.line.utf8)
        self.code = code
        self.id = object["id"]
        self.op = object["op"]?.string
        self.invalid = code == "unknown_op" ? nil : object
        self.mentions = mentions
    }
}

private func topup(_ id: Int, amount: JSON) -> JSON {
    ["op": "topup", "id": JSON(id), "team": "t", "amount": amount, "key": .string("bad-\(id)")]
}

private func teamCreate(_ id: Int, team: JSON) -> JSON {
    ["op": "team.create", "id": JSON(id), "team": team]
}

@Suite("Bad input")
struct BadInputTests {
    static let badLines: [BadLine] = [
        BadLine("not JSON", text: "hello"),
        BadLine("truncated JSON", text: #"{"op":"ping","id":6"#),
        BadLine("a JSON array", text: #"[{"op":"ping","id":1}]"#),
        BadLine("a JSON string", text: #""ping""#),
        BadLine("a JSON number", text: "42"),
        BadLine("JSON null", text: "null"),
        BadLine("garbage bytes", bytes: [0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x01, 0xFF, 0x7F]),
        BadLine(
            "invalid UTF-8 inside a string",
            bytes: Array(#"{"op":"ping","id":"a"#.utf8) + [0xFF, 0xFE] + Array(#"b"}"#.utf8)),
        BadLine(
            "an overlong UTF-8 encoding",
            bytes: Array(#"{"op":"ping","id":3,"x":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8)
        ).idLeftOpen(),
        BadLine("an unknown op", object: ["op": "frobnicate", "id": 7], code: "unknown_op"),
        BadLine(
            "an unknown op with an unknown field (unknown_op comes first)",
            object: ["op": "frobnicate", "id": 8, "bogus": 1], code: "unknown_op"),
        BadLine("no op", object: ["id": 9, "team": "t"]),
        BadLine("an unknown field", object: ["op": "ping", "id": 11, "bogus": true], mentions: "bogus"),
        BadLine(
            "an unknown field on consume",
            object: [
                "op": "consume", "id": 12, "team": "t", "user": "u", "model": "m", "cost": 1, "key": "b12",
                "colour": "red",
            ], mentions: "colour"),
        BadLine("amount 100.0", object: topup(20, amount: .raw(number: "100.0"))),
        BadLine("amount 1e2", object: topup(21, amount: .raw(number: "1e2"))),
        BadLine("amount -5", object: topup(22, amount: -5)),
        BadLine("amount 2^64", object: topup(23, amount: .raw(number: "18446744073709551616"))),
        BadLine("amount 2^53", object: topup(24, amount: .raw(number: "9007199254740992"))),
        BadLine("amount as a string", object: topup(25, amount: "100")),
        BadLine(
            "cost 2.5",
            object: [
                "op": "consume", "id": 26, "team": "t", "user": "u", "model": "m", "cost": .raw(number: "2.5"),
                "key": "b26",
            ]),
        BadLine(
            "consume without a key",
            object: ["op": "consume", "id": 27, "team": "t", "user": "u", "model": "m", "cost": 1]),
        BadLine(
            "record not a boolean",
            object: [
                "op": "consume", "id": 28, "team": "t", "user": "u", "model": "m", "cost": 1, "record": "yes",
                "key": "b28",
            ]),
        BadLine("a 129-byte team id", object: teamCreate(30, team: .string(String(repeating: "a", count: 129)))),
        BadLine(
            "a 129-byte team id of multi-byte characters",
            object: teamCreate(31, team: .string(String(repeating: "é", count: 64) + "a"))
        ).schemaCannotTell(),
        BadLine("an empty team id", object: teamCreate(32, team: "")),
        BadLine("a team id with a control character", object: teamCreate(33, team: "a\u{01}b")),
        BadLine("a team id that is a number", object: teamCreate(34, team: 5)),
        BadLine("team.create without team", object: ["op": "team.create", "id": 35, "plan": "solo"]),
        BadLine(
            "a daily limit below -1",
            object: ["op": "team.create", "id": 36, "team": "x", "daily_limit": -2]),
        BadLine("an audit limit above 10000", object: ["op": "audit", "id": 37, "limit": 10_001]),
        BadLine(
            "a clock time without milliseconds", object: ["op": "clock.set", "id": 38, "at": "2026-02-01T00:00:00Z"]),
    ]

    @Test(arguments: badLines)
    func badLine_isRefusedAppendsNothingAndDisturbsNoOne(_ bad: BadLine) throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let bystander = try ledger.connect()
            defer { bystander.close() }
            let seq = try #require(try bystander.call("ping")["seq"]?.int)

            try ledger.connection.sendRaw(bad.bytes + [0x0A], expectedAnswers: [bad.op], invalid: bad.invalid)
            let answer = try ledger.connection.readResponse()
            expectError(answer, code: bad.code)
            if !bad.checksId {
                // The contract leaves it open.
            } else if let id = bad.id {
                #expect(answer["id"] == id, "the id is echoed: \(answer.line)")
            } else {
                #expect(answer["id"] == nil, "no readable id, so the answer has none: \(answer.line)")
            }
            if let word = bad.mentions {
                #expect(answer["error"]?["message"]?.string?.contains(word) == true, "the message names \(word)")
            }
            // The connection stays usable, nothing was appended, the bystander saw nothing.
            #expect(try ledger.seq() == seq)
            #expect(try bystander.call("ping")["seq"]?.int == seq)
        }
    }

    @Test func badLineInsideAPipeline_isAnsweredInOrderAndTheRestProceeds() throws {
        try withLedger { ledger in
            let bytes = Array("{\"op\":\"ping\",\"id\":1}\nnot json\n{\"op\":\"ping\",\"id\":3}\n".utf8)
            try ledger.connection.sendRaw(bytes, expectedAnswers: ["ping", nil, "ping"])
            let answers = try (0..<3).map { _ in try ledger.connection.readResponse() }
            #expect(answers[0]["id"]?.int == 1)
            #expect(answers[0]["ok"]?.bool == true)
            expectError(answers[1], code: "bad_request")
            #expect(answers[2]["id"]?.int == 3)
            #expect(answers[2]["ok"]?.bool == true)
        }
    }

    @Test func crlfLines_areAcceptedAndEmptyLinesIgnored() throws {
        try withLedger { ledger in
            let bytes = Array("\n\r\n{\"op\":\"ping\",\"id\":1}\r\n\n{\"op\":\"ping\",\"id\":2}\n".utf8)
            try ledger.connection.sendRaw(bytes, expectedAnswers: ["ping", "ping"])
            let first = try ledger.connection.readResponse()
            let second = try ledger.connection.readResponse()
            #expect(first["id"]?.int == 1 && first["ok"]?.bool == true, "\(first.line)")
            #expect(second["id"]?.int == 2 && second["ok"]?.bool == true, "\(second.line)")
        }
    }

    @Test func lineOfExactlyTheLimit_isServed() throws {
        try withLedger { ledger in
            var line = Array(#"{"op":"ping","id":1}"#.utf8)
            line += [UInt8](repeating: 0x20, count: 65_536 - line.count)
            try ledger.connection.sendRaw(line + [0x0A], expectedAnswers: ["ping"])
            let answer = try ledger.connection.readResponse()
            #expect(answer["ok"]?.bool == true, "a 65536-byte line is within the limit: \(answer.line)")
            #expect(answer["id"]?.int == 1)
        }
    }

    @Test(arguments: [true, false])
    func lineOverTheLimit_isLineTooLongThenClosedAndDisturbsNoOne(endsWithNewline: Bool) throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let bystander = try ledger.connect()
            defer { bystander.close() }
            let seq = try #require(try bystander.call("ping")["seq"]?.int)

            var line = Array(#"{"op":"ping","id":1}"#.utf8)
            // Without a newline the daemon must not wait for one: 70000 bytes and no end.
            line += [UInt8](repeating: 0x20, count: (endsWithNewline ? 65_537 : 70_000) - line.count)
            try ledger.connection.sendRaw(endsWithNewline ? line + [0x0A] : line, expectedAnswers: [nil])
            let answer = try ledger.connection.readResponse()
            expectError(answer, code: "line_too_long")
            #expect(try ledger.connection.readResponseOrEOF() == nil, "the connection is closed after the answer")

            #expect(try bystander.call("ping")["seq"]?.int == seq)
            let fresh = try ledger.connect()
            defer { fresh.close() }
            #expect(try fresh.call("ping")["seq"]?.int == seq)
        }
    }

    static let validIds: [JSON] = [
        "abc", "req-1", .string(String(repeating: "i", count: 128)), 42, 0, -7, 9_007_199_254_740_993,
    ]
    static let invalidIds: [JSON] = [
        true, .raw(number: "1.5"), [:], [1], .null, "", .string(String(repeating: "i", count: 129)), "a\u{01}",
    ]

    @Test(arguments: validIds)
    func validId_isEchoedUnchanged(_ id: JSON) throws {
        try withLedger { ledger in
            let answer = try ledger.connection.call(JSON.request("ping").setting("id", id))
            #expect(answer["id"] == id, "\(answer.line)")
            if case .number(let n) = id { #expect(answer["id"] == .number(n), "same integer text") }
        }
    }

    @Test(arguments: invalidIds)
    func invalidId_getsAnAnswerWithoutId(_ id: JSON) throws {
        try withLedger { ledger in
            let seq = try ledger.seq()
            let request = JSON.request("ping").setting("id", id)
            try ledger.connection.sendRaw(
                Array((request.line + "\n").utf8), expectedAnswers: ["ping"], invalid: request)
            let answer = try ledger.connection.readResponse()
            #expect(answer["id"] == nil, "\(request.line) → \(answer.line)")
            #expect(try ledger.seq() == seq)
        }
    }
}
