import LedgerJSON
import LedgerTestKit
import Testing

/// Issue 12's black-box findings, through the real daemon on a manual clock: no counter goes
/// below 0 after a manual `reset` and a reversal, a task named without a pod is booked for the
/// team, and `alert_at` percents above 100 are accepted and fire.
@Suite("Counter floors and usage the contract allows")
struct CounterFloorTests {
    static func consume(
        _ ledger: Ledger, user: String, pod: String? = nil, task: String? = nil, cost: Int
    ) throws -> JSON {
        var request = JSON.request(
            "consume",
            ["team": "t", "user": .string(user), "model": "m", "cost": JSON(cost), "key": .string(Ledger.freshKey())])
        if let pod { request = request.setting("pod", .string(pod)) }
        if let task { request = request.setting("task", .string(task)) }
        return try ledger.connection.call(request)
    }

    @Test func reverse_afterAManualUserReset_lowersTheUserCounterToZeroAndNoFurther() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro", users: ["a1", "a2"])
            let first = try Self.consume(ledger, user: "a1", cost: 100)
            #expect(first["user"]?["consumed_today"]?.int == 100, "\(first.line)")
            #expect(try Self.consume(ledger, user: "a2", cost: 50)["ok"]?.bool == true)
            try ledger.ok("reset", ["team": "t", "user": "a1", "key": .string(Ledger.freshKey())])
            let reversed = try ledger.ok(
                "reverse",
                ["seq": JSON(try #require(first["seq"]?.int)), "reason": "test", "key": .string(Ledger.freshKey())])
            #expect(reversed["amount"]?.int == 100)
            let event = try #require(try ledger.audit(["types": ["reversed"]]).last)
            #expect(event["uncount_day"]?.bool == true, "\(event.line)")

            let balance = try ledger.ok("balance", ["team": "t", "user": "a1"])
            #expect(balance["user"]?["consumed_today"]?.int == 0, "\(balance.line)")
            // The team's counter held a1's 100 and a2's 50; it loses the 100.
            #expect(balance["consumed_today"]?.int == 50, "\(balance.line)")
            let next = try Self.consume(ledger, user: "a1", cost: 5)
            #expect(next["user"]?["consumed_today"]?.int == 5, "\(next.line)")
            #expect(next["consumed_today"]?.int == 55, "\(next.line)")
        }
    }

    @Test func reverse_afterAManualTeamReset_lowersEveryCounterToZeroAndNoFurther() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro", users: ["a1"])
            try ledger.ok("user.assign", ["team": "t", "user": "a1", "amount": 1000])
            try ledger.ok("team.configure", ["team": "t", "daily_limit": 120])
            let first = try Self.consume(ledger, user: "a1", cost: 100)
            try ledger.ok("reset", ["team": "t", "key": .string(Ledger.freshKey())])
            #expect(try Self.consume(ledger, user: "a1", cost: 20)["ok"]?.bool == true)
            try ledger.ok(
                "reverse",
                ["seq": JSON(try #require(first["seq"]?.int)), "reason": "test", "key": .string(Ledger.freshKey())])
            let balance = try ledger.ok("balance", ["team": "t", "user": "a1"])
            #expect(balance["consumed_today"]?.int == 0, "\(balance.line)")
            #expect(balance["user"]?["consumed_today"]?.int == 0, "\(balance.line)")
            // The cycle's counters held both consumptions: they lose exactly the 100.
            #expect(balance["consumed_cycle"]?.int == 20, "\(balance.line)")
            #expect(balance["user"]?["allocation_left"]?.int == 980, "\(balance.line)")
            // The daily limit is not passed by the reversed amount: 120 is all the day allows.
            #expect(try Self.consume(ledger, user: "a1", cost: 120)["ok"]?.bool == true)
            expectError(
                try Self.consume(ledger, user: "a1", cost: 1), code: "daily_limit_exceeded", scope: "team_daily")
            // The read side agrees: the day's usage is what stands, never below 0.
            let report = try ledger.ok("report", ["team": "t", "period": "day", "by": "user"])
            let rows = report["rows"]?.array ?? []
            #expect(rows.map { $0["tokens"]?.int } == [140], "\(report.line)")
        }
    }

    @Test func consume_withATaskAndNoPod_isBookedForTheTeamAndReportedByTask() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro", users: ["u"])
            let booked = try Self.consume(ledger, user: "u", task: "summarise", cost: 30)
            #expect(booked["ok"]?.bool == true, "\(booked.line)")
            let event = try #require(try ledger.audit(["types": ["consumed"]]).last)
            #expect(event["task"]?.string == "summarise" && event["pod"] == nil, "\(event.line)")
            let check = try ledger.ok(
                "check", ["team": "t", "user": "u", "task": "summarise", "model": "m", "cost": 1])
            #expect(check["allowed"]?.bool == true, "\(check.line)")
            let hold = try ledger.ok(
                "hold",
                [
                    "team": "t", "user": "u", "task": "draft", "model": "m", "amount": 5,
                    "key": .string(Ledger.freshKey()),
                ])
            #expect(hold["hold"]?.int != nil, "\(hold.line)")
            let report = try ledger.ok("report", ["team": "t", "period": "month", "by": "task"])
            let rows = report["rows"]?.array ?? []
            #expect(rows.first?["key"]?.string == "summarise" && rows.first?["tokens"]?.int == 30, "\(report.line)")
            // The same task by audit filter.
            #expect(try ledger.audit(["task": "summarise"]).count == 1)
        }
    }

    @Test func blockNewTasks_onTheTeamBudget_knowsATeamTaskAfterItsFirstUse() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro", users: ["u"])
            try ledger.ok("team.configure", ["team": "t", "monthly_budget": 100, "budget_action": "block_new_tasks"])
            #expect(try Self.consume(ledger, user: "u", task: "known", cost: 90)["ok"]?.bool == true)
            // Over the budget: a known team task goes on, a new one and no task are refused.
            #expect(try Self.consume(ledger, user: "u", task: "known", cost: 20)["ok"]?.bool == true)
            expectError(
                try Self.consume(ledger, user: "u", task: "new", cost: 20), code: "budget_exceeded",
                scope: "team_budget")
            expectError(try Self.consume(ledger, user: "u", cost: 20), code: "budget_exceeded", scope: "team_budget")
            // Known to the team is not known to a pod: a pod's task is its own.
            try ledger.ok("pod.create", ["team": "t", "pod": "p"])
            expectError(
                try Self.consume(ledger, user: "u", pod: "p", task: "known", cost: 20), code: "budget_exceeded",
                scope: "team_budget")
            // Known after a restart too (the state is folded from the log).
            try ledger.restart()
            #expect(try Self.consume(ledger, user: "u", task: "known", cost: 5)["ok"]?.bool == true)
        }
    }

    @Test func alertAt_aboveOneHundred_isAcceptedAndFiresWhenTheBudgetIsPassed() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro", users: ["u"])
            try ledger.ok("team.configure", ["team": "t", "monthly_budget": 1000, "alert_at": [80, 150]])
            let configured = try #require(try ledger.audit(["types": ["team_configured"]]).last)
            #expect(configured["alert_at"] == [80, 150], "\(configured.line)")
            #expect(try Self.consume(ledger, user: "u", cost: 1200)["ok"]?.bool == true)
            #expect(try ledger.audit(["types": ["budget_alert"]]).map { $0["percent"]?.int } == [80])
            #expect(try Self.consume(ledger, user: "u", cost: 300)["ok"]?.bool == true)
            let alerts = try ledger.audit(["types": ["budget_alert"]])
            #expect(alerts.map { $0["percent"]?.int } == [80, 150], "\(alerts.map(\.line))")
            #expect(alerts.last?["used"]?.int == 1500)
        }
    }
}
