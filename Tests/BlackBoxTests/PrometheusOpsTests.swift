import Foundation
import LedgerTestKit
import Testing

/// `ops/prometheus/`: the scrape config and the alert rules pass Prometheus' own checker, and
/// each alert fires (and stays quiet) as its unit tests in `alerts.test.yml` say.
@Suite("Prometheus ops files")
struct PrometheusOpsTests {
    static let directory = packageRoot + "/ops/prometheus"

    @Test(
        .enabled(if: findExecutable("promtool") != nil, "needs promtool (Debian: prometheus)"),
        arguments: [
            ["check", "config", "tokenledger.yml"], ["check", "rules", "alerts.yml"],
            ["test", "rules", "alerts.test.yml"],
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

    @Test func everyMetricTheDaemonNames_isInTheReadmesTable() {
        let names = readFile(packageRoot + "/Sources/LedgerMetrics/MetricName.swift")
            .split(separator: "\"").filter { $0.hasPrefix("tokenledger_") }
        #expect(names.count >= 15, "\(names)")
        let readme = readFile(packageRoot + "/README.md")
        for name in names {
            #expect(readme.contains("| `\(name)"), "\(name) has a row in README's Metrics table")
        }
    }
}
