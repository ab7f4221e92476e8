import Foundation
import LedgerClient
import LedgerJSON
import LedgerTestKit
import Testing

/// The read side through the socket: `usage` and `report` see every acknowledged write, and a
/// rebuild, a restart and a `kill -9` leave every `balance`, `usage` and `report` answer the same.
@Suite("Read models")
struct ReadModelTests {
    @Test func aWriteOnOneConnection_isSeenByUsageAndReportOnAnother_rightAfterItsAnswer() throws {
        try withLedger { ledger in
            try ledger.makeTeam("tk", plan: "pro", timezone: "Asia/Tokyo", users: ["u"])
            try ledger.ok("pod.create", ["team": "tk", "pod": "p"])
            let reader = try ledger.connect()
            // 2026-01-15T10:00Z is 19:00 in Tokyo; six hours on, it is already the 16th there.
            try ledger.ok("clock.advance", ["seconds": JSON(6 * 3600)])
            var total = 0
            for i in 1...25 {
                let answer = try ledger.ok(
                    "consume",
                    [
                        "team": "tk", "user": "u", "pod": "p", "task": .string("t\(i % 3)"), "model": "m",
                        "cost": JSON(i), "key": .string(Ledger.freshKey()),
                    ])
                #expect(answer["cost"]?.int == i)
                total += i
                let usage = try reader.call("usage", ["team": "tk"])
                #expect(usage["pods"]?[0]?["used"]?.int == total, "usage lags the write: \(usage.line)")
                let report = try reader.call("report", ["team": "tk", "period": "day"])
                #expect(report["rows"]?[0]?["bucket"]?.string == "2026-01-16", "Tokyo's local day: \(report.line)")
                #expect(report["rows"]?[0]?["tokens"]?.int == total, "report lags the write: \(report.line)")
            }
            reader.close()
        }
    }

    @Test func rebuildRestartAndKill9_leaveEveryAnswerTheSame_over10000MixedEvents() throws {
        try withLedger { ledger in
            let teams = [("ny", "America/New_York"), ("tk", "Asia/Tokyo"), ("utc", "UTC")]
            let users = ["u0", "u1", "u2"]
            let pods = ["p0", "p1"]
            for (team, zone) in teams {
                try ledger.makeTeam(team, plan: "pro", timezone: zone, users: users)
                for pod in pods { try ledger.ok("pod.create", ["team": .string(team), "pod": .string(pod)]) }
            }
            var rng = SeededRandom(seed: 42)
            var consumed: [(seq: Int, cost: Int)] = []
            var holds: [Int] = []
            var batch = 0
            while try ledger.seq() < 10_200 {
                batch += 1
                var requests: [JSON] = []
                for _ in 0..<200 {
                    let team = teams[rng.int(0..<3)].0
                    var r: [(String, JSON)] = [("team", .string(team)), ("key", .string(Ledger.freshKey()))]
                    func usageFields() {
                        r.append(("user", .string(users[rng.int(0..<3)])))
                        if rng.chance(70) {
                            r.append(("pod", .string(pods[rng.int(0..<2)])))
                            if rng.chance(60) { r.append(("task", .string("task\(rng.int(0..<20))"))) }
                        }
                        if rng.chance(60) {
                            r.append(("operation", .string(["chat", "image", "video"][rng.int(0..<3)])))
                        }
                    }
                    let roll = rng.int(0..<100)
                    if roll < 70 {
                        usageFields()
                        if rng.chance(25) {
                            r += [
                                ("model", "gpt-4o"), ("input_tokens", JSON(rng.int(0..<400))),
                                ("output_tokens", JSON(rng.int(0..<200))),
                            ]
                        } else {
                            r += [
                                ("model", .string(["m1", "m2", "m3"][rng.int(0..<3)])), ("cost", JSON(rng.int(0..<60))),
                            ]
                        }
                        if rng.chance(5) { r.append(("record", .bool(true))) }
                        requests.append(request("consume", r))
                    } else if roll < 75 {
                        requests.append(
                            request(
                                "topup",
                                [
                                    ("team", .string(team)), ("amount", JSON(rng.int(1..<500))),
                                    ("key", .string(Ledger.freshKey())),
                                ]))
                    } else if roll < 85 {
                        usageFields()
                        r += [("model", "m1"), ("amount", JSON(rng.int(1..<40)))]
                        requests.append(request("hold", r))
                    } else if roll < 93, let hold = holds.popLast() {
                        if rng.chance(70) {
                            requests.append(
                                request(
                                    "hold.commit",
                                    [
                                        ("hold", JSON(hold)), ("cost", JSON(rng.int(0..<50))),
                                        ("key", .string(Ledger.freshKey())),
                                    ]))
                        } else {
                            requests.append(request("hold.release", [("hold", JSON(hold))]))
                        }
                    } else if !consumed.isEmpty {
                        let (seq, cost) = consumed.remove(at: rng.int(0..<consumed.count))
                        var fields: [(String, JSON)] = [
                            ("seq", JSON(seq)), ("reason", "refund"), ("key", .string(Ledger.freshKey())),
                        ]
                        if cost > 1 && rng.chance(50) { fields.append(("amount", JSON(rng.int(1..<cost)))) }
                        requests.append(request("reverse", fields))
                    }
                }
                let answers = try ledger.connection.pipeline(requests)
                for (request, answer) in zip(requests, answers) where answer["ok"]?.bool == true {
                    switch request["op"]?.string {
                    case "consume": consumed.append((answer["seq"]!.int!, answer["cost"]!.int!))
                    case "hold": holds.append(answer["hold"]!.int!)
                    default: break
                    }
                }
                if batch % 2 == 0 { try ledger.ok("clock.advance", ["seconds": JSON(36 * 3600 + rng.int(0..<3600))]) }
            }
            let head = try ledger.seq()

            var reads: [JSON] = []
            for (team, _) in teams {
                reads.append(JSON.request("balance", ["team": .string(team)]))
                for user in users {
                    reads.append(JSON.request("balance", ["team": .string(team), "user": .string(user)]))
                }
                reads.append(JSON.request("usage", ["team": .string(team)]))
                for pod in pods { reads.append(JSON.request("usage", ["team": .string(team), "pod": .string(pod)])) }
                for period in ["day", "week", "month"] {
                    reads.append(
                        JSON.request("report", ["team": .string(team), "period": .string(period), "limit": 10_000]))
                    for by in ["model", "user", "pod", "task", "operation"] {
                        reads.append(
                            JSON.request(
                                "report",
                                ["team": .string(team), "period": .string(period), "by": .string(by), "limit": 10_000]))
                    }
                }
            }
            reads = reads.enumerated().map { $1.setting("id", JSON($0 + 1)) }
            func snapshot() throws -> [String] {
                let answers = try ledger.connection.pipeline(reads)
                for a in answers { #expect(a["ok"]?.bool == true, "\(a.line)") }
                return answers.map(\.line)
            }
            // A restart with `--clock manual` starts at the last event's time: set it back to now.
            let now = try ledger.ok("clock.advance", ["seconds": 0])["now"]!
            func diff(_ a: [String], _ b: [String]) -> String {
                zip(a, b).filter { $0 != $1 }.prefix(2).map { "\n  before: \($0)\n  after:  \($1)" }.joined()
            }
            let before = try snapshot()
            #expect(before.contains { $0.contains("\"change_pct\":-") || $0.contains("\"change_pct\":") })

            let rebuilt = try ledger.ok("rebuild")
            #expect(rebuilt["rebuilt"]?.array?.count == 4)
            #expect(rebuilt["events"]?.int == head)
            #expect(try snapshot() == before, "answers changed after rebuild")
            let one = try ledger.ok("rebuild", ["projection": "reports"])
            #expect(one["rebuilt"] == JSON(["reports"]))
            #expect(try snapshot() == before, "answers changed after rebuilding reports")

            try ledger.restart(arguments: ["--clock", "manual"])
            try ledger.ok("clock.set", ["at": now])
            let restarted = try snapshot()
            #expect(restarted == before, "answers changed after a restart: \(diff(before, restarted))")

            ledger.connection.close()
            ledger.daemon.kill9()
            _ = ledger.daemon.waitForExit(timeoutSeconds: 10)
            try ledger.restart(arguments: ["--clock", "manual"])
            try ledger.ok("clock.set", ["at": now])
            let killed = try snapshot()
            #expect(killed == before, "answers changed after kill -9 and a restart: \(diff(before, killed))")
            let stats = try ledger.ok("stats")
            for name in ["daily", "pods", "reports", "audit_teams"] {
                #expect(stats["projections"]?[name]?["seq"]?.int == head, "\(name): \(stats.line)")
            }
            let audit = try ledger.audit(["team": "tk", "types": JSON(["reversed"])])
            #expect(!audit.isEmpty)
        }
    }

    @Test func badReadModelRequests_getClearErrors() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            expectError(try ledger.call("usage", ["team": "nope"]), code: "not_found")
            expectError(try ledger.call("usage", ["team": "t", "pod": "nope"]), code: "not_found")
            expectError(try ledger.call("report", ["team": "nope", "period": "day"]), code: "not_found")
            expectError(
                try ledger.call("report", ["team": "t", "period": "day", "from": "2026-02-01", "to": "2026-01-01"]),
                code: "bad_request")
            // Requests the schemas reject too.
            let invalid: [JSON] = [
                JSON.request("report", ["team": "t"]),
                JSON.request("report", ["team": "t", "period": "year"]),
                JSON.request("report", ["team": "t", "period": "day", "by": "colour"]),
                JSON.request("report", ["team": "t", "period": "day", "limit": 0]),
                JSON.request("usage", ["team": "t", "colour": "red"]),
                JSON.request("rebuild", ["projection": "nope"]),
            ]
            for request in invalid {
                try ledger.connection.sendRaw(
                    Array((request.line + "\n").utf8), expectedAnswers: [request["op"]?.string], invalid: request)
                expectError(try ledger.connection.readResponse(), code: "bad_request", request: request)
            }
        }
    }
}

/// A request from an ordered list of fields.
func request(_ op: String, _ fields: [(String, JSON)]) -> JSON {
    .object(JSONObject([(key: "op", value: .string(op))] + fields.map { (key: $0.0, value: $0.1) }))
}

/// A small deterministic generator (SplitMix64) for black-box histories.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ r: Range<Int>) -> Int { r.lowerBound + Int(next() % UInt64(r.count)) }
    mutating func chance(_ percent: Int) -> Bool { int(0..<100) < percent }
}
