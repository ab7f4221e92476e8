import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

/// `audit` with `from` finds its start by binary search over the log (event ts never decreases);
/// it must answer exactly what a scan from the start answers. And `tokenledger tail`.
@Suite("Audit from and tail")
struct AuditReadTests {
    @Test func auditFrom_findsTheSameEventsAsAScan() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            try ledger.makeTeam("v")
            // Runs of events at one instant, with jumps of various lengths between them.
            for step in [0, 1, 1, 60, 0, 3_600, 1, 86_400, 0, 5] {
                if step > 0 { try ledger.ok("clock.advance", ["seconds": JSON(step)]) }
                for _ in 0..<3 {
                    try ledger.consume(team: "t", cost: 1)
                    try ledger.consume(team: "v", cost: 1)
                }
            }
            let all = try ledger.audit()
            let stamps = Array(Set(all.compactMap { $0["ts"]?.string })).sorted()
            #expect(stamps.count >= 8)
            // Each instant in the log, one before all, one between two, one after all.
            var froms = stamps
            froms.append("2020-01-01T00:00:00.000Z")
            froms.append(Time.adding(1, to: stamps[stamps.count / 2]))
            froms.append(Time.adding(1, to: stamps.last!))
            for from in froms {
                let scanned = all.filter { $0["ts"]!.string! >= from }
                #expect(try ledger.audit(["from": .string(from)]) == scanned, "from \(from)")
                // Paged in small pages, after a seq, with other filters and a `to`.
                #expect(try ledger.audit(["from": .string(from)], pageLimit: 2) == scanned, "from \(from), paged")
                let middle = all.count / 2
                #expect(
                    try ledger.audit(["from": .string(from)], after: middle)
                        == scanned.filter { $0["seq"]!.int! > middle }, "from \(from) after \(middle)")
                #expect(
                    try ledger.audit(["from": .string(from), "team": "v", "types": ["consumed"]])
                        == scanned.filter { $0["team"]?.string == "v" && $0["type"]?.string == "consumed" },
                    "from \(from), team v")
                let to = stamps.last!
                #expect(
                    try ledger.audit(["from": .string(from), "to": .string(to)])
                        == scanned.filter { $0["ts"]!.string! < to }, "from \(from) to \(to)")
            }
            // From after the last event: nothing, and the answer says the scan reached the head.
            let none = try ledger.ok("audit", ["from": .string(Time.adding(1, to: stamps.last!))])
            #expect(none["events"]?.array?.isEmpty == true)
            #expect(none["next_after_seq"]?.isNull == true)
        }
    }

    @Test(.enabled(if: CLI.isAvailable, "needs the tokenledger binary"))
    func tail_printsEventsAsTheyCome_andCtrlCExitsZero() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "pro")
            let directory = try TemporaryDirectory(prefix: "tl-tail-")
            let start = try ledger.seq()
            let json = directory.path + "/json.out"
            let human = directory.path + "/human.out"
            let raw = try ChildProcess(
                executable: CLI.binaryPath, arguments: ["tail", "--json", "--after-seq", "\(start)"],
                stdoutPath: json, stderrPath: directory.path + "/json.err", environment: CLI.environment(ledger.daemon))
            defer { raw.killAndReap() }
            let people = try ChildProcess(
                executable: CLI.binaryPath,
                arguments: ["tail", "--team", "t", "--type", "consumed", "--type", "topup"],
                stdoutPath: human, stderrPath: directory.path + "/human.err",
                environment: CLI.environment(ledger.daemon))
            defer { people.killAndReap() }
            try ledger.consume(cost: 1_234)
            try ledger.ok("topup", ["team": "t", "amount": 50, "key": "tp"])
            try ledger.ok("user.add", ["team": "t", "user": "w"])
            let end = try ledger.seq()

            func waitForLines(_ path: String, _ count: Int) -> [String] {
                let deadline = Date().addingTimeInterval(20)
                var lines: [String] = []
                while Date() < deadline {
                    lines = readFile(path).split(separator: "\n").map(String.init)
                    if lines.count >= count { break }
                    usleep(20_000)
                }
                return lines
            }
            let rawLines = waitForLines(json, 1 + end - start)
            #expect(rawLines.first == #"{"ok":true,"subscribed":true}"#)
            let events = try rawLines.dropFirst().map { try JSON.parse($0)["event"] }
            #expect(events == (try ledger.audit(after: start)).map { Optional($0) })

            let humanLines = waitForLines(human, 2)
            #expect(humanLines.count == 2, "\(humanLines)")
            #expect(humanLines.first?.contains("consumed") == true && humanLines.first?.contains("cost=1,234") == true)
            #expect(humanLines.last?.contains("topup") == true && humanLines.last?.contains("amount=50") == true)
            // Aligned: the type column starts at the same place on every line.
            let typeColumns = humanLines.compactMap { line in
                (line.range(of: " consumed ") ?? line.range(of: " topup "))?.lowerBound.utf16Offset(in: line)
            }
            #expect(typeColumns.count == 2 && Set(typeColumns).count == 1, "\(humanLines)")

            raw.signal(SIGINT)
            people.signal(SIGINT)
            #expect(raw.wait(timeoutSeconds: 10) == .exited(0))
            #expect(people.wait(timeoutSeconds: 10) == .exited(0))
            #expect(try SubscribeTests.waitForSubscribers(ledger, 0))
        }
    }
}
