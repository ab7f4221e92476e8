import Foundation
import LedgerTestKit
import Testing

/// `--metrics-listen` (issue 14): the real daemon's `/metrics`, scraped over HTTP and parsed
/// by the Prometheus project's own Python parser (`prometheus_client`), before, during and
/// after pipelined consumes from several connections.
@Suite("Metrics endpoint", .enabled(if: PrometheusScrape.python != nil, PrometheusScrape.skipReason))
struct MetricsTests {
    static let consumes = 4_000

    /// The port the daemon logged (`metrics.port=N`) after binding port 0.
    static func metricsPort(_ daemon: DaemonProcess, timeoutSeconds: Double = 10) throws -> Int {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            for line in daemon.daemonStderr.split(separator: "\n") where line.contains("metrics serving") {
                if let field = line.split(separator: " ").first(where: { $0.hasPrefix("metrics.port=") }),
                    let port = Int(field.dropFirst("metrics.port=".count)), port > 0
                {
                    return port
                }
            }
            usleep(20_000)
        }
        throw LedgerTestError("no `metrics serving … metrics.port=N` line in:\n\(daemon.stderr)")
    }

    @Test func metrics_parseAndMove_underPipelinedConsumes() throws {
        try withLedger(manualClock + ["--metrics-listen", "127.0.0.1:0"]) { ledger in
            let scrape = PrometheusScrape(port: try Self.metricsPort(ledger.daemon))
            try ledger.makeTeam("busy", plan: "enterprise")

            let before = try scrape.samples()
            #expect(before.contentType == "text/plain; version=0.0.4; charset=utf-8")
            #expect(before.types["tokenledger_requests"] == "counter", "\(before.types)")
            #expect(before.types["tokenledger_writer_commit_seconds"] == "histogram")
            #expect(before.types["tokenledger_head_seq"] == "gauge")
            let consumeOK = #"tokenledger_requests_total{code="ok",op="consume"}"#
            #expect(before[consumeOK] == nil, "a series appears with its first request")
            #expect(before[#"tokenledger_requests_total{code="ok",op="team.create"}"#] == 1)
            #expect(before["tokenledger_head_seq"] == Double(try ledger.seq()))
            for projection in ["daily", "pods", "reports", "audit_teams"] {
                #expect(
                    before[#"tokenledger_projection_lag_events{projection="\#(projection)"}"#] != nil, "\(projection)")
            }
            #expect(before["tokenledger_integrity_failed"] == 0)
            #expect((before["tokenledger_map_used_bytes"] ?? 0) > 0)
            #expect((before["tokenledger_map_max_bytes"] ?? 0) >= (before["tokenledger_map_size_bytes"] ?? .infinity))
            #expect((before["tokenledger_startup_seconds"] ?? 0) > 0)
            #expect((before["tokenledger_connections"] ?? 0) >= 1, "the test's own connection")

            // Under load: 4 connections pipelining batches of 500, scraped while they run.
            let load = ThreadResult {
                try appendConsumes(
                    socketPath: ledger.daemon.socketPath, team: "busy", user: "u", total: Self.consumes, keyPrefix: "m")
            }
            var during: [PrometheusScrape.Samples] = []
            while !load.isFinished || during.isEmpty {
                during.append(try scrape.samples())
            }
            let (_, acked, problems) = try load.value()
            #expect(acked == Self.consumes, "\(problems.prefix(3))")

            let after = try scrape.samples()
            let stats = try ledger.ok("stats")
            let head = try #require(stats["seq"]?.int)
            #expect(after[consumeOK] == Double(Self.consumes), "one count per consume answered ok")
            #expect(after["tokenledger_head_seq"] == Double(head))
            let appended =
                (after["tokenledger_events_appended_total"] ?? 0) - (before["tokenledger_events_appended_total"] ?? 0)
            #expect(
                appended == Double(head - Int(before["tokenledger_head_seq"] ?? 0)), "every appended event counted once"
            )
            #expect(appended >= Double(Self.consumes))
            let commits = after["tokenledger_writer_commit_seconds_count"] ?? 0
            #expect(commits > (before["tokenledger_writer_commit_seconds_count"] ?? 0))
            #expect(commits == Double(try #require(stats["batches"]?.int)), "one commit observation per batch")
            #expect(after["tokenledger_writer_batch_requests_count"] == commits)
            #expect((after["tokenledger_writer_batch_requests_sum"] ?? 0) >= Double(Self.consumes))
            #expect(after[#"tokenledger_writer_commit_seconds_bucket{le="+Inf"}"#] == commits)
            for scraped in during {
                let seen = scraped[consumeOK] ?? -1
                #expect(seen >= 0 && seen <= Double(Self.consumes), "a scrape under load parses: \(seen)")
            }
        }
    }

    @Test func otherPaths_answer404_otherMethods405() throws {
        try withLedger(manualClock + ["--metrics-listen", "127.0.0.1:0"]) { ledger in
            let scrape = PrometheusScrape(port: try Self.metricsPort(ledger.daemon))
            #expect(try scrape.status("GET", "/metrics") == "200")
            #expect(try scrape.status("GET", "/") == "404")
            #expect(try scrape.status("GET", "/metrics/x") == "404")
            #expect(try scrape.status("POST", "/metrics") == "405 GET")
            #expect(try scrape.status("DELETE", "/metrics") == "405 GET")
            #expect(try scrape.status("POST", "/nowhere") == "404")
            // The ledger is unaffected.
            #expect(try ledger.seq() >= 0)
        }
    }

    @Test func withoutTheFlag_nothingListens() throws {
        try withLedger(manualClock) { ledger in
            #expect(!ledger.daemon.daemonStderr.contains("metrics serving"))
        }
    }
}

/// Runs `body` on a thread of its own; `value()` waits for it.
final class ThreadResult<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var result: Result<T, any Error>?

    init(_ body: @escaping @Sendable () throws -> T) {
        let thread = Thread { [self] in
            let r = Result { try body() }
            lock.withLock { result = r }
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    var isFinished: Bool { lock.withLock { result != nil } }

    func value() throws -> T {
        done.wait()
        done.signal()
        return try lock.withLock { result! }.get()
    }
}

/// `GET http://127.0.0.1:PORT/metrics` and its parse by `prometheus_client`, in python3.
struct PrometheusScrape {
    let port: Int

    /// argv: base URL, then `scrape`, or `status METHOD PATH`. `scrape` prints JSON: the
    /// Content-Type, each family's type, and every sample as `name{label="v",...}` (labels sorted).
    static let script = #"""
        import json, sys, urllib.request, urllib.error
        from prometheus_client.parser import text_string_to_metric_families
        base = sys.argv[1]
        if sys.argv[2] == "scrape":
            with urllib.request.urlopen(base + "/metrics", timeout=30) as response:
                content_type = response.headers.get("Content-Type")
                text = response.read().decode("utf-8")
            types, samples = {}, {}
            for family in text_string_to_metric_families(text):
                types[family.name] = family.type
                for s in family.samples:
                    labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
                    key = s.name + ("{" + labels + "}" if labels else "")
                    if key in samples:
                        sys.exit("duplicate sample " + key)
                    samples[key] = s.value
            print(json.dumps({"content_type": content_type, "types": types, "samples": samples}))
        else:
            request = urllib.request.Request(base + sys.argv[4], method=sys.argv[3])
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    print(response.status)
            except urllib.error.HTTPError as error:
                print(("%d %s" % (error.code, error.headers.get("Allow") or "")).strip())
        """#

    static let python: String? = {
        guard let python = findExecutable("python3"),
            (try? runProcess(python, ["-c", "import prometheus_client"], timeoutSeconds: 60))?.termination == .exited(0)
        else { return nil }
        return python
    }()

    static let skipReason: Comment =
        "needs python3 with prometheus_client (pip install prometheus_client; tools/ensure-deps --test)"

    struct Samples {
        var contentType: String
        var types: [String: String]
        var values: [String: Double]
        subscript(_ key: String) -> Double? { values[key] }
    }

    func run(_ arguments: [String]) throws -> String {
        let python = try #require(Self.python)
        let result = try runProcess(python, ["-c", Self.script, "http://127.0.0.1:\(port)"] + arguments)
        guard result.termination == .exited(0) else {
            throw LedgerTestError("python3 \(arguments): \(result.termination)\n\(result.stdout)\(result.stderr)")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func samples() throws -> Samples {
        let parsed = try JSON.parse(try run(["scrape"]))
        var types: [String: String] = [:]
        for member in parsed["types"]?.members ?? [] { types[member.key] = member.value.string }
        var values: [String: Double] = [:]
        for member in parsed["samples"]?.members ?? [] { values[member.key] = member.value.double }
        return Samples(contentType: parsed["content_type"]?.string ?? "", types: types, values: values)
    }

    /// The status code (and the Allow header, if any) of `method path`.
    func status(_ method: String, _ path: String) throws -> String { try run(["status", method, path]) }
}

/// `ops/prometheus/`: the scrape config and the alert rules pass Prometheus' own checker, and
/// each alert fires (and stays quiet) as its unit tests in `alerts.test.yml` say.
@Suite("Prometheus ops files", .enabled(if: findExecutable("promtool") != nil, "needs promtool (Debian: prometheus)"))
struct PrometheusOpsTests {
    static let directory = packageRoot + "/ops/prometheus"

    @Test(arguments: [
        ["check", "config", "tokenledger.yml"], ["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"],
    ])
    func promtool_accepts(arguments: [String]) throws {
        let promtool = try #require(findExecutable("promtool"))
        // promtool resolves rule_files against the current directory for `test rules`.
        let result = try runProcess(
            "/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", Self.directory, promtool] + arguments, timeoutSeconds: 120)
        #expect(result.termination == .exited(0), "promtool \(arguments): \(result.stdout)\(result.stderr)")
    }

    @Test func everyMetricTheRulesUse_isOneTheDaemonNames_andTheReadmeExplains() throws {
        let rules = readFile(Self.directory + "/alerts.yml")
        let used = Set(
            rules.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") })
                .filter { $0.hasPrefix("tokenledger_") }.map(String.init))
        #expect(used.count >= 5, "\(used)")
        let names = readFile(packageRoot + "/Sources/LedgerMetrics/MetricName.swift")
        let readme = readFile(packageRoot + "/README.md")
        for name in used {
            let family = ["_bucket", "_count", "_sum"].reduce(name) {
                $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0
            }
            #expect(names.contains("\"\(family)\""), "\(family) is in MetricName.swift")
            #expect(readme.contains("`\(family)"), "\(family) is in README's Metrics table")
        }
    }
}
