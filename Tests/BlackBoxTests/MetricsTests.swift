import Foundation
import LedgerTestKit
import Testing

/// `--metrics-listen` (issue 14): the real daemon's `/metrics`, scraped over HTTP and parsed
/// by the Prometheus project's own Python parser (`prometheus_client`), before, during and
/// after pipelined consumes from several connections.
@Suite("Metrics endpoint")
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

    @Test(.enabled(if: PrometheusScrape.python != nil, PrometheusScrape.skipReason))
    func metrics_parseAndMove_underPipelinedConsumes() throws {
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

    @Test(.enabled(if: PrometheusScrape.python != nil, PrometheusScrape.skipReason))
    func otherPaths_answer404_otherMethods405() throws {
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

    @Test(arguments: ["9464", "127.0.0.1", "127.0.0.1:99999", "::1:9464"])
    func malformedAddress_refusesToStart(address: String) throws {
        let daemon = try DaemonProcess(arguments: manualClock + ["--metrics-listen", address], waitForPing: false)
        let termination = daemon.waitForExit(timeoutSeconds: 20)
        #expect(termination != nil && termination != .exited(0), "\(termination.map { "\($0)" } ?? "still running")")
        #expect(daemon.daemonStderr.contains("--metrics-listen \(address) must be HOST:PORT"), "\(daemon.stderr)")
        daemon.kill9()
    }

    @Test func portInUse_isLogged_andTheLedgerServesOn() throws {
        try withLedger(manualClock + ["--metrics-listen", "127.0.0.1:0"]) { first in
            let port = try Self.metricsPort(first.daemon)
            try withLedger(manualClock + ["--metrics-listen", "127.0.0.1:\(port)"]) { second in
                let seq = try second.seq()
                #expect(seq >= 0, "the ledger answers")
                let deadline = Date().addingTimeInterval(10)
                while !second.daemon.daemonStderr.contains("metrics server failed") && Date() < deadline {
                    usleep(20_000)
                }
                #expect(second.daemon.daemonStderr.contains("metrics server failed"), "\(second.daemon.stderr)")
            }
        }
    }
}
