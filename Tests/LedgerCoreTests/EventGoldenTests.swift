import LedgerJSON
import Testing

@testable import LedgerCore

/// Golden bytes for every event type of PROTOCOL §6: the RFC 8785 form without `hash` is what
/// the hash chain covers, so any change to these strings breaks every stored log. The expected
/// strings were written from the contract's field table (keys sorted, no whitespace, non-ASCII
/// literal), not printed from the code.
@Suite struct EventGoldenTests {
    struct Golden: Sendable, CustomTestStringConvertible {
        var name: String
        var event: Event
        var bytes: String
        var testDescription: String { name }
    }

    static let ts = Instant(rfc3339: "2026-01-05T10:00:00.000Z")!
    static func at(_ s: String) -> Instant { Instant(rfc3339: s)! }
    static func id(_ s: String) -> ID { ID(s)! }
    static func day(_ s: String) -> LocalDay { LocalDay(string: s)! }
    static func event(_ seq: UInt64, key: String? = nil, _ body: EventBody) -> Event {
        Event(seq: seq, ts: ts, key: key, body: body)
    }

    static let ana = UsageTags(team: id("acme"), user: id("ana"), model: id("flux"))

    /// One case per type, in `EventBody.allTypes` order, with every optional field set where it has one.
    static let perType: [Golden] = [
        Golden(
            name: "team_created",
            event: event(
                1, key: "k-team",
                .teamCreated(
                    team: id("acme"), plan: id("starter"), timezone: "Europe/Madrid", dailyLimit: 100_000,
                    cycleAnchor: 5)),
            bytes:
                #"{"cycle_anchor":5,"daily_limit":100000,"key":"k-team","plan":"starter","seq":1,"team":"acme","timezone":"Europe/Madrid","ts":"2026-01-05T10:00:00.000Z","type":"team_created","v":1}"#
        ),
        Golden(
            name: "team_configured",
            event: event(
                2,
                .teamConfigured(
                    team: id("acme"), dailyLimit: 5000, monthlyBudget: 1_000_000, budgetAction: .blockNewTasks,
                    alertAt: [50, 80, 100], plan: id("pro"))),
            bytes:
                #"{"alert_at":[50,80,100],"budget_action":"block_new_tasks","daily_limit":5000,"monthly_budget":1000000,"plan":"pro","seq":2,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"team_configured","v":1}"#
        ),
        Golden(
            name: "team_resumed",
            event: event(3, .teamResumed(team: id("acme"))),
            bytes: #"{"seq":3,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"team_resumed","v":1}"#
        ),
        Golden(
            name: "pod_resumed",
            event: event(4, .podResumed(team: id("acme"), pod: id("render"))),
            bytes:
                #"{"pod":"render","seq":4,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"pod_resumed","v":1}"#
        ),
        Golden(
            name: "user_added",
            event: event(5, key: "k-user", .userAdded(team: id("acme"), user: id("ana"), dailyLimit: -1)),
            bytes:
                #"{"daily_limit":-1,"key":"k-user","seq":5,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"user_added","user":"ana","v":1}"#
        ),
        Golden(
            name: "user_removed",
            event: event(6, .userRemoved(team: id("acme"), user: id("ana"))),
            bytes:
                #"{"seq":6,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"user_removed","user":"ana","v":1}"#
        ),
        Golden(
            name: "user_assigned",
            event: event(7, .userAssigned(team: id("acme"), user: id("ana"), amount: 2500)),
            bytes:
                #"{"amount":2500,"seq":7,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"user_assigned","user":"ana","v":1}"#
        ),
        Golden(
            name: "pod_created",
            event: event(8, .podCreated(team: id("acme"), pod: id("render"), budget: -1, budgetAction: .alert)),
            bytes:
                #"{"budget":-1,"budget_action":"alert","pod":"render","seq":8,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"pod_created","v":1}"#
        ),
        Golden(
            name: "pod_configured",
            event: event(9, .podConfigured(team: id("acme"), pod: id("render"), budget: 7000, budgetAction: .pause)),
            bytes:
                #"{"budget":7000,"budget_action":"pause","pod":"render","seq":9,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"pod_configured","v":1}"#
        ),
        Golden(
            name: "pod_archived",
            event: event(10, .podArchived(team: id("acme"), pod: id("render"), budget: 7000, budgetAction: .pause)),
            bytes:
                #"{"budget":7000,"budget_action":"pause","pod":"render","seq":10,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"pod_archived","v":1}"#
        ),
        Golden(
            name: "plan_defined",
            event: event(11, .planDefined(plan: id("tiny"), monthlyTokens: 1000, maxPods: 1, maxMembers: -1)),
            bytes:
                #"{"max_members":-1,"max_pods":1,"monthly_tokens":1000,"plan":"tiny","seq":11,"ts":"2026-01-05T10:00:00.000Z","type":"plan_defined","v":1}"#
        ),
        Golden(
            name: "price_set (text)",
            event: event(
                12,
                .priceSet(
                    {
                        var p = PriceSpec(model: id("gpt-4o"), kind: .text)
                        p.inputWeightMilli = 1500
                        p.outputWeightMilli = 3000
                        return p
                    }())),
            bytes:
                #"{"input_weight_milli":1500,"kind":"text","model":"gpt-4o","output_weight_milli":3000,"seq":12,"ts":"2026-01-05T10:00:00.000Z","type":"price_set","v":1}"#
        ),
        Golden(
            name: "topup",
            event: event(13, key: "k-topup", .topup(team: id("acme"), amount: 50_000, package: "caf\u{E9} pack")),
            bytes:
                #"{"amount":50000,"key":"k-topup","package":"café pack","seq":13,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"topup","v":1}"#
        ),
        Golden(
            name: "bonus_granted",
            event: event(
                14, key: "k-bonus",
                .bonusGranted(
                    team: id("acme"), amount: 300, reason: .referral, expiresAt: at("2026-02-01T00:00:00.000Z"))),
            bytes:
                #"{"amount":300,"expires_at":"2026-02-01T00:00:00.000Z","key":"k-bonus","reason":"referral","seq":14,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"bonus_granted","v":1}"#
        ),
        Golden(
            name: "cycle_started",
            event: event(
                15,
                .cycleStarted(
                    team: id("acme"), plan: id("starter"), allowance: 2_000_000,
                    cycleStart: at("2026-01-05T00:00:00.000Z"), cycleEnd: at("2026-02-05T00:00:00.000Z"), lapsed: 125)),
            bytes:
                #"{"allowance":2000000,"cycle_end":"2026-02-05T00:00:00.000Z","cycle_start":"2026-01-05T00:00:00.000Z","lapsed":125,"plan":"starter","seq":15,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"cycle_started","v":1}"#
        ),
        Golden(
            name: "daily_reset",
            event: event(16, .dailyReset(team: id("acme"), user: nil, day: day("2026-01-06"), manual: false)),
            bytes:
                #"{"day":"2026-01-06","manual":false,"seq":16,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"daily_reset","v":1}"#
        ),
        Golden(
            name: "bonus_expired",
            event: event(17, .bonusExpired(team: id("acme"), bonusSeq: 14, amount: 80)),
            bytes:
                #"{"amount":80,"bonus_seq":14,"seq":17,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"bonus_expired","v":1}"#
        ),
        Golden(
            name: "consumed",
            event: event(
                18, key: "k-consume",
                .consumed(
                    Consumption(
                        tags: UsageTags(
                            team: id("acme"), user: id("ana"), pod: id("render"), task: id("t/1"), model: id("gpt-4o"),
                            operation: "g\u{E9}n\u{E9}rer"),
                        inputTokens: 1200, outputTokens: 300,
                        params: ["steps": .int(50), "resolution": .string("1024x1024")], cost: 2700,
                        day: day("2026-01-05"),
                        draws: [Draw(bucketSeq: 14, amount: 300), Draw(bucketSeq: 15, amount: 2400)], overdraft: 0,
                        record: false))),
            bytes:
                #"{"cost":2700,"day":"2026-01-05","draws":[{"amount":300,"bucket_seq":14},{"amount":2400,"bucket_seq":15}],"input_tokens":1200,"key":"k-consume","model":"gpt-4o","operation":"générer","output_tokens":300,"overdraft":0,"params":{"resolution":"1024x1024","steps":50},"pod":"render","record":false,"seq":18,"task":"t/1","team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"consumed","user":"ana","v":1}"#
        ),
        Golden(
            name: "hold_placed",
            event: event(
                19, key: "k-hold",
                .holdPlaced(
                    HoldPlacement(
                        tags: ana, amount: 40, expiresAt: at("2026-01-05T10:10:00.000Z"),
                        draws: [Draw(bucketSeq: 15, amount: 40)]))),
            bytes:
                #"{"amount":40,"draws":[{"amount":40,"bucket_seq":15}],"expires_at":"2026-01-05T10:10:00.000Z","key":"k-hold","model":"flux","seq":19,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"hold_placed","user":"ana","v":1}"#
        ),
        Golden(
            name: "hold_committed",
            event: event(
                20, key: "k-commit",
                .holdCommitted(
                    HoldCommitment(
                        holdSeq: 19, tags: ana, inputTokens: nil, outputTokens: nil, cost: 55, day: day("2026-01-05"),
                        draws: [Draw(bucketSeq: 15, amount: 10)], overdraft: 5, released: 0))),
            bytes:
                #"{"cost":55,"day":"2026-01-05","draws":[{"amount":10,"bucket_seq":15}],"hold_seq":19,"key":"k-commit","model":"flux","overdraft":5,"released":0,"seq":20,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"hold_committed","user":"ana","v":1}"#
        ),
        Golden(
            name: "hold_released",
            event: event(21, .holdReleased(holdSeq: 19, team: id("acme"), released: 40)),
            bytes:
                #"{"hold_seq":19,"released":40,"seq":21,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"hold_released","v":1}"#
        ),
        Golden(
            name: "hold_expired",
            event: event(22, .holdExpired(holdSeq: 19, team: id("acme"), released: 40)),
            bytes:
                #"{"hold_seq":19,"released":40,"seq":22,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"hold_expired","v":1}"#
        ),
        Golden(
            name: "budget_alert",
            event: event(
                23,
                .budgetAlert(team: id("acme"), scope: "pod", pod: id("render"), percent: 75, used: 5250, budget: 7000)),
            bytes:
                #"{"budget":7000,"percent":75,"pod":"render","scope":"pod","seq":23,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"budget_alert","used":5250,"v":1}"#
        ),
        Golden(
            name: "reversed",
            event: event(
                24, key: "k-rev",
                .reversed(
                    Reversal(
                        reversesSeq: 18, team: id("acme"), amount: 2700, reason: "duplicate charge",
                        restored: [Draw(bucketSeq: 15, amount: 2400)], lapsed: 300, origin: nil))),
            bytes:
                #"{"amount":2700,"key":"k-rev","lapsed":300,"reason":"duplicate charge","restored":[{"amount":2400,"bucket_seq":15}],"reverses_seq":18,"seq":24,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"reversed","v":1}"#
        ),
    ]

    /// Optional fields left out, the other price kind, and an unlimited allowance.
    static let variants: [Golden] = [
        Golden(
            name: "team_configured with one field",
            event: event(
                25,
                .teamConfigured(
                    team: id("acme"), dailyLimit: -1, monthlyBudget: nil, budgetAction: nil, alertAt: nil, plan: nil)),
            bytes:
                #"{"daily_limit":-1,"seq":25,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"team_configured","v":1}"#
        ),
        Golden(
            name: "price_set (image)",
            event: event(
                26,
                .priceSet(
                    {
                        var p = PriceSpec(model: id("flux"), kind: .image)
                        p.base = 20
                        p.perSteps = 25
                        p.factorsMilli = [
                            "resolution": ["512x512": 1000, "1024x1024": 1500], "quality": ["fast": 750],
                        ]
                        return p
                    }())),
            bytes:
                #"{"base":20,"factors_milli":{"quality":{"fast":750},"resolution":{"1024x1024":1500,"512x512":1000}},"kind":"image","model":"flux","per_steps":25,"seq":26,"ts":"2026-01-05T10:00:00.000Z","type":"price_set","v":1}"#
        ),
        Golden(
            name: "topup without package",
            event: event(27, key: "k-t2", .topup(team: id("acme"), amount: 0, package: nil)),
            bytes:
                #"{"amount":0,"key":"k-t2","seq":27,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"topup","v":1}"#
        ),
        Golden(
            name: "bonus_granted without expiry",
            event: event(28, key: "k-b2", .bonusGranted(team: id("acme"), amount: 10, reason: .gift, expiresAt: nil)),
            bytes:
                #"{"amount":10,"key":"k-b2","reason":"gift","seq":28,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"bonus_granted","v":1}"#
        ),
        Golden(
            name: "daily_reset of one user, manual",
            event: event(29, .dailyReset(team: id("acme"), user: id("ana"), day: day("2026-01-05"), manual: true)),
            bytes:
                #"{"day":"2026-01-05","manual":true,"seq":29,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"daily_reset","user":"ana","v":1}"#
        ),
        Golden(
            name: "consumed, recorded, no optional fields",
            event: event(
                30, key: "k-c2",
                .consumed(
                    Consumption(
                        tags: ana, inputTokens: nil, outputTokens: nil, params: nil, cost: 9, day: day("2026-01-05"),
                        draws: [], overdraft: 9, record: true))),
            bytes:
                #"{"cost":9,"day":"2026-01-05","draws":[],"key":"k-c2","model":"flux","overdraft":9,"record":true,"seq":30,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"consumed","user":"ana","v":1}"#
        ),
        Golden(
            name: "budget_alert of a team",
            event: event(
                31,
                .budgetAlert(
                    team: id("acme"), scope: "team", pod: nil, percent: 100, used: 1_000_000, budget: 1_000_000)),
            bytes:
                #"{"budget":1000000,"percent":100,"scope":"team","seq":31,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"budget_alert","used":1000000,"v":1}"#
        ),
        Golden(
            name: "cycle_started unlimited",
            event: event(
                32,
                .cycleStarted(
                    team: id("big"), plan: id("enterprise"), allowance: -1, cycleStart: ts,
                    cycleEnd: at("2026-02-05T00:00:00.000Z"), lapsed: 0)),
            bytes:
                #"{"allowance":-1,"cycle_end":"2026-02-05T00:00:00.000Z","cycle_start":"2026-01-05T10:00:00.000Z","lapsed":0,"plan":"enterprise","seq":32,"team":"big","ts":"2026-01-05T10:00:00.000Z","type":"cycle_started","v":1}"#
        ),
    ]

    /// Fields added to §6 by this implementation (allowed: the contract may grow): a reversed
    /// consumption says whose counters go down.
    static let additions: [Golden] = [
        Golden(
            name: "reversed of a consumption, with its origin",
            event: event(
                33, key: "k-rev2",
                .reversed(
                    Reversal(
                        reversesSeq: 18, team: id("acme"), amount: 500, reason: "refund",
                        restored: [Draw(bucketSeq: 15, amount: 400)], lapsed: 0,
                        origin: Reversal.Origin(
                            user: id("ana"), pod: id("render"), overdraft: 100, uncountDay: true, uncountCycle: false)))
            ),
            bytes:
                #"{"amount":500,"key":"k-rev2","lapsed":0,"overdraft":100,"pod":"render","reason":"refund","restored":[{"amount":400,"bucket_seq":15}],"reverses_seq":18,"seq":33,"team":"acme","ts":"2026-01-05T10:00:00.000Z","type":"reversed","uncount_cycle":false,"uncount_day":true,"user":"ana","v":1}"#
        )
    ]

    @Test func goldenCases_coverEveryEventTypeOfTheContract() {
        #expect(Self.perType.map(\.event.body.type) == EventBody.allTypes)
        #expect(EventBody.allTypes.count == 24)
        #expect(Set(EventBody.allTypes).count == 24)
    }

    @Test(arguments: EventGoldenTests.perType + EventGoldenTests.variants + EventGoldenTests.additions)
    func canonicalBytes_matchTheGoldenString(_ golden: Golden) {
        #expect(CanonicalJSON.string(.object(golden.event.json())) == golden.bytes)
        #expect(CanonicalJSON.bytes(.object(golden.event.json())) == Array(golden.bytes.utf8))
    }

    @Test(arguments: EventGoldenTests.perType + EventGoldenTests.variants + EventGoldenTests.additions)
    func eventJSON_roundTripsToTheSameEvent(_ golden: Golden) throws {
        let back = try Event(json: golden.event.json())
        #expect(back == golden.event)
        // And through the bytes, as an auditor's export is read.
        guard case .object(let parsed) = try JSONParser.parse(Array(golden.bytes.utf8)) else {
            Issue.record("golden bytes are not an object")
            return
        }
        #expect(try Event(json: parsed) == golden.event)
    }

    @Test(arguments: EventGoldenTests.perType + EventGoldenTests.variants + EventGoldenTests.additions)
    func eventJSON_withHash_putsHashLastAndReadsBackIgnoringIt(_ golden: Golden) throws {
        let hash = String(repeating: "ab", count: 32)
        let o = golden.event.json(hash: hash)
        #expect(o.keys.last == "hash")
        #expect(try Event(json: o) == golden.event)
    }

    @Test func eventJSON_whenUnknownFieldPresent_isRefused() throws {
        var o = Self.perType[2].event.json()
        o["colour"] = .string("red")
        #expect(throws: Rejection.self) { try Event(json: o) }
    }

    @Test func eventJSON_whenTypeUnknown_isRefused() {
        var o = Self.perType[2].event.json()
        o["type"] = .string("team_exploded")
        #expect(throws: Rejection.self) { try Event(json: o) }
    }

    @Test func eventJSON_whenVersionIsNotOne_isRefused() {
        var o = Self.perType[2].event.json()
        o["v"] = .int(2)
        #expect(throws: Rejection.self) { try Event(json: o) }
    }
}
