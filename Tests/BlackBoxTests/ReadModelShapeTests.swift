import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

/// `usage`, `report`, `rebuild` and `stats`'s projections through the socket (PROTOCOL §5);
/// `withLedger` checks every line of it against `schemas/`.
@Suite("Read models through the CLI and schemas")
struct ReadModelShapeTests {
    // MARK: usage

    @Test func usage_listsActivePodsInIdOrder_withModelsTasksDaysAndTheTeam() throws {
        try withLedger { ledger in
            try Scenario.usage(ledger)
            let usage = try ledger.ok("usage", ["team": "acme"])
            let api: JSON = [
                "pod": "api", "used": 2000, "budget": -1, "remaining": -1, "paused": false,
                "by_model": [["model": "deepseek-coder", "tokens": 2000, "input_tokens": 4000, "output_tokens": 2000]],
                "by_task": [], "daily": [["day": "2026-01-15", "tokens": 2000]],
            ]
            let web: JSON = [
                "pod": "web", "used": 6500, "budget": 10_000, "remaining": 3500, "paused": false,
                "by_model": [
                    ["model": "claude-3.5-sonnet", "tokens": 4500, "input_tokens": 1000, "output_tokens": 1000],
                    ["model": "gpt-4o", "tokens": 2000, "input_tokens": 1000, "output_tokens": 500],
                ],
                "by_task": [["task": "t2", "tokens": 4500], ["task": "t1", "tokens": 2000]],
                "daily": [["day": "2026-01-15", "tokens": 6500]],
            ]
            #expect(usage["pods"] == [api, web], "archived pods are left out, the rest in id order: \(usage.line)")
            let team: JSON = [
                "used": 8800, "cycle_first_day": "2026-01-15",
                "by_model": [
                    ["model": "claude-3.5-sonnet", "tokens": 4500, "input_tokens": 1000, "output_tokens": 1000],
                    ["model": "deepseek-coder", "tokens": 2000, "input_tokens": 4000, "output_tokens": 2000],
                    ["model": "gpt-4o", "tokens": 2000, "input_tokens": 1000, "output_tokens": 500],
                    ["model": "m", "tokens": 300, "input_tokens": 0, "output_tokens": 0],
                ],
                "by_user": [["user": "bo", "tokens": 4800], ["user": "ana", "tokens": 4000]],
                "daily": [["day": "2026-01-15", "tokens": 8800]],
            ]
            #expect(usage["team"] == team, "\(usage.line)")

            #expect(try ledger.ok("usage", ["team": "acme", "pod": "web"])["pods"] == [web])
            try ledger.fails("usage", ["team": "acme", "pod": "old"], code: "not_found")
            try ledger.fails("usage", ["team": "acme", "pod": "nope"], code: "not_found")
            try ledger.fails("usage", ["team": "nope"], code: "not_found")

            // Past the budget (record: never refused): remaining 0, and a pause budget pauses.
            try Scenario.consume(
                ledger, ["team": "acme", "user": "ana", "pod": "web", "model": "m", "cost": 4000, "record": true])
            let over = try #require(try ledger.ok("usage", ["team": "acme", "pod": "web"])["pods"]?.array?.first)
            #expect(over["used"]?.int == 10_500)
            #expect(over["remaining"]?.int == 0)
            #expect(over["paused"]?.bool == true, "\(over.line)")
        }
    }

    // MARK: report

    @Test func report_weeks_shareOfTheBucketAndChangeOnTheWeekBefore() throws {
        try withLedger { ledger in
            try Scenario.twoWeeks(ledger)
            let byModel = try ledger.ok("report", ["team": "acme", "period": "week", "by": "model"])
            #expect(
                byModel["rows"]
                    == [
                        Scenario.row("2026-W03", "claude-3.5-sonnet", tokens: 300, events: 1, share: 75, change: .null),
                        Scenario.row("2026-W03", "gpt-4o", tokens: 100, events: 1, share: 25, change: .null),
                        Scenario.row(
                            "2026-W04", "gpt-4o", tokens: 360, input: 50, output: 50, events: 2, share: 85.71,
                            change: 260),
                        Scenario.row(
                            "2026-W04", "claude-3.5-sonnet", tokens: 60, input: 20, output: 10, events: 1,
                            share: 14.29, change: -80),
                    ], "\(byModel.line)")
            #expect(byModel["truncated"]?.bool == false)

            // No `pod`: no key. Rows sort by tokens first; a missing key comes last among equals.
            let byPod = try ledger.ok("report", ["team": "acme", "period": "week", "by": "pod"])
            #expect(
                byPod["rows"]
                    == [
                        Scenario.row("2026-W03", nil, tokens: 300, events: 1, share: 75, change: .null),
                        Scenario.row("2026-W03", "web", tokens: 100, events: 1, share: 25, change: .null),
                        Scenario.row(
                            "2026-W04", "web", tokens: 210, input: 70, output: 60, events: 2, share: 50, change: 110),
                        Scenario.row("2026-W04", nil, tokens: 210, events: 1, share: 50, change: -30),
                    ], "\(byPod.line)")

            // Whole buckets: a day of week 4 reports all of week 4, compared with week 3.
            let one = try ledger.ok(
                "report", ["team": "acme", "period": "week", "by": "model", "from": "2026-01-21", "to": "2026-01-21"])
            #expect(one["rows"]?.array?.count == 2)
            #expect(one["rows"]?.array?.first?["change_pct"] == 260, "\(one.line)")

            let month = try ledger.ok("report", ["team": "acme", "period": "month", "by": "model"])
            #expect(
                month["rows"]
                    == [
                        Scenario.row(
                            "2026-01", "gpt-4o", tokens: 460, input: 50, output: 50, events: 3, share: 56.1,
                            change: .null),
                        Scenario.row(
                            "2026-01", "claude-3.5-sonnet", tokens: 360, input: 20, output: 10, events: 2,
                            share: 43.9, change: .null),
                    ], "\(month.line)")

            // Day rows carry no change_pct.
            let days = try ledger.ok("report", ["team": "acme", "period": "day"])
            #expect(
                days["rows"]
                    == [
                        Scenario.row("2026-01-15", nil, tokens: 400, events: 2, share: 100),
                        Scenario.row("2026-01-22", nil, tokens: 420, input: 70, output: 60, events: 3, share: 100),
                    ], "\(days.line)")

            let cut = try ledger.ok("report", ["team": "acme", "period": "week", "by": "model", "limit": 3])
            #expect(cut["rows"]?.array?.count == 3)
            #expect(cut["truncated"]?.bool == true)

            try ledger.fails("report", ["team": "nope", "period": "week"], code: "not_found")
            try ledger.fails(
                "report", ["team": "acme", "period": "week", "from": "2026-01-22", "to": "2026-01-15"],
                code: "bad_request")
            try ledger.fails(
                "report", ["team": "acme", "period": "week", "limit": 10_001], code: "bad_request", schemaRejects: true)
            try ledger.fails("report", ["team": "acme", "period": "year"], code: "bad_request", schemaRejects: true)
        }
    }

    @Test func report_fullReversalTakesTheWholeConsumptionOut_partialOnlyItsTokens() throws {
        try withLedger { ledger in
            let week4 = try Scenario.twoWeeks(ledger)
            try ledger.ok("reverse", ["seq": JSON(week4.claude), "reason": "refund", "key": "r-full"])
            try ledger.ok("reverse", ["seq": JSON(week4.gpt), "reason": "refund", "amount": 50, "key": "r-part"])
            let report = try ledger.ok(
                "report", ["team": "acme", "period": "week", "by": "model", "from": "2026-01-19"])
            #expect(
                report["rows"]
                    == [
                        Scenario.row(
                            "2026-W04", "gpt-4o", tokens: 310, input: 50, output: 50, events: 2, share: 100,
                            change: 210)
                    ], "\(report.line)")

            // A bucket whose tokens total 0 has no share.
            try ledger.ok("clock.advance", ["seconds": JSON(7 * 86_400)])
            try Scenario.consume(ledger, ["team": "acme", "user": "bo", "model": "m", "cost": 0])
            let empty = try ledger.ok(
                "report", ["team": "acme", "period": "week", "by": "model", "from": "2026-01-29"])
            #expect(
                empty["rows"] == [Scenario.row("2026-W05", "m", tokens: 0, events: 1, share: .null, change: .null)],
                "\(empty.line)")
        }
    }

    // MARK: rebuild and stats

    @Test func rebuild_fromTheLog_leavesEveryAnswerAsItWas() throws {
        try withLedger { ledger in
            try Scenario.usage(ledger)
            try Scenario.consume(ledger, ["team": "acme", "user": "ana", "pod": "web", "model": "m", "cost": 7])
            func answers() throws -> [JSON] {
                [
                    try ledger.ok("usage", ["team": "acme"]).removing("id"),
                    try ledger.ok("report", ["team": "acme", "period": "day", "by": "user"]).removing("id"),
                    try ledger.ok("report", ["team": "acme", "period": "month", "by": "task"]).removing("id"),
                    try ledger.ok("audit", ["team": "acme", "types": ["consumed"]]).removing("id"),
                ]
            }
            let before = try answers()
            let head = try ledger.seq()
            let all = try ledger.ok("rebuild")
            #expect(all["rebuilt"] == ["daily", "pods", "reports", "audit_teams"], "\(all.line)")
            #expect(all["events"]?.int == head)
            #expect(try answers() == before)

            let one = try ledger.ok("rebuild", ["projection": "reports"])
            #expect(one["rebuilt"] == ["reports"])
            #expect(try answers() == before)

            try ledger.fails("rebuild", ["projection": "nope"], code: "bad_request", schemaRejects: true)
        }
    }

    @Test func stats_namesEveryReadModel_withItsCheckpointAndLag() throws {
        try withLedger { ledger in
            try Scenario.usage(ledger)
            // usage waits until every read model has folded the head it saw.
            try ledger.ok("usage", ["team": "acme"])
            let stats = try ledger.ok("stats")
            let head = try #require(stats["seq"]?.int)
            let projections = try #require(stats["projections"])
            #expect(Set(projections.keys) == ["daily", "pods", "reports", "audit_teams"], "\(stats.line)")
            for name in projections.keys {
                #expect(projections[name]?["seq"]?.int == head, "\(name): \(stats.line)")
                #expect(projections[name]?["lag"]?.int == 0, "\(name): \(stats.line)")
            }
        }
    }
}
