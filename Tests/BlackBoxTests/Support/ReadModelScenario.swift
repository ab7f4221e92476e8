import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

/// Histories the read-model tests (`usage`, `report`, `rebuild`, and the CLI over them) share.
/// Costs come from the default catalog: gpt-4o input ×1 output ×2, claude-3.5-sonnet input
/// ×1.5 output ×3, deepseek-coder input ×0.25 output ×0.5; model `m` is unpriced (cost given).
enum Scenario {
    /// `consume` with a fresh key; returns its seq.
    @discardableResult
    static func consume(_ ledger: Ledger, _ fields: KeyValuePairs<String, JSON>) throws -> Int {
        let request = JSON.request("consume", fields).setting("key", .string(Ledger.freshKey()))
        let response = try ledger.connection.call(request)
        guard response["ok"]?.bool == true, let seq = response["seq"]?.int else {
            throw LedgerTestError("consume \(request.line) failed: \(response.line)")
        }
        return seq
    }

    /// Team `acme` (pro) with users ana and bo; pods `web` (budget 10,000, pause), `api`
    /// (unlimited) and `old` (archived). On 2026-01-15:
    /// web: ana gpt-4o 1000/500 → 2,000 (task t1); bo claude 1000/1000 → 4,500 (task t2);
    /// api: ana deepseek-coder 4000/2000 → 2,000; no pod: bo `m` cost 300. Team: 8,800.
    static func usage(_ ledger: Ledger) throws {
        try ledger.makeTeam("acme", plan: "pro", users: ["ana", "bo"])
        try ledger.ok("pod.create", ["team": "acme", "pod": "web", "budget": 10_000, "budget_action": "pause"])
        try ledger.ok("pod.create", ["team": "acme", "pod": "api"])
        try ledger.ok("pod.create", ["team": "acme", "pod": "old"])
        try ledger.ok("pod.archive", ["team": "acme", "pod": "old"])
        try consume(
            ledger,
            [
                "team": "acme", "user": "ana", "pod": "web", "task": "t1", "model": "gpt-4o", "input_tokens": 1000,
                "output_tokens": 500,
            ])
        try consume(
            ledger,
            [
                "team": "acme", "user": "bo", "pod": "web", "task": "t2", "model": "claude-3.5-sonnet",
                "input_tokens": 1000, "output_tokens": 1000,
            ])
        try consume(
            ledger,
            [
                "team": "acme", "user": "ana", "pod": "api", "model": "deepseek-coder", "input_tokens": 4000,
                "output_tokens": 2000,
            ])
        try consume(ledger, ["team": "acme", "user": "bo", "model": "m", "cost": 300])
    }

    /// The seqs of the two consumptions of week 4 that the reversal tests undo.
    struct Week4 {
        var gpt: Int
        var claude: Int
    }

    /// Team `acme` (pro), users ana and bo, pod `web`, over two ISO weeks:
    /// 2026-W03 (Thursday 2026-01-15): web ana gpt-4o cost 100 (operation image); no pod bo
    /// claude cost 300. 2026-W04 (2026-01-22): web ana gpt-4o 50/50 → 150; web ana claude
    /// 20/10 → 60; no pod bo gpt-4o cost 210.
    @discardableResult
    static func twoWeeks(_ ledger: Ledger) throws -> Week4 {
        try ledger.makeTeam("acme", plan: "pro", users: ["ana", "bo"])
        try ledger.ok("pod.create", ["team": "acme", "pod": "web"])
        try consume(
            ledger,
            ["team": "acme", "user": "ana", "pod": "web", "model": "gpt-4o", "operation": "image", "cost": 100])
        try consume(ledger, ["team": "acme", "user": "bo", "model": "claude-3.5-sonnet", "cost": 300])
        try ledger.ok("clock.advance", ["seconds": JSON(7 * 86_400)])
        let gpt = try consume(
            ledger,
            [
                "team": "acme", "user": "ana", "pod": "web", "model": "gpt-4o", "input_tokens": 50,
                "output_tokens": 50,
            ])
        let claude = try consume(
            ledger,
            [
                "team": "acme", "user": "ana", "pod": "web", "model": "claude-3.5-sonnet", "input_tokens": 20,
                "output_tokens": 10,
            ])
        try consume(ledger, ["team": "acme", "user": "bo", "model": "gpt-4o", "cost": 210])
        return Week4(gpt: gpt, claude: claude)
    }

    /// A report row as the daemon answers it: `key` nil leaves it out; `change` nil leaves
    /// `change_pct` out (day rows), `.null` sends null.
    static func row(
        _ bucket: String, _ key: String?, tokens: Int, input: Int = 0, output: Int = 0, events: Int, share: JSON,
        change: JSON? = nil
    ) -> JSON {
        var row: JSON = ["bucket": .string(bucket)]
        if let key { row = row.setting("key", .string(key)) }
        row = row.setting("tokens", JSON(tokens)).setting("input_tokens", JSON(input))
            .setting("output_tokens", JSON(output)).setting("events", JSON(events)).setting("share_pct", share)
        if let change { row = row.setting("change_pct", change) }
        return row
    }
}

/// The `tokenledger` binary, run to completion against a test's daemon.
enum CLIBinary {
    /// `TOKENLEDGER_BIN`, else `<package root>/.build/debug/tokenledger`.
    static var binaryPath: String {
        ProcessInfo.processInfo.environment["TOKENLEDGER_BIN"] ?? packageRoot + "/.build/debug/tokenledger"
    }

    /// Runs the CLI with `COLUMNS=80` and neither `NO_COLOR` nor `TOKENLEDGER_SOCKET` from the
    /// test's environment; `environment` adds or replaces variables.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        guard FileManager.default.isExecutableFile(atPath: binaryPath) else {
            throw LedgerTestError(
                "no CLI binary at \(binaryPath) (swift build --product tokenledger, or set TOKENLEDGER_BIN)")
        }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NO_COLOR")
        env.removeValue(forKey: "TOKENLEDGER_SOCKET")
        env["COLUMNS"] = "80"
        env.merge(environment) { _, new in new }
        return try runProcess(binaryPath, arguments, timeoutSeconds: 60, environment: env)
    }
}

extension Ledger {
    /// Runs `tokenledger ARGUMENTS --socket <this daemon's socket>`.
    func cli(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        try CLIBinary.run(arguments + ["--socket", daemon.socketPath], environment: environment)
    }

    /// Like `cli`, but requires exit 0 and returns stdout.
    func cliOK(
        _ arguments: [String], environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> String {
        let result = try cli(arguments, environment: environment)
        guard result.termination == .exited(0) else {
            throw LedgerTestError(
                "tokenledger \(arguments.joined(separator: " ")) \(result.termination)\nstdout:\n\(result.stdout)\nstderr:\n\(result.stderr)",
                sourceLocation)
        }
        return result.stdout
    }
}
