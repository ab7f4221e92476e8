import LedgerJSON
import LedgerTestKit
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Each op group of §5 through the daemon, on a manual clock at `startTime`
/// (2026-01-15T10:00:00.000Z; a team created then has billing anchor 15).
@Suite("Money ops")
struct MoneyOpsTests {
    static func key() -> JSON { .string(Ledger.freshKey()) }

    @discardableResult
    static func consume(
        _ ledger: Ledger, user: String = "u", pod: String? = nil, task: String? = nil, cost: Int, record: Bool = false
    ) throws -> JSON {
        var request = JSON.request(
            "consume", ["team": "t", "user": .string(user), "model": "m", "cost": JSON(cost), "key": key()])
        if let pod { request = request.setting("pod", .string(pod)) }
        if let task { request = request.setting("task", .string(task)) }
        if record { request = request.setting("record", true) }
        return try ledger.connection.call(request)
    }

    // MARK: team.configure / team.resume

    @Test func teamConfigure_pauseBudget_alertsRefusesAndResumes() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro")
            try ledger.ok(
                "team.configure",
                ["team": "t", "monthly_budget": 100, "budget_action": "pause", "alert_at": [100, 50]])
            let configured = try #require(try ledger.audit(["types": ["team_configured"]]).last)
            #expect(configured["team"]?.string == "t")
            #expect(configured["monthly_budget"]?.int == 100)
            #expect(configured["budget_action"]?.string == "pause")
            #expect(configured["alert_at"] == [50, 100], "alert_at sorted: \(configured.line)")

            #expect(try Self.consume(ledger, cost: 60)["ok"]?.bool == true)
            // Passing the budget is refused; reaching it exactly is allowed.
            expectError(try Self.consume(ledger, cost: 41), code: "budget_exceeded", scope: "team_budget")
            #expect(try Self.consume(ledger, cost: 40)["ok"]?.bool == true)
            let alerts = try ledger.audit(["types": ["budget_alert"]])
            #expect(alerts.map { $0["percent"]?.int } == [50, 100], "\(alerts.map(\.line))")
            #expect(alerts.allSatisfy { $0["scope"]?.string == "team" && $0["budget"]?.int == 100 })
            #expect(alerts.map { $0["used"]?.int } == [60, 100])

            var balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["paused"]?.bool == true, "used ≥ budget pauses: \(balance.line)")
            #expect(balance["budget_used"]?.int == 100)
            #expect(balance["monthly_budget"]?.int == 100)
            let seq = try ledger.seq()
            expectError(try Self.consume(ledger, cost: 1), code: "budget_exceeded", scope: "team_budget")
            #expect(try ledger.seq() == seq)

            try ledger.ok("team.resume", ["team": "t"])
            let resumed = try #require(try ledger.audit(["types": ["team_resumed"]]).last)
            #expect(resumed["team"]?.string == "t")
            balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["paused"]?.bool == false, "\(balance.line)")
            #expect(try Self.consume(ledger, cost: 50)["ok"]?.bool == true, "resumed: runs past the budget")

            try ledger.fails("team.configure", ["team": "nope", "daily_limit": 5], code: "not_found")
            try ledger.fails("team.resume", ["team": "nope"], code: "not_found")
        }
    }

    // MARK: pod.configure / pod.archive / pod.resume

    @Test func podConfigureArchiveResume() throws {
        try withLedger { ledger in
            try ledger.ok("plan.define", ["plan": "two", "monthly_tokens": 1000, "max_pods": 2, "max_members": -1])
            try ledger.makeTeam("t", plan: "two")
            try ledger.ok("pod.create", ["team": "t", "pod": "p", "budget": 10, "budget_action": "pause"])
            #expect(try Self.consume(ledger, pod: "p", cost: 10)["ok"]?.bool == true)
            expectError(try Self.consume(ledger, pod: "p", cost: 1), code: "budget_exceeded", scope: "pod_budget")

            try ledger.ok("pod.resume", ["team": "t", "pod": "p"])
            let resumed = try #require(try ledger.audit(["types": ["pod_resumed"]]).last)
            #expect(resumed["pod"]?.string == "p")
            #expect(try Self.consume(ledger, pod: "p", cost: 1)["ok"]?.bool == true, "resumed pod runs past its budget")

            // block_new_tasks on a pod that was never resumed.
            try ledger.ok("pod.create", ["team": "t", "pod": "b", "budget": 5])
            #expect(try Self.consume(ledger, pod: "b", task: "known", cost: 5)["ok"]?.bool == true)
            try ledger.ok("pod.configure", ["team": "t", "pod": "b", "budget": 5, "budget_action": "block_new_tasks"])
            let configured = try #require(try ledger.audit(["types": ["pod_configured"]]).last)
            #expect(configured["pod"]?.string == "b")
            #expect(configured["budget"]?.int == 5)
            #expect(configured["budget_action"]?.string == "block_new_tasks")
            #expect(
                try Self.consume(ledger, pod: "b", task: "known", cost: 1)["ok"]?.bool == true, "known task goes on")
            expectError(
                try Self.consume(ledger, pod: "b", task: "new", cost: 1), code: "budget_exceeded", scope: "pod_budget")
            expectError(try Self.consume(ledger, pod: "b", cost: 1), code: "budget_exceeded", scope: "pod_budget")

            try ledger.fails("pod.create", ["team": "t", "pod": "q"], code: "plan_limit")
            try ledger.ok("pod.archive", ["team": "t", "pod": "p"])
            let archived = try #require(try ledger.audit(["types": ["pod_archived"]]).last)
            #expect(archived["pod"]?.string == "p")
            let seq = try ledger.seq()
            expectError(try Self.consume(ledger, pod: "p", cost: 1), code: "not_found")
            try ledger.fails("pod.configure", ["team": "t", "pod": "p", "budget": 1], code: "not_found")
            try ledger.fails("pod.resume", ["team": "t", "pod": "p"], code: "not_found")
            try ledger.fails("pod.create", ["team": "t", "pod": "p"], code: "already_exists")
            #expect(try ledger.seq() == seq)
            try ledger.ok("pod.create", ["team": "t", "pod": "q"])  // the archived pod no longer counts
        }
    }

    // MARK: user.remove / user.assign

    @Test func userAssignAndRemove() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")  // solo: one member at most
            try ledger.ok("user.assign", ["team": "t", "user": "u", "amount": 10])
            let assigned = try #require(try ledger.audit(["types": ["user_assigned"]]).last)
            #expect(assigned["amount"]?.int == 10)
            #expect(try Self.consume(ledger, cost: 6)["ok"]?.bool == true)
            expectError(try Self.consume(ledger, cost: 5), code: "insufficient_tokens", scope: "allocation")
            var balance = try ledger.ok("balance", ["team": "t", "user": "u"])
            #expect(balance["user"]?["allocation_left"]?.int == 4, "\(balance.line)")
            #expect(try Self.consume(ledger, cost: 4)["ok"]?.bool == true)

            // Refilled to the allocation at the cycle start.
            try ledger.ok("clock.set", ["at": "2026-02-15T00:00:00.000Z"])
            balance = try ledger.ok("balance", ["team": "t", "user": "u"])
            #expect(balance["user"]?["allocation_left"]?.int == 10, "\(balance.line)")

            try ledger.fails("user.add", ["team": "t", "user": "v"], code: "plan_limit")
            try ledger.ok("user.remove", ["team": "t", "user": "u"])
            let removed = try #require(try ledger.audit(["types": ["user_removed"]]).last)
            #expect(removed["user"]?.string == "u")
            let seq = try ledger.seq()
            expectError(try Self.consume(ledger, cost: 1), code: "not_found")
            try ledger.fails("user.assign", ["team": "t", "user": "u", "amount": 5], code: "not_found")
            try ledger.fails("user.remove", ["team": "t", "user": "u"], code: "not_found")
            try ledger.fails("user.add", ["team": "t", "user": "u"], code: "already_exists")
            try ledger.fails("balance", ["team": "t", "user": "u"], code: "not_found")
            #expect(try ledger.seq() == seq)
            try ledger.ok("user.add", ["team": "t", "user": "v"])  // the removed user no longer counts
        }
    }

    // MARK: bonus.grant

    @Test func bonusGrant_isSpentFirstAndRefusesAPastExpiry() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let granted = try ledger.ok(
                "bonus.grant",
                [
                    "team": "t", "amount": 100, "reason": "referral", "expires_at": "2026-01-20T00:00:00.000Z",
                    "key": "b1",
                ])
            let bonusSeq = try #require(granted["seq"]?.int)
            let event = try #require(try ledger.audit(["types": ["bonus_granted"]]).last)
            #expect(event["amount"]?.int == 100)
            #expect(event["reason"]?.string == "referral")
            #expect(event["expires_at"]?.string == "2026-01-20T00:00:00.000Z")
            let balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["available"]?.int == 500_100)
            #expect(
                balance["buckets"]?[0]
                    == [
                        "seq": JSON(bonusSeq), "source": "bonus", "amount": 100,
                        "expires_at": "2026-01-20T00:00:00.000Z",
                    ],
                "the bonus expires first, so it is spent first: \(balance.line)")
            #expect(try Self.consume(ledger, cost: 30)["ok"]?.bool == true)
            let consumed = try #require(try ledger.audit(["types": ["consumed"]]).last)
            #expect(consumed["draws"] == [["bucket_seq": JSON(bonusSeq), "amount": 30]])

            // A bonus without expiry never expires.
            try ledger.ok("bonus.grant", ["team": "t", "amount": 5, "reason": "other", "key": "b2"])
            let seq = try ledger.seq()
            try ledger.fails(
                "bonus.grant",
                ["team": "t", "amount": 5, "reason": "gift", "expires_at": .string(startTime), "key": "b3"],
                code: "bad_request")
            try ledger.fails(
                "bonus.grant", ["team": "t", "amount": 5, "reason": "bribe", "key": "b4"], code: "bad_request",
                schemaRejects: true)
            try ledger.fails(
                "bonus.grant", ["team": "nope", "amount": 5, "reason": "gift", "key": "b5"], code: "not_found")
            #expect(try ledger.seq() == seq)
        }
    }

    // MARK: reset

    @Test func reset_manualForOneUserAndForTheTeam() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro", dailyLimit: 10, users: ["u", "v"])
            #expect(try Self.consume(ledger, user: "u", cost: 5)["ok"]?.bool == true)
            #expect(try Self.consume(ledger, user: "v", cost: 5)["ok"]?.bool == true)
            expectError(try Self.consume(ledger, user: "v", cost: 1), code: "daily_limit_exceeded", scope: "team_daily")

            try ledger.ok("reset", ["team": "t", "user": "u"])
            let userReset = try #require(try ledger.audit(["types": ["daily_reset"]]).last)
            #expect(userReset["manual"]?.bool == true)
            #expect(userReset["user"]?.string == "u")
            #expect(userReset["ts"]?.string == startTime)
            #expect(try ledger.ok("balance", ["team": "t", "user": "u"])["user"]?["consumed_today"]?.int == 0)
            #expect(try ledger.ok("balance", ["team": "t", "user": "v"])["user"]?["consumed_today"]?.int == 5)

            try ledger.ok("reset", ["team": "t"])
            let teamReset = try #require(try ledger.audit(["types": ["daily_reset"]]).last)
            #expect(teamReset["manual"]?.bool == true)
            #expect(teamReset["user"] == nil, "\(teamReset.line)")
            let balance = try ledger.ok("balance", ["team": "t", "user": "v"])
            #expect(balance["consumed_today"]?.int == 0, "\(balance.line)")
            #expect(balance["user"]?["consumed_today"]?.int == 0)
            #expect(balance["available"]?.int == 10_000_000 - 10, "a reset refills nothing")
            #expect(try Self.consume(ledger, user: "v", cost: 10)["ok"]?.bool == true)
            try ledger.fails("reset", ["team": "nope"], code: "not_found")
            try ledger.fails("reset", ["team": "t", "user": "nope"], code: "not_found")
        }
    }

    // MARK: reverse

    @Test func reverse_consumptionsAndCredits() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let allowanceSeq = try #require(try ledger.audit(["types": ["cycle_started"]]).last?["seq"]?.int)
            let first = try Self.consume(ledger, cost: 100)
            let firstSeq = try #require(first["seq"]?.int)
            let reversed = try ledger.ok("reverse", ["seq": JSON(firstSeq), "reason": "refund", "key": "r1"])
            #expect(reversed["amount"]?.int == 100)
            let event = try #require(try ledger.audit(["types": ["reversed"]]).last)
            #expect(event["seq"] == reversed["seq"])
            #expect(event["reverses_seq"]?.int == firstSeq)
            #expect(event["amount"]?.int == 100)
            #expect(event["restored"] == [["bucket_seq": JSON(allowanceSeq), "amount": 100]], "\(event.line)")
            #expect(event["lapsed"]?.int == 0)
            var balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["available"]?.int == 500_000, "\(balance.line)")
            #expect(balance["consumed_today"]?.int == 0)
            #expect(balance["consumed_cycle"]?.int == 0)
            try ledger.fails(
                "reverse", ["seq": JSON(firstSeq), "reason": "again", "key": "r2"], code: "already_exists")

            // Partial: at most the original.
            let second = try #require(try Self.consume(ledger, cost: 50)["seq"]?.int)
            try ledger.fails(
                "reverse", ["seq": JSON(second), "reason": "too much", "amount": 51, "key": "r3"], code: "bad_request")
            let partial = try ledger.ok("reverse", ["seq": JSON(second), "reason": "part", "amount": 20, "key": "r4"])
            #expect(partial["amount"]?.int == 20)
            balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["available"]?.int == 500_000 - 30)
            #expect(balance["consumed_today"]?.int == 30)
            try ledger.fails(
                "reverse", ["seq": JSON(second), "reason": "rest", "amount": 30, "key": "r5"], code: "already_exists")

            // Credits lose at most their unspent part.
            let topup = try #require(
                try ledger.ok("topup", ["team": "t", "amount": 40, "key": "t1"])["seq"]?.int)
            #expect(
                try ledger.ok("reverse", ["seq": JSON(topup), "reason": "chargeback", "key": "r6"])["amount"]?.int == 40
            )
            let bonus = try #require(
                try ledger.ok(
                    "bonus.grant",
                    [
                        "team": "t", "amount": 50, "reason": "gift", "expires_at": "2026-01-16T00:00:00.000Z",
                        "key": "b1",
                    ]
                )["seq"]?.int)
            #expect(try Self.consume(ledger, cost: 30)["ok"]?.bool == true)  // 30 of the bonus
            let bonusReversal = try ledger.ok("reverse", ["seq": JSON(bonus), "reason": "mistake", "key": "r7"])
            #expect(bonusReversal["amount"]?.int == 20, "only the unspent 20 of the bonus: \(bonusReversal.line)")
            balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["available"]?.int == 500_000 - 30, "\(balance.line)")

            let seq = try ledger.seq()
            try ledger.fails(
                "reverse", ["seq": JSON(allowanceSeq - 1), "reason": "no", "key": "r8"], code: "bad_request")
            try ledger.fails("reverse", ["seq": 999_999, "reason": "no", "key": "r9"], code: "not_found")
            #expect(try ledger.seq() == seq)
        }
    }

    // MARK: hold / hold.commit / hold.release

    @Test func hold_commitReleaseExpireAndHoldClosed() throws {
        try withLedger { ledger in
            try ledger.ok("plan.define", ["plan": "p", "monthly_tokens": 1000, "max_pods": -1, "max_members": -1])
            try ledger.makeTeam("t", plan: "p")
            let hold = try ledger.ok("hold", ["team": "t", "user": "u", "model": "m", "amount": 100, "key": "h1"])
            let holdSeq = try #require(hold["hold"]?.int)
            #expect(hold["seq"]?.int == holdSeq)
            #expect(hold["amount"]?.int == 100)
            #expect(hold["expires_at"]?.string == Time.adding(600, to: startTime), "ttl_seconds defaults to 600")
            var balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["held"]?.int == 100)
            #expect(balance["available"]?.int == 900)

            let commit: KeyValuePairs<String, JSON> = ["hold": JSON(holdSeq), "cost": 60, "key": "hc1"]
            let committed = try ledger.ok("hold.commit", commit)
            #expect(committed["cost"]?.int == 60)
            #expect(committed["released"]?.int == 40)
            let event = try #require(try ledger.audit(["types": ["hold_committed"]]).last)
            #expect(event["hold_seq"]?.int == holdSeq)
            #expect(event["cost"]?.int == 60)
            #expect(event["released"]?.int == 40)
            balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["held"]?.int == 0)
            #expect(balance["available"]?.int == 940)
            #expect(balance["consumed_today"]?.int == 60)
            let again = try ledger.ok("hold.commit", commit)
            #expect(again["duplicate"]?.bool == true, "same key, same payload: \(again.line)")
            #expect(again["seq"] == committed["seq"])
            try ledger.fails("hold.commit", ["hold": JSON(holdSeq), "key": "hc2"], code: "hold_closed")
            try ledger.fails("hold.release", ["hold": JSON(holdSeq)], code: "hold_closed")

            // Commit beyond the hold: the rest from the buckets.
            let small = try #require(
                try ledger.ok("hold", ["team": "t", "user": "u", "model": "m", "amount": 10, "key": "h2"])["hold"]?.int)
            let over = try ledger.ok("hold.commit", ["hold": JSON(small), "cost": 25, "key": "hc3"])
            #expect(over["cost"]?.int == 25)
            #expect(over["released"]?.int == 0)
            #expect(try ledger.ok("balance", ["team": "t"])["available"]?.int == 915)

            // Release.
            let released = try #require(
                try ledger.ok("hold", ["team": "t", "user": "u", "model": "m", "amount": 50, "key": "h3"])["hold"]?.int)
            #expect(try ledger.ok("balance", ["team": "t"])["available"]?.int == 865)
            try ledger.ok("hold.release", ["hold": JSON(released)])
            let releasedEvent = try #require(try ledger.audit(["types": ["hold_released"]]).last)
            #expect(releasedEvent["hold_seq"]?.int == released)
            #expect(releasedEvent["released"]?.int == 50)
            balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["available"]?.int == 915)
            #expect(balance["held"]?.int == 0)
            try ledger.fails("hold.release", ["hold": JSON(released)], code: "hold_closed")
            try ledger.fails("hold.commit", ["hold": JSON(released), "key": "hc4"], code: "hold_closed")

            // Expiry.
            let expiring = try ledger.ok(
                "hold", ["team": "t", "user": "u", "model": "m", "amount": 30, "ttl_seconds": 60, "key": "h4"])
            let expiringSeq = try #require(expiring["hold"]?.int)
            try ledger.ok("clock.advance", ["seconds": 61])
            let expired = try #require(try ledger.audit(["types": ["hold_expired"]]).last)
            #expect(expired["hold_seq"]?.int == expiringSeq)
            #expect(expired["ts"] == expiring["expires_at"], "stamped with its due instant")
            #expect(expired["released"]?.int == 30)
            #expect(try ledger.ok("balance", ["team": "t"])["available"]?.int == 915)
            try ledger.fails("hold.commit", ["hold": JSON(expiringSeq), "cost": 1, "key": "hc5"], code: "hold_closed")

            let seq = try ledger.seq()
            try ledger.fails(
                "hold", ["team": "t", "user": "u", "model": "m", "amount": 5000, "key": "h5"],
                code: "insufficient_tokens",
                scope: "pool")
            try ledger.fails(
                "hold",
                ["team": "t", "user": "u", "model": "m", "amount": 5, "input_tokens": 5, "key": "h6"],
                code: "bad_request", schemaRejects: true)
            try ledger.fails("hold.commit", ["hold": 999_999, "key": "hc6"], code: "not_found")
            #expect(try ledger.seq() == seq)
        }
    }

    // MARK: check

    @Test func check_refusalIsAllowedFalseWithReasonAndScope() throws {
        try withLedger { ledger in
            try ledger.ok("plan.define", ["plan": "p", "monthly_tokens": 1000, "max_pods": -1, "max_members": -1])
            try ledger.makeTeam("t", plan: "p", dailyLimit: 100)
            let seq = try ledger.seq()
            let allowed = try ledger.ok("check", ["team": "t", "user": "u", "model": "m", "cost": 100])
            #expect(allowed["allowed"]?.bool == true, "reaching the limit exactly is allowed: \(allowed.line)")
            #expect(allowed["cost"]?.int == 100)
            #expect(allowed["reason"] == nil)
            #expect(allowed["daily_limit"]?.int == 100)
            #expect(allowed["available"]?.int == 1000)
            let daily = try ledger.ok("check", ["team": "t", "user": "u", "model": "m", "cost": 101])
            #expect(daily["allowed"]?.bool == false, "\(daily.line)")
            #expect(daily["reason"]?.string == "daily_limit_exceeded")
            #expect(daily["scope"]?.string == "team_daily")
            try ledger.ok("team.configure", ["team": "t", "daily_limit": -1])
            let pool = try ledger.ok("check", ["team": "t", "user": "u", "model": "m", "cost": 1001])
            #expect(pool["allowed"]?.bool == false, "\(pool.line)")
            #expect(pool["reason"]?.string == "insufficient_tokens")
            #expect(pool["scope"]?.string == "pool")
            let priced = try ledger.ok(
                "check",
                [
                    "team": "t", "user": "u", "model": "stable-diffusion",
                    "params": ["resolution": "1024x1024", "steps": 50],
                ])
            #expect(priced["cost"]?.int == 17)
            #expect(priced["allowed"]?.bool == true)
            #expect(try ledger.seq() == seq + 1, "check appends nothing (only team.configure did)")
            try ledger.fails("check", ["team": "t", "user": "nope", "model": "m", "cost": 1], code: "not_found")
        }
    }

    // MARK: estimate

    @Test func estimate_pricesTheSection7ExampleWithABreakdown() throws {
        try withLedger { ledger in
            let seq = try ledger.seq()
            let estimate = try ledger.ok(
                "estimate", ["model": "stable-diffusion", "params": ["resolution": "1024x1024", "steps": 50]])
            #expect(estimate["cost"]?.int == 17)
            #expect(estimate["breakdown"]?.isObject == true, "\(estimate.line)")
            let text = try ledger.ok("estimate", ["model": "gpt-4o", "input_tokens": 1200, "output_tokens": 800])
            #expect(text["cost"]?.int == 2800)
            try ledger.fails("estimate", ["model": "no-such-model", "input_tokens": 1], code: "not_found")
            try ledger.fails(
                "estimate", ["model": "stable-diffusion", "params": ["resolution": "640x480"]], code: "bad_request")
            #expect(try ledger.seq() == seq)
        }
    }

    // MARK: record:true and overdraft

    @Test func recordTrue_overdraftsAndTheNextCreditRepaysIt() throws {
        try withLedger { ledger in
            try ledger.ok("plan.define", ["plan": "p", "monthly_tokens": 10, "max_pods": -1, "max_members": -1])
            try ledger.makeTeam("t", plan: "p")
            expectError(try Self.consume(ledger, cost: 25), code: "insufficient_tokens", scope: "pool")
            let recorded = try Self.consume(ledger, cost: 25, record: true)
            #expect(recorded["ok"]?.bool == true, "record:true is never refused: \(recorded.line)")
            #expect(recorded["cost"]?.int == 25)
            #expect(recorded["available"]?.int == 0)
            #expect(recorded["warnings"]?.array?.contains("overdraft") == true, "\(recorded.line)")
            let event = try #require(try ledger.audit(["types": ["consumed"]]).last)
            #expect(event["record"]?.bool == true)
            #expect(event["overdraft"]?.int == 15)
            #expect(event["draws"]?.array?.compactMap { $0["amount"]?.int }.reduce(0, +) == 10)
            var balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["overdraft"]?.int == 15, "\(balance.line)")
            #expect(balance["warnings"]?.array?.contains("overdraft") == true)
            #expect(balance["status"]?.string == "red")

            try ledger.ok("topup", ["team": "t", "amount": 20, "key": "t1"])
            balance = try ledger.ok("balance", ["team": "t"])
            #expect(balance["overdraft"]?.int == 0, "a top-up repays the overdraft first: \(balance.line)")
            #expect(balance["available"]?.int == 5)
            #expect(balance["warnings"]?.array?.contains("overdraft") == false)
        }
    }

    // MARK: roles

    @Test(.enabled(if: OtherUser.isAvailable, "needs root, setpriv, /usr/bin/python3 and nogroup"))
    func gatewayRole_mayHoldCommitAndReleaseButNotTopUp() throws {
        try withLedger(manualClock + ["--socket-group", OtherUser.groupName, "--role", "gateway=\(OtherUser.uid)"]) {
            ledger in
            chmod(ledger.daemon.directory.path, 0o755)
            try ledger.makeTeam("t", plan: "pro")
            let seq = try ledger.seq()
            let first = try OtherUser.call(
                ledger,
                [
                    ["op": "hold", "id": 1, "team": "t", "user": "u", "model": "m", "amount": 10, "key": "g-h1"],
                    ["op": "hold", "id": 2, "team": "t", "user": "u", "model": "m", "amount": 20, "key": "g-h2"],
                    ["op": "topup", "id": 3, "team": "t", "amount": 5, "key": "g-topup"],
                    ["op": "team.create", "id": 4, "team": "x"],
                    ["op": "audit", "id": 5],
                ])
            #expect(first[0]["ok"]?.bool == true, "\(first[0].line)")
            #expect(first[1]["ok"]?.bool == true, "\(first[1].line)")
            for answer in first[2...] { expectError(answer, code: "forbidden") }
            let h1 = try #require(first[0]["hold"]?.int)
            let h2 = try #require(first[1]["hold"]?.int)
            let second = try OtherUser.call(
                ledger,
                [
                    ["op": "hold.commit", "id": 6, "hold": JSON(h1), "cost": 7, "key": "g-c1"],
                    ["op": "hold.release", "id": 7, "hold": JSON(h2)],
                    ["op": "check", "id": 8, "team": "t", "user": "u", "model": "m", "cost": 1],
                    ["op": "balance", "id": 9, "team": "t"],
                ])
            for answer in second { #expect(answer["ok"]?.bool == true, "\(answer.line)") }
            #expect(second[0]["cost"]?.int == 7)
            #expect(second[0]["released"]?.int == 3)
            #expect(try ledger.seq() == seq + 4, "two holds, a commit and a release; nothing else")
            #expect(try ledger.ok("balance", ["team": "t"])["available"]?.int == 10_000_000 - 7)
        }
    }
}
