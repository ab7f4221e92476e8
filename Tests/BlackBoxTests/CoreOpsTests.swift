import LedgerJSON
import LedgerTestKit
import Testing

/// The ops of the core issue, each against a fresh daemon on a manual clock at `startTime`
/// (2026-01-15T10:00:00.000Z, so a team created then has billing anchor 15).
@Suite("Core ops")
struct CoreOpsTests {
    @Test func ping_answersTheLastCommittedSeq() throws {
        try withLedger { ledger in
            let before = try ledger.seq()
            #expect(before >= 0)
            try ledger.ok("team.create", ["team": "t"])
            let after = try ledger.seq()
            let events = try ledger.audit()
            #expect(events.last?["seq"]?.int == after, "ping seq is the last event's seq")
            #expect(after == before + 2, "team.create appends team_created and cycle_started")
            #expect(events.compactMap { $0["seq"]?.int } == Array(1...after), "seqs are 1, 2, 3, ... without gaps")
        }
    }

    @Test func teamCreate_onSolo_startsOneCycleWithTheFullAllowance() throws {
        try withLedger { ledger in
            let before = try ledger.seq()
            try ledger.ok("team.create", ["team": "t"])
            let events = try ledger.audit(["team": "t"])
            #expect(events.map { $0["type"]?.string } == ["team_created", "cycle_started"])
            let created = try #require(events.first)
            #expect(created["seq"]?.int == before + 1)
            #expect(created["ts"]?.string == startTime)
            #expect(created["plan"]?.string == "solo")
            #expect(created["timezone"]?.string == "UTC")
            #expect(created["daily_limit"]?.int == -1, "default daily limit is --default-daily-limit, -1")
            #expect(created["cycle_anchor"]?.int == 15)
            let cycle = try #require(events.last)
            #expect(cycle["seq"]?.int == before + 2)
            #expect(cycle["plan"]?.string == "solo")
            #expect(cycle["allowance"]?.int == 500_000)
            #expect(cycle["lapsed"]?.int == 0)
            #expect(cycle["cycle_end"]?.string == "2026-02-15T00:00:00.000Z", "next cycle at local midnight of day 15")
            #expect((cycle["cycle_start"]?.string ?? "~") <= startTime)

            let balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["available"]?.int == 500_000)
            #expect(
                balance["buckets"]
                    == [
                        [
                            "seq": JSON(before + 2), "source": "allowance", "amount": 500_000,
                            "expires_at": "2026-02-15T00:00:00.000Z",
                        ]
                    ],
                "one allowance bucket named by the cycle_started seq: \(balance.line)")
            #expect(balance["overdraft"]?.int == 0)
            #expect(balance["held"]?.int == 0)
            #expect(balance["consumed_today"]?.int == 0)
            #expect(balance["consumed_cycle"]?.int == 0)
            #expect(balance["daily_limit"]?.int == -1)
            #expect(balance["monthly_budget"]?.int == -1)
            #expect(balance["budget_used"]?.int == 0)
            #expect(balance["paused"]?.bool == false)
            #expect(balance["status"]?.string == "green")
            #expect(balance["warnings"] == [])
            #expect(balance["plan"]?.string == "solo")
            #expect(balance["cycle_end"]?.string == "2026-02-15T00:00:00.000Z")
            #expect(balance["resets_at"]?.string == "2026-01-16T00:00:00.000Z")
        }
    }

    @Test(arguments: [("solo", 500_000), ("starter", 2_000_000), ("pro", 10_000_000), ("enterprise", -1)])
    func teamCreate_onEachBuiltInPlan_grantsItsAllowance(plan: String, allowance: Int) throws {
        try withLedger { ledger in
            try ledger.ok("team.create", ["team": "t", "plan": .string(plan)])
            let cycles = try ledger.audit(["team": "t", "types": ["cycle_started"]])
            #expect(cycles.count == 1)
            #expect(cycles.first?["allowance"]?.int == allowance)
            #expect(cycles.first?["plan"]?.string == plan)
            let balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["available"]?.int == allowance, "\(balance.line)")
            #expect(balance["plan"]?.string == plan)
        }
    }

    @Test func teamCreate_withoutDailyLimit_storesTheDefaultDailyLimitFlag() throws {
        try withLedger(manualClock + ["--default-daily-limit", "777"]) { ledger in
            try ledger.ok("team.create", ["team": "t"])
            try ledger.ok("team.create", ["team": "t2", "daily_limit": 5])
            let created = try ledger.audit(["types": ["team_created"]])
            #expect(created.map { $0["daily_limit"]?.int } == [777, 5])
            #expect(try ledger.ok("balance", ["team": "t"])["daily_limit"]?.int == 777)
        }
    }

    @Test func teamCreate_whenTheTeamExistsOrThePlanIsUnknown_refusesAndAppendsNothing() throws {
        try withLedger { ledger in
            try ledger.ok("team.create", ["team": "t"])
            let seq = try ledger.seq()
            try ledger.fails("team.create", ["team": "t"], code: "already_exists")
            try ledger.fails("team.create", ["team": "t2", "plan": "no-such-plan"], code: "not_found")
            #expect(try ledger.seq() == seq)
        }
    }

    @Test func userAdd_addsAUserWithUnlimitedDailyLimitByDefault() throws {
        try withLedger { ledger in
            try ledger.ok("team.create", ["team": "t", "plan": "pro"])
            try ledger.ok("user.add", ["team": "t", "user": "u"])
            try ledger.ok("user.add", ["team": "t", "user": "v", "daily_limit": 50])
            let added = try ledger.audit(["types": ["user_added"]])
            #expect(added.map { $0["user"]?.string } == ["u", "v"])
            #expect(added.map { $0["daily_limit"]?.int } == [-1, 50])
            #expect(added.allSatisfy { $0["team"]?.string == "t" })
            let seq = try ledger.seq()
            try ledger.fails("user.add", ["team": "t", "user": "u"], code: "already_exists")
            try ledger.fails("user.add", ["team": "nope", "user": "u"], code: "not_found")
            #expect(try ledger.seq() == seq)
            let balance = try ledger.ok("balance", ["team": "t", "user": "v"])
            #expect(balance["user"]?["user"]?.string == "v")
            #expect(balance["user"]?["daily_limit"]?.int == 50)
            #expect(balance["user"]?["consumed_today"]?.int == 0)
            #expect(balance["user"]?["allocation_left"]?.int == -1, "an unset allocation reads as -1")
        }
    }

    @Test func userAdd_pastThePlansMemberCount_isPlanLimit() throws {
        try withLedger { ledger in
            try ledger.ok("team.create", ["team": "t"])  // solo: 1 member
            try ledger.ok("user.add", ["team": "t", "user": "u"])
            let seq = try ledger.seq()
            try ledger.fails("user.add", ["team": "t", "user": "v"], code: "plan_limit")
            #expect(try ledger.seq() == seq)
        }
    }

    @Test func podCreate_addsAPodWithUnlimitedBudgetAndAlertByDefault() throws {
        try withLedger { ledger in
            try ledger.ok("team.create", ["team": "t", "plan": "pro"])
            try ledger.ok("pod.create", ["team": "t", "pod": "p"])
            try ledger.ok("pod.create", ["team": "t", "pod": "q", "budget": 1000, "budget_action": "pause"])
            let pods = try ledger.audit(["types": ["pod_created"]])
            #expect(pods.map { $0["pod"]?.string } == ["p", "q"])
            #expect(pods.map { $0["budget"]?.int } == [-1, 1000])
            #expect(pods.map { $0["budget_action"]?.string } == ["alert", "pause"])
            let seq = try ledger.seq()
            try ledger.fails("pod.create", ["team": "t", "pod": "p"], code: "already_exists")
            try ledger.fails("pod.create", ["team": "nope", "pod": "p"], code: "not_found")
            #expect(try ledger.seq() == seq)
        }
    }

    @Test func podCreate_pastThePlansPodCount_isPlanLimit() throws {
        try withLedger { ledger in
            try ledger.ok("team.create", ["team": "t"])  // solo: 1 pod
            try ledger.ok("pod.create", ["team": "t", "pod": "p"])
            let seq = try ledger.seq()
            try ledger.fails("pod.create", ["team": "t", "pod": "q"], code: "plan_limit")
            #expect(try ledger.seq() == seq)
        }
    }

    @Test func planDefine_definesAPlanThatNewTeamsGet() throws {
        try withLedger { ledger in
            try ledger.ok("plan.define", ["plan": "mini", "monthly_tokens": 1000, "max_pods": 2, "max_members": -1])
            let defined = try ledger.audit(["types": ["plan_defined"]])
            #expect(defined.count == 1)
            #expect(defined.first?["plan"]?.string == "mini")
            #expect(defined.first?["monthly_tokens"]?.int == 1000)
            #expect(defined.first?["max_pods"]?.int == 2)
            #expect(defined.first?["max_members"]?.int == -1)
            try ledger.ok("team.create", ["team": "t", "plan": "mini"])
            #expect(try ledger.ok("balance", ["team": "t"])["available"]?.int == 1000)
            #expect(try ledger.audit(["team": "t", "types": ["cycle_started"]]).first?["allowance"]?.int == 1000)
            try ledger.ok(
                "plan.define",
                ["plan": "huge", "monthly_tokens": 9_007_199_254_740_991, "max_pods": -1, "max_members": -1])
            // Redefining replaces it (from each team's next cycle): allowed.
            try ledger.ok("plan.define", ["plan": "mini", "monthly_tokens": 2000, "max_pods": 2, "max_members": -1])
            #expect(
                try ledger.ok("balance", ["team": "t"])["available"]?.int == 1000, "the current cycle keeps its grant")
        }
    }

    @Test func priceSet_text_storesWeightsInThousandthsAndPricesWithCeil() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro")
            try ledger.ok("price.set", ["model": "m", "kind": "text", "input_weight": 1.5, "output_weight": 3])
            let set = try #require(try ledger.audit(["types": ["price_set"], "model": "m"]).last)
            #expect(set["kind"]?.string == "text")
            #expect(set["input_weight_milli"]?.int == 1500)
            #expect(set["output_weight_milli"]?.int == 3000)
            let before = try #require(try ledger.ok("balance", ["team": "t"])["available"]?.int)
            // 3 × 1.5 + 2 × 3 = 10.5 → 11
            let consumed = try ledger.ok(
                "consume",
                ["team": "t", "user": "u", "model": "m", "input_tokens": 3, "output_tokens": 2, "key": "c1"])
            #expect(consumed["cost"]?.int == 11)
            #expect(consumed["available"]?.int == before - 11)
            let event = try #require(try ledger.audit(["types": ["consumed"]]).last)
            #expect(event["cost"]?.int == 11)
            #expect(event["input_tokens"]?.int == 3)
            #expect(event["output_tokens"]?.int == 2)
            #expect(event["model"]?.string == "m")
        }
    }

    @Test(arguments: [
        // (input_weight, output_weight, input_tokens, output_tokens, cost)
        (JSON(floatLiteral: 1.0), JSON(floatLiteral: 1.0), 7, 5, 12),
        (JSON(floatLiteral: 0.001), JSON(floatLiteral: 0.001), 1, 1, 1),  // 0.002 → 1
        // Exactly 11; in binary floating point 1.1 × 10 is 11.000000000000002.
        (JSON(floatLiteral: 1.1), JSON(floatLiteral: 1.0), 10, 0, 11),
        (JSON(floatLiteral: 0.5), JSON(floatLiteral: 0.5), 1, 1, 1),
        (JSON(integerLiteral: 2), JSON(integerLiteral: 0), 0, 0, 0),
    ])
    func consume_withTextUsage_costsTheCeilOfTheExactThousandths(
        inputWeight: JSON, outputWeight: JSON, input: Int, output: Int, cost: Int
    ) throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro")
            try ledger.ok(
                "price.set", ["model": "w", "kind": "text", "input_weight": inputWeight, "output_weight": outputWeight])
            let consumed = try ledger.ok(
                "consume",
                [
                    "team": "t", "user": "u", "model": "w", "input_tokens": JSON(input), "output_tokens": JSON(output),
                    "key": "c",
                ])
            #expect(consumed["cost"]?.int == cost, "\(consumed.line)")
        }
    }

    @Test func priceSet_withDefaultWeights_pricesOneTokenPerToken() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro")
            try ledger.ok("price.set", ["model": "plain", "kind": "text"])
            let set = try #require(try ledger.audit(["types": ["price_set"], "model": "plain"]).last)
            #expect(set["input_weight_milli"]?.int == 1000)
            #expect(set["output_weight_milli"]?.int == 1000)
            let consumed = try ledger.ok(
                "consume",
                ["team": "t", "user": "u", "model": "plain", "input_tokens": 7, "output_tokens": 5, "key": "c"])
            #expect(consumed["cost"]?.int == 12)
        }
    }

    @Test func consume_withCost_lowersAvailableByTheCostAndAnswersTheFigures() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let cycleSeq = try #require(try ledger.audit(["types": ["cycle_started"]]).last?["seq"]?.int)
            let response = try ledger.ok(
                "consume", ["team": "t", "user": "u", "model": "anything", "cost": 1000, "key": "c1"])
            #expect(response["cost"]?.int == 1000)
            #expect(response["available"]?.int == 499_000)
            #expect(response["consumed_today"]?.int == 1000)
            #expect(response["status"]?.string == "green")
            #expect(response["warnings"] == [])
            #expect(response["user"]?["user"]?.string == "u")
            #expect(response["user"]?["consumed_today"]?.int == 1000)
            #expect(response["user"]?["daily_limit"]?.int == -1)
            let seq = try ledger.seq()
            #expect(response["seq"]?.int == seq)
            let event = try #require(try ledger.audit(["types": ["consumed"]]).last)
            #expect(event["seq"]?.int == seq)
            #expect(event["key"]?.string == "c1")
            #expect(event["team"]?.string == "t")
            #expect(event["user"]?.string == "u")
            #expect(event["model"]?.string == "anything")
            #expect(event["cost"]?.int == 1000)
            #expect(event["day"]?.string == "2026-01-15")
            #expect(event["draws"] == [["bucket_seq": JSON(cycleSeq), "amount": 1000]])
            #expect(event["overdraft"]?.int == 0)
            #expect(event["record"]?.bool == false)
            let balance = try ledger.ok("balance", ["team": "t", "user": "u"])
            #expect(balance["available"]?.int == 499_000)
            #expect(balance["consumed_today"]?.int == 1000)
            #expect(balance["consumed_cycle"]?.int == 1000)
            #expect(balance["user"]?["consumed_today"]?.int == 1000)
        }
    }

    @Test func consume_ofAnUnknownModelWithoutCost_isNotFound() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let seq = try ledger.seq()
            try ledger.fails(
                "consume",
                [
                    "team": "t", "user": "u", "model": "no-such-model", "input_tokens": 1, "output_tokens": 1,
                    "key": "c",
                ],
                code: "not_found")
            #expect(try ledger.seq() == seq)
            // The key stayed free: with a cost, the same key is a new request.
            try ledger.ok("consume", ["team": "t", "user": "u", "model": "no-such-model", "cost": 5, "key": "c"])
        }
    }

    @Test func consume_forAnUnknownTeamOrUser_isNotFound() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let seq = try ledger.seq()
            try ledger.fails(
                "consume", ["team": "nope", "user": "u", "model": "m", "cost": 1, "key": "a"], code: "not_found")
            try ledger.fails(
                "consume", ["team": "t", "user": "nope", "model": "m", "cost": 1, "key": "b"], code: "not_found")
            try ledger.fails("balance", ["team": "nope"], code: "not_found")
            try ledger.fails("balance", ["team": "t", "user": "nope"], code: "not_found")
            #expect(try ledger.seq() == seq)
        }
    }

    @Test func consume_pastThePool_isInsufficientTokensWithScopePool() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let first = try ledger.consume(cost: 499_999)
            #expect(first["available"]?.int == 1)
            #expect(first["status"]?.string == "yellow", "E = 1 < 20% of (1 + 499999)")
            #expect(first["warnings"]?.array?.contains("low_balance") == true, "\(first.line)")
            let seq = try ledger.seq()
            expectError(try ledger.consume(cost: 2), code: "insufficient_tokens", scope: "pool")
            #expect(try ledger.seq() == seq, "a refusal appends nothing")
            let last = try ledger.consume(cost: 1)
            #expect(last["ok"]?.bool == true, "reaching the pool exactly is allowed: \(last.line)")
            #expect(last["available"]?.int == 0)
            #expect(last["status"]?.string == "red")
            expectError(try ledger.consume(cost: 1), code: "insufficient_tokens", scope: "pool")
        }
    }

    @Test func consumesInOneBatch_neverOverspendThePool() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let consume = { (key: String) -> JSON in
                ["op": "consume", "team": "t", "user": "u", "model": "m", "cost": 300_000, "key": .string(key)]
            }
            let answers = try ledger.connection.pipeline([
                consume("a"), consume("b"), JSON.request("balance", ["team": "t"]),
            ])
            #expect(answers[0]["ok"]?.bool == true, "\(answers[0].line)")
            expectError(answers[1], code: "insufficient_tokens", scope: "pool")
            #expect(answers[2]["available"]?.int == 200_000)
        }
    }

    @Test func pipelinedRequests_seeTheEffectsOfEarlierOnesOnTheirConnection() throws {
        try withLedger { ledger in
            let answers = try ledger.connection.pipeline([
                JSON.request("team.create", ["team": "t"]),
                JSON.request("user.add", ["team": "t", "user": "u"]),
                JSON.request("consume", ["team": "t", "user": "u", "model": "m", "cost": 7, "key": "c"]),
                JSON.request("balance", ["team": "t", "user": "u"]),
            ])
            #expect(answers.allSatisfy { $0["ok"]?.bool == true }, "\(answers.map(\.line))")
            #expect(answers.map { $0["id"]?.int } == [1, 2, 3, 4], "answers come back in request order")
            #expect(answers[3]["available"]?.int == 499_993)
            #expect(answers[3]["user"]?["consumed_today"]?.int == 7)
        }
    }

    @Test func balanceOnAnotherConnection_seesEveryAcknowledgedWrite() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let reader = try ledger.connect()
            defer { reader.close() }
            for cost in 1...5 {
                #expect(try ledger.consume(cost: cost)["ok"]?.bool == true)
                let seen = try reader.call("balance", ["team": "t"])
                #expect(seen["consumed_today"]?.int == (1...cost).reduce(0, +), "\(seen.line)")
            }
        }
    }

    @Test func topup_creditsAtOnceAsALastNeverExpiringBucket() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            try ledger.fails("topup", ["team": "nope", "amount": 5, "key": "x"], code: "not_found")
            try ledger.ok("topup", ["team": "t", "amount": 1000, "package": "starter-pack", "key": "p1"])
            let topup = try #require(try ledger.audit(["types": ["topup"]]).last)
            #expect(topup["team"]?.string == "t")
            #expect(topup["amount"]?.int == 1000)
            #expect(topup["package"]?.string == "starter-pack")
            #expect(topup["key"]?.string == "p1")
            let balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["available"]?.int == 501_000)
            let buckets = try #require(balance["buckets"]?.array)
            #expect(buckets.map { $0["source"]?.string } == ["allowance", "topup"])
            #expect(buckets.last?["seq"] == topup["seq"])
            #expect(buckets.last?["amount"]?.int == 1000)
            #expect(buckets.last?["expires_at"] == .null)
            // Spend order: the allowance first, the top-up last.
            try ledger.consume(cost: 500_000)
            let drawn = try ledger.consume(cost: 10)
            #expect(drawn["available"]?.int == 990)
            let event = try #require(try ledger.audit(["types": ["consumed"]]).last)
            #expect(event["draws"] == [["bucket_seq": topup["seq"]!, "amount": 10]])
        }
    }

    @Test func consume_pastTheTeamDailyLimit_isDailyLimitExceededWithScopeTeamDaily() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", dailyLimit: 100)
            #expect(try ledger.consume(cost: 60)["ok"]?.bool == true)
            let seq = try ledger.seq()
            expectError(try ledger.consume(cost: 41), code: "daily_limit_exceeded", scope: "team_daily")
            #expect(try ledger.seq() == seq)
            let exact = try ledger.consume(cost: 40)
            #expect(exact["ok"]?.bool == true, "reaching the limit exactly is allowed: \(exact.line)")
            #expect(exact["consumed_today"]?.int == 100)
            #expect(exact["status"]?.string == "red", "nothing left of the team's daily limit")
            #expect(exact["warnings"]?.array?.contains("near_daily_limit") == true, "\(exact.line)")
            expectError(try ledger.consume(cost: 1), code: "daily_limit_exceeded", scope: "team_daily")
            let balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["daily_limit"]?.int == 100)
            #expect(balance["consumed_today"]?.int == 100)
        }
    }

    @Test func consume_pastTheUserDailyLimit_isDailyLimitExceededWithScopeUserDaily() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro", users: [])
            try ledger.ok("user.add", ["team": "t", "user": "u", "daily_limit": 50])
            try ledger.ok("user.add", ["team": "t", "user": "v"])
            expectError(try ledger.consume(cost: 51), code: "daily_limit_exceeded", scope: "user_daily")
            #expect(try ledger.consume(cost: 50)["user"]?["consumed_today"]?.int == 50)
            expectError(try ledger.consume(cost: 1), code: "daily_limit_exceeded", scope: "user_daily")
            #expect(try ledger.consume(user: "v", cost: 1000)["ok"]?.bool == true, "another user is not limited")
        }
    }

    @Test func consume_pastBothDailyLimits_answersTheTeamLimitFirst() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro", dailyLimit: 10, users: [])
            try ledger.ok("user.add", ["team": "t", "user": "u", "daily_limit": 5])
            expectError(try ledger.consume(cost: 11), code: "daily_limit_exceeded", scope: "team_daily")
            expectError(try ledger.consume(cost: 6), code: "daily_limit_exceeded", scope: "user_daily")
            // Past the team's daily limit and the pool: the daily limit answers (§8 order).
            try ledger.ok("plan.define", ["plan": "tiny", "monthly_tokens": 3, "max_pods": -1, "max_members": -1])
            try ledger.makeTeam("s", plan: "tiny", dailyLimit: 4, users: ["u"])
            expectError(try ledger.consume(team: "s", cost: 5), code: "daily_limit_exceeded", scope: "team_daily")
            expectError(try ledger.consume(team: "s", cost: 4), code: "insufficient_tokens", scope: "pool")
        }
    }

    @Test func audit_filtersByTeamTypesModelUserAndTime() throws {
        try withLedger { ledger in
            try ledger.makeTeam("a", plan: "pro", users: ["ua"])
            try ledger.makeTeam("b", plan: "pro", users: ["ub"])
            try ledger.consume(team: "a", user: "ua", cost: 1, model: "m1")
            try ledger.consume(team: "b", user: "ub", cost: 2, model: "m2")
            let t1 = Time.adding(3600, to: startTime)
            try ledger.ok("clock.set", ["at": .string(t1)])
            try ledger.consume(team: "a", user: "ua", cost: 3, model: "m1")
            try ledger.ok("topup", ["team": "b", "amount": 7, "key": "tb"])
            let t2 = Time.adding(7200, to: startTime)
            try ledger.ok("clock.set", ["at": .string(t2)])
            try ledger.consume(team: "a", user: "ua", cost: 4, model: "m2")

            let all = try ledger.audit()
            let teamA = try ledger.audit(["team": "a"])
            #expect(teamA.map { $0["seq"] } == all.filter { $0["team"]?.string == "a" }.map { $0["seq"] })
            #expect(
                teamA.map { $0["type"]?.string } == [
                    "team_created", "cycle_started", "user_added", "consumed", "consumed", "consumed",
                ])
            let consumed = try ledger.audit(["types": ["consumed"]])
            #expect(consumed.map { $0["cost"]?.int } == [1, 2, 3, 4])
            let either = try ledger.audit(["types": ["consumed", "topup"]])
            #expect(either.map { $0["type"]?.string } == ["consumed", "consumed", "consumed", "topup", "consumed"])
            let both = try ledger.audit(["team": "a", "types": ["consumed"], "model": "m2"])
            #expect(both.map { $0["cost"]?.int } == [4], "filters AND")
            let byUser = try ledger.audit(["user": "ub"])
            #expect(byUser.map { $0["type"]?.string } == ["user_added", "consumed"])
            let window = try ledger.audit(["from": .string(t1), "to": .string(t2)])
            #expect(window.map { $0["type"]?.string } == ["consumed", "topup"], "from inclusive, to exclusive")
            #expect(window.allSatisfy { $0["ts"]?.string == t1 })
            let fromT2 = try ledger.audit(["from": .string(t2)])
            #expect(fromT2.map { $0["cost"]?.int } == [4])
            let beforeT1 = try ledger.audit(["to": .string(t1)])
            #expect(beforeT1.count == all.count - 3)
        }
    }

    @Test func audit_pagesWithAfterSeqAndLimitAndEndsWithNullAtTheHead() throws {
        try withLedger { ledger in
            for index in 0..<3 { try ledger.makeTeam("t\(index)", users: []) }
            let head = try ledger.seq()
            let all = try ledger.audit()
            #expect(all.compactMap { $0["seq"]?.int } == Array(1...head))

            let first = try ledger.ok("audit", ["after_seq": 0, "limit": 2])
            #expect(first["events"]?.array?.compactMap { $0["seq"]?.int } == [1, 2])
            #expect(first["next_after_seq"]?.int == 2)

            var collected: [Int] = []
            var afterSeq = 0
            var pages = 0
            while pages <= head {
                let page = try ledger.ok("audit", ["after_seq": JSON(afterSeq), "limit": 2])
                let seqs = try #require(page["events"]?.array).compactMap { $0["seq"]?.int }
                #expect(seqs.count <= 2)
                collected += seqs
                pages += 1
                guard let next = page["next_after_seq"]?.int else {
                    #expect(page["next_after_seq"] == .null, "next_after_seq is present and null at the head")
                    break
                }
                afterSeq = next
            }
            #expect(collected == Array(1...head), "pages cover the log once, in order")

            let atHead = try ledger.ok("audit", ["after_seq": JSON(head)])
            #expect(atHead["events"] == [])
            #expect(atHead["next_after_seq"] == .null)
            let filtered = try ledger.ok("audit", ["types": ["team_created"], "limit": 10_000])
            #expect(filtered["events"]?.array?.count == 3)
            #expect(filtered["next_after_seq"] == .null)
            try ledger.fails("audit", ["limit": 10_001], code: "bad_request", schemaRejects: true)
        }
    }

    @Test func verify_checksTheChainAndNamesTheHead() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            try ledger.consume(cost: 5)
            let head = try ledger.seq()
            let all = try ledger.audit()
            let verify = try ledger.ok("verify")
            #expect(verify["head_seq"]?.int == head)
            #expect(verify["checked"]?.int == head)
            #expect(verify["head_hash"] == all.last?["hash"])
            let stats = try ledger.ok("stats")
            #expect(stats["head_hash"] == verify["head_hash"])
            let range = try ledger.ok("verify", ["from_seq": 2, "to_seq": 4])
            #expect(range["checked"]?.int == 3)
            // The contract leaves open whether a ranged verify names the log's head or the range's
            // end; either way head_hash must be the hash of the event at head_seq.
            let rangeHead = try #require(range["head_seq"]?.int)
            #expect(rangeHead == 4 || rangeHead == head)
            #expect(range["head_hash"] == all.first { $0["seq"]?.int == rangeHead }?["hash"])
            try ledger.fails("verify", ["from_seq": JSON(head + 5)], code: "not_found")
        }
    }

    @Test func stats_reportsHeadEventsConnectionsAndMap() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let other = try ledger.connect()
            defer { other.close() }
            #expect(try other.call("ping")["ok"]?.bool == true)
            let head = try ledger.seq()
            let stats = try ledger.ok("stats")
            #expect(stats["seq"]?.int == head)
            #expect(stats["events"]?.int == head)
            #expect(stats["head_hash"]?.string?.count == 64)
            #expect(stats["projections"]?.isObject == true)
            #expect((stats["connections"]?.int ?? 0) >= 2)
            #expect((stats["uptime_s"]?.double ?? -1) >= 0)
            let mapSize = try #require(stats["map_size"]?.int)
            let mapUsed = try #require(stats["map_used"]?.int)
            #expect(mapSize > 0 && mapUsed > 0 && mapUsed <= mapSize)
        }
    }

    @Test func clock_setAndAdvance_moveTheManualClockForwardOnly() throws {
        try withLedger { ledger in
            let later = Time.adding(60, to: startTime)
            let set = try ledger.ok("clock.set", ["at": .string(later)])
            #expect(set["now"]?.string == later)
            #expect(set.has("appended"))
            let advanced = try ledger.ok("clock.advance", ["seconds": 90])
            #expect(advanced["now"]?.string == Time.adding(150, to: startTime))
            #expect(try ledger.ok("clock.advance", ["seconds": 0])["now"]?.string == Time.adding(150, to: startTime))
            let seq = try ledger.seq()
            try ledger.fails("clock.set", ["at": .string(startTime)], code: "bad_request")
            try ledger.fails("clock.advance", ["seconds": -1], code: "bad_request", schemaRejects: true)
            #expect(try ledger.seq() == seq)
            try ledger.ok("team.create", ["team": "t"])
            #expect(try ledger.audit(["team": "t"]).allSatisfy { $0["ts"]?.string == Time.adding(150, to: startTime) })
        }
    }

    @Test func clockOps_onTheSystemClock_areUnknownOps() throws {
        try withLedger([]) { ledger in
            try ledger.fails("clock.set", ["at": "2030-01-01T00:00:00.000Z"], code: "unknown_op")
            try ledger.fails("clock.advance", ["seconds": 1], code: "unknown_op")
        }
    }
}
