import LedgerJSON
import Testing

@testable import LedgerCore
@testable import LedgerProtocol

/// Request lines to requests (PROTOCOL §1–§4): the first error in the contract's order answers,
/// and `id` is echoed only when it is readable and valid.
@Suite struct RequestParserTests {
    static func parse(_ line: String) -> Result<ParsedRequest, RequestFailure> {
        RequestParser.parse(Array(line.utf8))
    }

    static func failure(_ line: String) -> RequestFailure? {
        if case .failure(let f) = parse(line) { return f }
        return nil
    }

    static func request(_ line: String) -> ParsedRequest? {
        if case .success(let r) = parse(line) { return r }
        return nil
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var line: String
        var code: ErrorCode
        /// Text the message must contain (the field it names).
        var mentions: String?
        var testDescription: String { name }
    }

    static let consumeBase = #""op":"consume","key":"k","team":"t","user":"u","model":"m""#
    static let topupBase = #""op":"topup","key":"k","team":"t""#
    static let id128 = String(repeating: "a", count: 128)
    static let id129 = String(repeating: "a", count: 129)

    static let rows: [Row] = [
        Row(name: "not JSON", line: "hello", code: .badRequest),
        Row(name: "not an object", line: "[1,2]", code: .badRequest),
        Row(name: "a bare string", line: #""consume""#, code: .badRequest),
        Row(name: "missing op", line: #"{"team":"t"}"#, code: .badRequest, mentions: "op"),
        Row(name: "op not a string", line: #"{"op":5}"#, code: .badRequest, mentions: "op"),
        Row(name: "unknown op", line: #"{"op":"launch"}"#, code: .unknownOp, mentions: "launch"),
        Row(
            name: "unknown op wins over an unknown field and a bad id",
            line: #"{"id":1.5,"op":"launch","colour":"red"}"#, code: .unknownOp),
        Row(
            name: "unknown op wins over missing fields", line: #"{"op":"team.explode","team":5}"#, code: .unknownOp),
        Row(
            name: "unknown field is named",
            line: "{\(consumeBase),\"cost\":1,\"colour\":\"red\"}", code: .badRequest, mentions: "colour"),
        Row(
            name: "unknown field on a read", line: #"{"op":"ping","verbose":true}"#, code: .badRequest,
            mentions: "verbose"),
        Row(name: "key on a read op", line: #"{"op":"ping","key":"k"}"#, code: .badRequest, mentions: "key"),
        Row(
            name: "record on check", line: #"{"op":"check","team":"t","user":"u","model":"m","record":true}"#,
            code: .badRequest, mentions: "record"),
        Row(name: "missing team", line: #"{"op":"topup","key":"k","amount":5}"#, code: .badRequest, mentions: "team"),
        Row(name: "missing amount", line: "{\(topupBase)}", code: .badRequest, mentions: "amount"),
        Row(
            name: "missing key on consume", line: #"{"op":"consume","team":"t","user":"u","model":"m","cost":1}"#,
            code: .badRequest, mentions: "key"),
        Row(
            name: "missing key on topup", line: #"{"op":"topup","team":"t","amount":1}"#, code: .badRequest,
            mentions: "key"),
        Row(name: "float amount", line: "{\(topupBase),\"amount\":100.0}", code: .badRequest, mentions: "amount"),
        Row(name: "exponent amount", line: "{\(topupBase),\"amount\":1e2}", code: .badRequest, mentions: "amount"),
        Row(name: "fractional amount", line: "{\(topupBase),\"amount\":0.5}", code: .badRequest, mentions: "amount"),
        Row(name: "negative amount", line: "{\(topupBase),\"amount\":-5}", code: .badRequest, mentions: "amount"),
        Row(name: "-1 where unlimited is not allowed", line: "{\(topupBase),\"amount\":-1}", code: .badRequest),
        Row(name: "amount 2^53", line: "{\(topupBase),\"amount\":9007199254740992}", code: .badRequest),
        Row(name: "amount 2^64", line: "{\(topupBase),\"amount\":18446744073709551616}", code: .badRequest),
        Row(name: "amount as a string", line: "{\(topupBase),\"amount\":\"5\"}", code: .badRequest),
        Row(name: "amount null", line: "{\(topupBase),\"amount\":null}", code: .badRequest),
        Row(name: "cost 2^53", line: "{\(consumeBase),\"cost\":9007199254740992}", code: .badRequest),
        Row(name: "daily_limit -2", line: #"{"op":"team.create","team":"t","daily_limit":-2}"#, code: .badRequest),
        Row(name: "team id of 129 bytes", line: "{\"op\":\"team.create\",\"team\":\"\(id129)\"}", code: .badRequest),
        Row(
            name: "team id of 65 two-byte characters (130 bytes)",
            line: "{\"op\":\"team.create\",\"team\":\"\(String(repeating: "\u{E9}", count: 65))\"}", code: .badRequest),
        Row(name: "empty team id", line: #"{"op":"team.create","team":""}"#, code: .badRequest),
        Row(name: "control char in id", line: #"{"op":"team.create","team":"a\u0001b"}"#, code: .badRequest),
        Row(name: "newline in id", line: #"{"op":"team.create","team":"a\nb"}"#, code: .badRequest),
        Row(name: "DEL in id", line: #"{"op":"team.create","team":"a\u007fb"}"#, code: .badRequest),
        Row(name: "C1 control in id", line: #"{"op":"team.create","team":"a\u0085b"}"#, code: .badRequest),
        Row(
            name: "key of 129 bytes", line: "{\"op\":\"topup\",\"team\":\"t\",\"amount\":1,\"key\":\"\(id129)\"}",
            code: .badRequest),
        Row(name: "id of a number type", line: #"{"op":"team.create","team":7}"#, code: .badRequest),
        Row(
            name: "unknown enum value", line: #"{"op":"pod.create","team":"t","pod":"p","budget_action":"panic"}"#,
            code: .badRequest, mentions: "budget_action"),
        Row(
            name: "unknown timezone", line: #"{"op":"team.create","team":"t","timezone":"Mars/Olympus"}"#,
            code: .badRequest),
        Row(
            name: "alert_at of 1001", line: #"{"op":"team.configure","team":"t","alert_at":[50,1001]}"#,
            code: .badRequest),
        Row(name: "alert_at of 0", line: #"{"op":"team.configure","team":"t","alert_at":[0]}"#, code: .badRequest),
        Row(name: "record not a bool", line: "{\(consumeBase),\"cost\":1,\"record\":1}", code: .badRequest),
        Row(name: "params not an object", line: "{\(consumeBase),\"params\":[1]}", code: .badRequest),
        Row(name: "params float value", line: "{\(consumeBase),\"params\":{\"steps\":2.5}}", code: .badRequest),
        Row(name: "params bool value", line: "{\(consumeBase),\"params\":{\"hd\":true}}", code: .badRequest),
        Row(
            name: "weight with 4 places", line: #"{"op":"price.set","model":"m","kind":"text","input_weight":1.0001}"#,
            code: .badRequest, mentions: "input_weight"),
        Row(
            name: "negative weight", line: #"{"op":"price.set","model":"m","kind":"text","output_weight":-1}"#,
            code: .badRequest),
        Row(
            name: "per_steps 0", line: #"{"op":"price.set","model":"m","kind":"image","base":1,"per_steps":0}"#,
            code: .badRequest),
        Row(
            name: "factor of an unknown param",
            line: #"{"op":"price.set","model":"m","kind":"image","base":1,"factors":{"colour":{"red":2}}}"#,
            code: .badRequest, mentions: "colour"),
        Row(
            name: "image price without base", line: #"{"op":"price.set","model":"m","kind":"image"}"#,
            code: .badRequest, mentions: "base"),
        Row(name: "unknown price kind", line: #"{"op":"price.set","model":"m","kind":"smell"}"#, code: .badRequest),
        Row(name: "clock.set to a non-RFC-3339 time", line: #"{"op":"clock.set","at":"yesterday"}"#, code: .badRequest),
        Row(name: "clock.advance by a negative time", line: #"{"op":"clock.advance","seconds":-1}"#, code: .badRequest),
        Row(name: "duplicate member", line: #"{"op":"ping","op":"ping"}"#, code: .badRequest),
        Row(name: "lone surrogate escape", line: #"{"op":"ping","id":"\ud800"}"#, code: .badRequest),
    ]

    /// Found by the fuzzer: a request must mean what its canonical bytes (its event) say, so a
    /// params integer written `-0` is the `0` those bytes hold.
    @Test func paramsIntegers_areKeptAsTheirCanonicalBytesWriteThem() throws {
        let minusZero = Array(#"{"op":"estimate","model":"sd","params":{"x":-0,"steps":50}}"#.utf8)
        let zero = Array(#"{"op":"estimate","model":"sd","params":{"x":0,"steps":50}}"#.utf8)
        let a = try RequestParser.parse(minusZero).get()
        let b = try RequestParser.parse(zero).get()
        #expect(a.body == b.body)
        #expect(a.payloadDigest == b.payloadDigest)
    }

    @Test(arguments: RequestParserTests.rows)
    func parse_whenRequestIsWrong_answersTheFirstErrorInContractOrder(_ row: Row) throws {
        let f = try #require(Self.failure(row.line), "accepted: \(row.line)")
        #expect(f.rejection.code == row.code, "\(f.rejection.message)")
        if let mentions = row.mentions {
            #expect(f.rejection.message.contains(mentions), "\(f.rejection.message)")
        }
    }

    @Test(arguments: [
        #"{"op":"ping"}"#,
        "{\(consumeBase),\"cost\":0}",
        "{\(consumeBase),\"cost\":9007199254740991}",
        "{\(topupBase),\"amount\":9007199254740991,\"package\":\"gold\"}",
        "{\"op\":\"team.create\",\"team\":\"\(id128)\"}",
        "{\"op\":\"team.create\",\"team\":\"\(String(repeating: "\u{E9}", count: 64))\"}",
        #"{"op":"team.create","team":"t","daily_limit":-1,"timezone":"Europe/Madrid","plan":"pro"}"#,
        #"{"op":"team.create","team":"caf\u00e9 \ud83d\ude00"}"#,
        #"{"op":"user.add","team":"t","user":"u","daily_limit":0}"#,
        #"{"op":"pod.create","team":"t","pod":"p","budget":-1,"budget_action":"block_new_tasks"}"#,
        #"{"op":"plan.define","plan":"p","monthly_tokens":-1,"max_pods":0,"max_members":-1}"#,
        #"{"op":"price.set","model":"m","kind":"text","input_weight":1.5,"output_weight":3}"#,
        #"{"op":"price.set","model":"m","kind":"image","base":10,"per_steps":25,"factors":{"resolution":{"1024x1024":1.5}}}"#,
        "{\(consumeBase),\"input_tokens\":5,\"output_tokens\":6,\"params\":{\"steps\":50,\"resolution\":\"512x512\"}}",
        "{\(consumeBase),\"pod\":\"p\",\"task\":\"x\",\"operation\":\"image\",\"cost\":3,\"record\":true}",
        #"{"op":"check","team":"t","user":"u","model":"m","cost":3}"#,
        #"{"op":"balance","team":"t","user":"u"}"#,
        #"{"op":"clock.advance","seconds":86400}"#,
        #"{"op":"clock.set","at":"2026-03-10T00:00:00.000Z"}"#,
        "\r\n {\"op\" : \"ping\" } \t",
    ])
    func parse_whenRequestIsWellFormed_accepts(line: String) {
        if case .failure(let f) = Self.parse(line) {
            Issue.record("refused \(line): \(f.rejection)")
        }
    }

    // MARK: - id echo

    @Test(
        arguments: [
            (#"{"id":"abc","op":"launch"}"#, JSON.string("abc")),
            (#"{"id":7,"op":"launch"}"#, JSON.int(7)),
            (#"{"id":-3,"op":"ping","bogus":1}"#, JSON.int(-3)),
            (#"{"id":"r-1","op":"topup","team":"t"}"#, JSON.string("r-1")),
            (#"{"op":"consume","id":"late"}"#, JSON.string("late")),
        ] as [(String, JSON)])
    func parse_whenIdIsValid_echoesItOnAFailure(line: String, id: JSON) throws {
        let f = try #require(Self.failure(line))
        #expect(f.id == id)
    }

    @Test(arguments: [
        #"{"id":1.5,"op":"ping"}"#,
        #"{"id":1e2,"op":"ping"}"#,
        #"{"id":"","op":"ping"}"#,
        #"{"id":true,"op":"ping"}"#,
        #"{"id":null,"op":"ping"}"#,
        #"{"id":["a"],"op":"ping"}"#,
        #"{"id":{"a":1},"op":"ping"}"#,
        #"{"id":"a\u0001","op":"ping"}"#,
    ])
    func parse_whenIdIsInvalid_answersBadRequestWithoutAnId(line: String) throws {
        let f = try #require(Self.failure(line))
        #expect(f.rejection.code == .badRequest)
        #expect(f.id == nil)
    }

    @Test func parse_whenIdIsTooLong_answersBadRequestWithoutAnId() throws {
        let f = try #require(Self.failure("{\"id\":\"\(Self.id129)\",\"op\":\"ping\"}"))
        #expect(f.rejection.code == .badRequest)
        #expect(f.id == nil)
        let ok = try #require(Self.request("{\"id\":\"\(Self.id128)\",\"op\":\"ping\"}"))
        #expect(ok.id == .string(Self.id128))
    }

    @Test func parse_whenInvalidUTF8_answersBadRequestWithoutAnId() throws {
        let line: [UInt8] = Array(#"{"id":1,"op":"ping","x":""#.utf8) + [0xFF] + Array(#""}"#.utf8)
        guard case .failure(let f) = RequestParser.parse(line) else {
            Issue.record("accepted invalid UTF-8")
            return
        }
        #expect(f.rejection.code == .badRequest)
        #expect(f.id == nil)
    }

    @Test func parse_whenNotAnObject_hasNoId() throws {
        #expect(try #require(Self.failure(#"[{"id":1}]"#)).id == nil)
        #expect(try #require(Self.failure("nope")).id == nil)
    }

    // MARK: - What a request becomes

    @Test func parse_whenConsume_readsEveryField() throws {
        let r = try #require(
            Self.request(
                #"{"id":9,"op":"consume","key":"k1","team":"t","user":"u","pod":"p","task":"x","model":"m","operation":"op","input_tokens":10,"output_tokens":20,"params":{"steps":5},"record":true}"#
            ))
        #expect(r.op == .consume)
        #expect(r.key == "k1")
        #expect(r.id == .int(9))
        let expected = ConsumeCommand(
            tags: UsageTags(team: id("t"), user: id("u"), pod: id("p"), task: id("x"), model: id("m"), operation: "op"),
            usage: Usage(inputTokens: 10, outputTokens: 20, params: ["steps": .int(5)]), cost: nil, record: true)
        #expect(r.body == .command(.consume(expected)))
    }

    @Test(arguments: ["consume", "check", "hold"])
    func parse_whenTaskHasNoPod_keepsTheTaskForTheTeam(op: String) throws {
        let usage = op == "hold" ? #""amount":5"# : #""cost":5"#
        let key = op == "check" ? "" : #","key":"k""#
        let r = try #require(
            Self.request(#"{"op":"\#(op)"\#(key),"team":"t","user":"u","task":"x","model":"m",\#(usage)}"#))
        let tags: UsageTags
        switch r.body {
        case .command(.consume(let c)), .query(.check(let c)): tags = c.tags
        case .command(.hold(let h)): tags = h.tags
        default: Issue.record("unexpected \(r.body)"); return
        }
        #expect(tags.pod == nil)
        #expect(tags.task == id("x"))
    }

    @Test func parse_whenAlertAtPassesOneHundred_acceptsUpToOneThousand() throws {
        let r = try #require(Self.request(#"{"op":"team.configure","team":"t","alert_at":[150,80,1000]}"#))
        guard case .command(.teamConfigure(_, _, _, _, let alertAt, _)) = r.body else {
            Issue.record("not a team.configure: \(r.body)")
            return
        }
        #expect(alertAt == [150, 80, 1000])
    }

    @Test func parse_whenPriceSetHasDecimals_storesThousandths() throws {
        let r = try #require(
            Self.request(
                #"{"op":"price.set","model":"m","kind":"image","base":10,"per_steps":25,"factors":{"resolution":{"1024x1024":1.5,"512x512":1},"quality":{"fast":0.75}}}"#
            ))
        guard case .command(.priceSet(let p)) = r.body else {
            Issue.record("not a price.set: \(r.body)")
            return
        }
        #expect(p.base == 10 && p.perSteps == 25)
        #expect(p.factorsMilli == ["resolution": ["1024x1024": 1500, "512x512": 1000], "quality": ["fast": 750]])
        let text = try #require(Self.request(#"{"op":"price.set","model":"m","kind":"text","output_weight":3}"#))
        guard case .command(.priceSet(let t)) = text.body else { return }
        #expect(t.inputWeightMilli == 1000 && t.outputWeightMilli == 3000)
    }

    // MARK: - Payload digest (§4: the request without `id`, compared as parsed JSON)

    @Test func payloadDigest_ignoresIdMemberOrderWhitespaceAndEscapes() throws {
        let a = try #require(Self.request(#"{"id":1,"op":"topup","key":"k","team":"t","amount":5}"#))
        let b = try #require(Self.request(#"{ "amount" : 5 , "team" : "\u0074", "key":"k", "op":"topup", "id":"x" }"#))
        let c = try #require(Self.request(#"{"op":"topup","key":"k","team":"t","amount":5}"#))
        #expect(a.payloadDigest == b.payloadDigest)
        #expect(a.payloadDigest == c.payloadDigest)
        #expect(a.payloadDigest.count == 32)
    }

    @Test(arguments: [
        #"{"op":"topup","key":"k","team":"t","amount":6}"#,
        #"{"op":"topup","key":"k","team":"u","amount":5}"#,
        #"{"op":"topup","key":"k","team":"t","amount":5,"package":"p"}"#,
        #"{"op":"topup","key":"k2","team":"t","amount":5}"#,
    ])
    func payloadDigest_whenAnythingButIdDiffers_differs(line: String) throws {
        let base = try #require(Self.request(#"{"op":"topup","key":"k","team":"t","amount":5}"#))
        let other = try #require(Self.request(line))
        #expect(base.payloadDigest != other.payloadDigest)
    }

    // MARK: - Params and the hash chain

    /// `params` are stored in the `consumed` event, whose RFC 8785 bytes are hashed. RFC 8785 writes
    /// numbers as IEEE 754 doubles, so an integer beyond 2^53-1 cannot keep its value there (an
    /// auditor's JCS library writes 9007199254740993 as 9007199254740992): the chain could not be
    /// re-derived. Such a value has to be refused like an amount beyond 2^53-1.
    @Test(arguments: ["9007199254740993", "-9007199254740993", "9223372036854775807"])
    func parse_whenParamsIntegerBeyond2p53_refuses(value: String) throws {
        let f = try #require(
            Self.failure("{\(Self.consumeBase),\"cost\":1,\"params\":{\"seed\":\(value)}}"), "accepted params \(value)")
        #expect(f.rejection.code == .badRequest)
    }
}

/// PROTOCOL §5's roles: admin all ops; gateway consume, hold, hold.commit, hold.release, estimate,
/// check, balance, ping; auditor balance, usage, report, audit, subscribe, verify, stats, ping.
@Suite struct OpRoleTests {
    static let gateway: Set<Op> = [.consume, .hold, .holdCommit, .holdRelease, .estimate, .check, .balance, .ping]
    static let auditor: Set<Op> = [.balance, .usage, .report, .audit, .subscribe, .verify, .stats, .ping]

    @Test(arguments: Op.allCases)
    func allows_whenRole_followsTheProtocolTable(op: Op) {
        #expect(op.allows(.admin))
        #expect(op.allows(.gateway) == Self.gateway.contains(op))
        #expect(op.allows(.auditor) == Self.auditor.contains(op))
    }
}
