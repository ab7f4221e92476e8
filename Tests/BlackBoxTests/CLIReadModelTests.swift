import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

/// `tokenledger usage`, `report` and `rebuild` (the real binary) against a real daemon: the
/// table, CSV and JSON formats, and the offline rebuild of a stopped daemon's data directory.
/// JSON the CLI prints is recorded as a response, so it is checked against `schemas/` too.
@Suite("CLI: usage, report, rebuild")
struct CLIReadModelTests {
    static let barCharacters: Set<Character> = ["█", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]

    /// The bar on a chart line, in eighths of a cell.
    static func barEighths(_ line: String) -> Int {
        line.reduce(0) { total, c in
            guard barCharacters.contains(c) else { return total }
            if c == "█" { return total + 8 }
            return total + 1 + ["▏", "▎", "▍", "▌", "▋", "▊", "▉"].firstIndex(of: c)!
        }
    }

    /// The first line starting with `prefix` after the line `after`.
    static func line(_ text: String, startingWith prefix: String, after: String? = nil) -> String? {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let after, let start = lines.firstIndex(where: { $0.contains(after) }) {
            lines = Array(lines[(start + 1)...])
        }
        return lines.first { $0.hasPrefix(prefix) }
    }

    static func expectFits(_ text: String, columns: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        for line in text.split(separator: "\n") {
            #expect(line.count <= columns, "wider than \(columns): \(line)", sourceLocation: sourceLocation)
        }
        #expect(!text.contains("\u{1B}["), "no colour when stdout is not a terminal", sourceLocation: sourceLocation)
    }

    // MARK: usage

    @Test func usage_table_chartsEachModelWithABarAndAPercent() throws {
        try withLedger { ledger in
            try Scenario.usage(ledger)
            let text = try ledger.cliOK(["usage", "--team", "acme"])
            Self.expectFits(text, columns: 80)
            #expect(text.hasPrefix("team acme: 8,800 tokens used this cycle (cycle since 2026-01-15)\n"), "\(text)")
            for title in ["Token Usage by Model (This Month)", "Token Usage by User (This Month)", "Daily Trend"] {
                #expect(text.contains(title), "\(title) in:\n\(text)")
            }
            let title = "Token Usage by Model (This Month)"
            let claude = try #require(Self.line(text, startingWith: "claude-3.5-sonnet", after: title), "\(text)")
            let gpt = try #require(Self.line(text, startingWith: "gpt-4o", after: title))
            let m = try #require(Self.line(text, startingWith: "m ", after: title))
            #expect(claude.contains("4,500") && claude.contains("51.1%"), "\(claude)")
            #expect(gpt.contains("2,000") && gpt.contains("22.7%"), "\(gpt)")
            // Scaled to the largest row, to the eighth of a cell.
            let top = Self.barEighths(claude)
            #expect(top > 8 * 20, "the largest row takes the free width: \(claude)")
            #expect(abs(Double(Self.barEighths(gpt)) / Double(top) - 2000.0 / 4500) < 0.01, "\(gpt)")
            #expect(abs(Double(Self.barEighths(m)) / Double(top) - 300.0 / 4500) < 0.01, "\(m)")

            // The pods: active ones in id order, used/budget/remaining, then one section each.
            let table = try #require(Self.line(text, startingWith: "POD"))
            #expect(table.contains("USED") && table.contains("BUDGET") && table.contains("REMAINING"))
            let webRow = try #require(Self.line(text, startingWith: "web ", after: "POD"))
            #expect(webRow.contains("6,500") && webRow.contains("10,000") && webRow.contains("3,500"), "\(webRow)")
            let apiRow = try #require(Self.line(text, startingWith: "api ", after: "POD"))
            #expect(apiRow.contains("unlimited"), "\(apiRow)")
            #expect(!text.contains("old"), "archived pods are not listed")
            let apiAt = try #require(text.range(of: "\npod api\n"))
            let webAt = try #require(text.range(of: "\npod web\n"))
            #expect(apiAt.lowerBound < webAt.lowerBound)
            #expect(text.contains("  used:      6,500 of 10,000 (65.0%)"), "\(text)")
            let task = try #require(Self.line(text, startingWith: "  t2 ", after: "pod web"))
            #expect(task.contains("4,500") && task.contains("69.2%"), "\(task)")

            // Wider terminal, longer bars.
            let wide = try ledger.cliOK(["usage", "--team", "acme"], environment: ["COLUMNS": "120"])
            Self.expectFits(wide, columns: 120)
            let wideClaude = try #require(Self.line(wide, startingWith: "claude-3.5-sonnet", after: title))
            #expect(Self.barEighths(wideClaude) == top + 8 * 40, "\(wideClaude)")

            // One pod: only its section.
            let web = try ledger.cliOK(["usage", "--team", "acme", "--pod", "web"])
            #expect(web.contains("pod web") && !web.contains("pod api") && !web.contains("POD "), "\(web)")
        }
    }

    @Test func usage_csv_onePodModelPerRecord_quotedPerRFC4180() throws {
        try withLedger { ledger in
            try Scenario.usage(ledger)
            try ledger.ok("pod.create", ["team": "acme", "pod": #"say "hi", ok"#])
            let csv = try ledger.cliOK(["usage", "--team", "acme", "--format", "csv"])
            #expect(
                csv == "pod,used,budget,remaining,paused,model,tokens,input_tokens,output_tokens\r\n"
                    + "api,2000,-1,-1,false,deepseek-coder,2000,4000,2000\r\n"
                    + "\"say \"\"hi\"\", ok\",0,-1,-1,false,,,,\r\n"
                    + "web,6500,10000,3500,false,claude-3.5-sonnet,4500,1000,1000\r\n"
                    + "web,6500,10000,3500,false,gpt-4o,2000,1000,500\r\n", "\(csv)")
        }
    }

    @Test func usage_json_isTheDaemonsAnswerLine_andJsonIsItsAlias() throws {
        try withLedger { ledger in
            try Scenario.usage(ledger)
            let formatted = try ledger.cliOK(["usage", "--team", "acme", "--format", "json"])
            let alias = try ledger.cliOK(["usage", "--team", "acme", "--json"])
            #expect(formatted == alias)
            let lines = formatted.split(separator: "\n")
            #expect(lines.count == 1)
            ledger.traffic.record(kind: "response", op: "usage", line: String(lines[0]))
            let printed = try JSON.parse(String(lines[0]))
            #expect(printed == (try ledger.ok("usage", ["team": "acme"])).removing("id"))

            let both = try ledger.cli(["usage", "--team", "acme", "--json", "--format", "csv"])
            #expect(both.termination == .exited(64), "\(both.stderr)")
            #expect(both.stderr.contains("--json is --format json"))
            let unknown = try ledger.cli(["usage", "--team", "nope"])
            #expect(unknown.termination == .exited(1))
            #expect(unknown.stderr.contains("not_found"), "\(unknown.stderr)")
        }
    }

    // MARK: report

    @Test func report_table_groupsRowsByBucket_withBarsShareAndChange() throws {
        try withLedger { ledger in
            try Scenario.twoWeeks(ledger)
            let text = try ledger.cliOK(["report", "--team", "acme", "--period", "week", "--by", "model"])
            Self.expectFits(text, columns: 80)
            #expect(text.hasPrefix("Tokens by model per week\n"), "\(text)")
            let w03 = try #require(text.range(of: "\n2026-W03  400 tokens, 2 events\n"), "\(text)")
            let w04 = try #require(text.range(of: "\n2026-W04  420 tokens, 3 events\n"), "\(text)")
            #expect(w03.lowerBound < w04.lowerBound)
            let gpt = try #require(Self.line(text, startingWith: "  gpt-4o", after: "2026-W04"))
            #expect(gpt.contains("360") && gpt.contains("85.71%") && gpt.contains("▲ 260%"), "\(gpt)")
            let claude = try #require(Self.line(text, startingWith: "  claude-3.5-sonnet", after: "2026-W04"))
            #expect(claude.contains("14.29%") && claude.contains("▼ 80%"), "\(claude)")
            // One scale for the whole report: W04's 360 is the longest bar.
            let w03Claude = try #require(Self.line(text, startingWith: "  claude-3.5-sonnet", after: "2026-W03"))
            #expect(abs(Double(Self.barEighths(w03Claude)) / Double(Self.barEighths(gpt)) - 300.0 / 360) < 0.01)

            let byPod = try ledger.cliOK(["report", "--team", "acme", "--period", "week", "--by", "pod"])
            #expect(byPod.contains("  (no pod)"), "\(byPod)")

            let days = try ledger.cliOK(["report", "--team", "acme", "--period", "day"])
            #expect(Self.line(days, startingWith: "DAY") != nil, "\(days)")
            #expect(Self.line(days, startingWith: "2026-01-22")?.contains("420") == true, "\(days)")
            #expect(!days.contains("CHANGE"), "day rows have no change")

            let cut = try ledger.cliOK([
                "report", "--team", "acme", "--period", "week", "--by", "model", "--limit", "1",
            ])
            #expect(cut.contains("truncated after 1 rows"), "\(cut)")
        }
    }

    @Test func report_csvAndJson() throws {
        try withLedger { ledger in
            try Scenario.twoWeeks(ledger)
            let csv = try ledger.cliOK([
                "report", "--team", "acme", "--period", "week", "--by", "pod", "--format", "csv",
            ])
            #expect(
                csv == "bucket,key,tokens,input_tokens,output_tokens,events,share_pct,change_pct\r\n"
                    + "2026-W03,,300,0,0,1,75,\r\n" + "2026-W03,web,100,0,0,1,25,\r\n"
                    + "2026-W04,web,210,70,60,2,50,110\r\n" + "2026-W04,,210,0,0,1,50,-30\r\n", "\(csv)")
            let days = try ledger.cliOK(["report", "--team", "acme", "--period", "day", "--format", "csv"])
            #expect(days.hasSuffix("\r\n2026-01-22,,420,70,60,3,100,\r\n"), "\(days)")

            let json = try ledger.cliOK(
                ["report", "--team", "acme", "--period", "month", "--by", "user", "--format", "json"])
            let line = String(json.dropLast())
            #expect(!line.contains("\n"))
            ledger.traffic.record(kind: "response", op: "report", line: line)
            let direct = try ledger.ok("report", ["team": "acme", "period": "month", "by": "user"])
            #expect(try JSON.parse(line) == direct.removing("id"))
        }
    }

    // MARK: rebuild

    @Test func rebuild_online_printsWhatWasRebuiltAndHowFast() throws {
        try withLedger { ledger in
            try Scenario.usage(ledger)
            let head = try ledger.seq()
            let text = try ledger.cliOK(["rebuild"])
            #expect(text.hasPrefix("rebuilt daily, pods, reports, audit_teams: \(head) events in "), "\(text)")
            #expect(text.hasSuffix(" s\n") || text.hasSuffix(" events/s)\n"), "\(text)")

            let json = try ledger.cliOK(["rebuild", "--projection", "pods", "--json"])
            let line = String(json.dropLast())
            ledger.traffic.record(kind: "response", op: "rebuild", line: line)
            #expect(try JSON.parse(line)["rebuilt"] == ["pods"])

            let bad = try ledger.cli(["rebuild", "--projection", "nope"])
            #expect(bad.termination == .exited(1))
            #expect(bad.stderr.contains("bad_request"), "\(bad.stderr)")
        }
    }

    @Test func rebuild_offline_refusedWhileTheDaemonRuns_thenRebuildsItsStoppedDataDirectory() throws {
        try withLedger { ledger in
            try Scenario.twoWeeks(ledger)
            let data = ledger.daemon.dataDirectory
            func answers() throws -> [JSON] {
                [
                    try ledger.ok("usage", ["team": "acme"]).removing("id"),
                    try ledger.ok("report", ["team": "acme", "period": "week", "by": "pod"]).removing("id"),
                    try ledger.ok("audit", ["team": "acme", "types": ["consumed"]]).removing("id"),
                ]
            }
            let before = try answers()
            let head = try ledger.seq()

            let running = try CLIBinary.run(["rebuild", "--data", data])
            #expect(running.termination == .exited(1))
            #expect(
                running.stderr.contains(
                    "tokenledgerd is running on \(data); run `tokenledger rebuild` without --data to rebuild online"),
                "\(running.stderr)")
            #expect(running.stdout.isEmpty)

            ledger.connection.close()
            #expect(try ledger.daemon.stop() == .exited(0))
            // Without views, whatever the next daemon serves at once comes from this rebuild.
            try FileManager.default.removeItem(atPath: data + "/views")
            let offline = try CLIBinary.run(["rebuild", "--data", data])
            #expect(offline.termination == .exited(0), "\(offline.stderr)")
            #expect(
                offline.stdout.hasPrefix("rebuilt daily, pods, reports, audit_teams: \(head) events in "),
                "\(offline.stdout)")
            #expect(offline.stderr.isEmpty, "no progress when stderr is not a terminal: \(offline.stderr)")
            #expect(readFile(data + "/views/state").hasPrefix("clean "), "the views are marked clean")

            let one = try CLIBinary.run(["rebuild", "--data", data, "--projection", "reports", "--json"])
            #expect(one.termination == .exited(0), "\(one.stderr)")
            let line = String(one.stdout.dropLast())
            ledger.traffic.record(kind: "response", op: "rebuild", line: line)
            let answer = try JSON.parse(line)
            #expect(answer["rebuilt"] == ["reports"])
            #expect(answer["events"]?.int == head)

            // Read models at the head from the first instant: usage answers with no wait at all.
            try ledger.restart(arguments: ["--clock", "manual", "--read-wait-ms", "0"])
            let stats = try ledger.ok("stats")
            for name in ["daily", "pods", "reports", "audit_teams"] {
                #expect(stats["projections"]?[name]?["seq"]?.int == head, "\(name): \(stats.line)")
            }
            #expect(try answers() == before)
        }
    }

    @Test func rebuild_offline_refusesWhatIsNotAStoppedLedger() throws {
        let empty = try TemporaryDirectory()
        let none = try CLIBinary.run(["rebuild", "--data", empty.path + "/missing"])
        #expect(none.termination == .exited(1))
        #expect(none.stderr.contains("no data directory at \(empty.path)/missing"), "\(none.stderr)")
        let bare = try CLIBinary.run(["rebuild", "--data", empty.path])
        #expect(bare.termination == .exited(1))
        #expect(bare.stderr.contains("holds no ledger"), "\(bare.stderr)")
        #expect(!FileManager.default.fileExists(atPath: empty.path + "/data.mdb"), "nothing created")
        let unknown = try CLIBinary.run(["rebuild", "--data", empty.path, "--projection", "nope"])
        #expect(unknown.termination == .exited(64))
        #expect(unknown.stderr.contains("daily, pods, reports, audit_teams"), "\(unknown.stderr)")
        let both = try CLIBinary.run(["rebuild", "--data", empty.path, "--socket", empty.path + "/s.sock"])
        #expect(both.termination == .exited(64))
    }

    // MARK: on a terminal (util-linux `script` gives the CLI a pseudo-terminal)

    static let script = findExecutable("script")
    #if os(Linux)
        static let isLinux = true
    #else
        static let isLinux = false
    #endif

    /// Runs the CLI under `script`, whose pseudo-terminal makes stdout and stderr TTYs; the
    /// transcript holds both.
    static func onTerminal(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        let command = ([CLIBinary.binaryPath] + arguments).map { "'\($0)'" }.joined(separator: " ")
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NO_COLOR")
        env["COLUMNS"] = "80"
        // Rainbow colours only on a terminal that names itself (TERM set, not dumb).
        env["TERM"] = "xterm-256color"
        env.merge(environment) { _, new in new }
        return try runProcess(script!, ["-q", "-e", "-c", command, "/dev/null"], timeoutSeconds: 60, environment: env)
    }

    @Test(.enabled(if: CLIReadModelTests.script != nil && CLIReadModelTests.isLinux, "needs util-linux script"))
    func onATerminal_colourUnlessNO_COLOR_andOfflineRebuildShowsProgress() throws {
        try withLedger { ledger in
            try Scenario.usage(ledger)
            let socket = ["--socket", ledger.daemon.socketPath]
            let coloured = try Self.onTerminal(["usage", "--team", "acme"] + socket)
            #expect(coloured.termination == .exited(0), "\(coloured.stdout)")
            #expect(coloured.stdout.contains("\u{1B}["), "colours on a terminal")
            let plain = try Self.onTerminal(["usage", "--team", "acme"] + socket, environment: ["NO_COLOR": "1"])
            #expect(!plain.stdout.contains("\u{1B}["), "NO_COLOR: \(plain.stdout)")
            #expect(plain.stdout.contains("Token Usage by Model (This Month)"))

            ledger.connection.close()
            #expect(try ledger.daemon.stop() == .exited(0))
            let rebuild = try Self.onTerminal(["rebuild", "--data", ledger.daemon.dataDirectory])
            #expect(rebuild.termination == .exited(0), "\(rebuild.stdout)")
            // The progress line is redrawn after a carriage return: read every redraw as a line.
            let transcript = String(decoding: rebuild.stdout.utf8.map { $0 == 13 ? 10 : $0 }, as: UTF8.self)
            // One pass over the log folds every read model: one progress line names them all.
            let done = try #require(
                transcript.split(separator: "\n").last {
                    $0.contains("daily+pods+reports+audit_teams") && $0.contains("100.0%")
                },
                "a done line: \(transcript)")
            #expect(done.contains("events in"), "\(done)")
            #expect(transcript.contains("rebuilt daily, pods, reports, audit_teams: "), "\(transcript)")
        }
    }
}
