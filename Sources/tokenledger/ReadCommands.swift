import ArgumentParser
import LedgerJSON

// Read ops: nothing is appended. PROTOCOL §5 "Read".

struct Ping: LedgerCommand {
    static let op = "ping"
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Check the daemon answers; prints the last committed seq.",
        discussion: """
            Example:
              tokenledger ping --socket /run/tokenledger/tokenledger.sock
            """)

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields { RequestFields() }
}

struct Balance: LedgerCommand {
    static let op = "balance"
    static let configuration = CommandConfiguration(
        commandName: "balance",
        abstract: "Show a team's tokens: available, consumed today against the daily limit, reset time, status.",
        discussion: """
            Lists the buckets in spend order (allowance, bonuses, top-ups) with their expiry. \
            With --user, also that user's allocation left and daily figures. Status is green, \
            yellow (under 20% left) or red (none left).

            Examples:
              tokenledger balance --team acme
              tokenledger balance --team acme --user ana --json
            """)

    @Option(help: ArgumentHelp("Team id.", valueName: "team")) var team: String
    @Option(help: ArgumentHelp("Also show this user's allocation and daily figures.", valueName: "user")) var user:
        String?

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("team", team)
        fields.add("user", user)
        return fields
    }

    func render(_ answer: [JSONMember], with renderer: Renderer) -> [String] {
        let balance = JSON.object(JSONObject(answer))
        var rows: [(String, Cell)] = []
        func figure(_ key: String, limit: Bool = false) -> String { Renderer.amount(balance[key], limit: limit) }

        if balance["available"] != nil { rows.append(("available", Cell(figure("available", limit: true)))) }
        if balance["held"] != nil { rows.append(("held", Cell(figure("held")))) }
        if let overdraft = balance["overdraft"] {
            rows.append(("overdraft", Cell(figure("overdraft"), tone: (overdraft.int ?? 0) > 0 ? .bad : .plain)))
        }
        if balance["consumed_today"] != nil || balance["daily_limit"] != nil {
            rows.append(
                ("consumed today", Cell(Self.ofLimit(balance["consumed_today"], balance["daily_limit"], "daily limit")))
            )
        }
        if let resets = balance["resets_at"]?.string { rows.append(("resets at", Cell(resets))) }
        if let start = balance["cycle_start"]?.string, let end = balance["cycle_end"]?.string {
            rows.append(("cycle", Cell("\(start) – \(end)")))
        }
        if balance["consumed_cycle"] != nil { rows.append(("consumed this cycle", Cell(figure("consumed_cycle")))) }
        if let budget = balance["monthly_budget"] {
            var text = budget.int == -1 ? "none" : Self.ofLimit(balance["budget_used"], budget, "monthly budget")
            let paused = balance["paused"]?.bool == true
            if paused { text += " (paused)" }
            rows.append(("budget", Cell(text, tone: paused ? .warn : .plain)))
        }
        if let plan = balance["plan"]?.string {
            var text = plan
            if let next = balance["next_plan"]?.string, next != plan { text += " (next cycle: \(next))" }
            rows.append(("plan", Cell(text)))
        }
        if let status = balance["status"]?.string {
            rows.append(("status", Cell(status, tone: Renderer.tone(status: status))))
        }
        if let warnings = balance["warnings"]?.array {
            let names = warnings.compactMap(\.string)
            rows.append(
                (
                    "warnings",
                    names.isEmpty ? Cell("none", tone: .dim) : Cell(names.joined(separator: ", "), tone: .warn)
                ))
        }
        var lines = renderer.keyValueLines(rows)

        if let user = balance["user"], user.members != nil {
            lines.append("")
            lines.append(renderer.paint("user \(user["user"]?.string ?? "")", .strong))
            var userRows: [(String, Cell)] = []
            if user["allocation_left"] != nil {
                userRows.append(("allocation left", Cell(Renderer.amount(user["allocation_left"], limit: true))))
            }
            if user["consumed_today"] != nil || user["daily_limit"] != nil {
                userRows.append(
                    ("consumed today", Cell(Self.ofLimit(user["consumed_today"], user["daily_limit"], "daily limit"))))
            }
            lines += renderer.keyValueLines(userRows, indent: 2)
        }

        if let buckets = balance["buckets"]?.array {
            lines.append("")
            if buckets.isEmpty {
                lines.append(renderer.paint("no buckets", .dim))
            } else {
                let rows = buckets.map { bucket in
                    [
                        renderer.scalarCell(key: "seq", bucket["seq"] ?? .null),
                        Cell(bucket["source"]?.string ?? "-"),
                        renderer.scalarCell(key: "amount", bucket["amount"] ?? .null),
                        renderer.scalarCell(key: "expires_at", bucket["expires_at"] ?? .null),
                    ]
                }
                lines += renderer.tableLines(headers: ["seq", "source", "amount", "expires"], rows: rows)
            }
        }
        return lines
    }

    /// `12,000 of 100,000 daily limit`, or `12,000 (no daily limit)` when unlimited.
    static func ofLimit(_ used: JSON?, _ limit: JSON?, _ name: String) -> String {
        let usedText = Renderer.amount(used)
        guard let limit, limit.int != -1 else { return "\(usedText) (no \(name))" }
        return "\(usedText) of \(Renderer.amount(limit)) \(name)"
    }
}

struct Audit: LedgerCommand {
    static let op = "audit"
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "List events from the log, filtered, oldest first.",
        discussion: """
            Filters combine with AND; --types with OR. Page on with --after-seq set to the \
            printed next seq. --json prints the events whole (hash included).

            With --format or --output, exports every matching event instead of one page: it \
            follows next_after_seq to the end, writing each page before asking for the next \
            (--limit is then the page size, default 10000). ndjson is one event per line exactly \
            as stored (what verify-export checks); json one array; csv fixed columns plus the \
            whole event. A file is written beside its name and renamed when complete. A progress \
            bar shows on a terminal; a summary line ends on stderr either way.

            Examples:
              tokenledger audit --team acme --types consumed,hold_committed --limit 50
              tokenledger audit --from 2026-11-01T00:00:00.000Z \\
                  --to 2026-11-02T00:00:00.000Z --pod api-migration
              tokenledger audit --format ndjson --output ledger.ndjson
              tokenledger audit --team acme --format csv --output acme.csv
            """)

    @Option(help: ArgumentHelp("Earliest event time, inclusive (RFC 3339 UTC).", valueName: "time")) var from: String?
    @Option(help: ArgumentHelp("Latest event time, exclusive (RFC 3339 UTC).", valueName: "time")) var to: String?
    @Option(help: ArgumentHelp("Only this team.", valueName: "team")) var team: String?
    @Option(help: ArgumentHelp("Only this pod.", valueName: "pod")) var pod: String?
    @Option(help: ArgumentHelp("Only this model.", valueName: "model")) var model: String?
    @Option(help: ArgumentHelp("Only this task.", valueName: "task")) var task: String?
    @Option(help: ArgumentHelp("Only this user.", valueName: "user")) var user: String?
    @Option(help: ArgumentHelp("Event types, comma-separated or repeated (e.g. consumed,topup).", valueName: "types"))
    var types: [String] = []
    @Option(help: ArgumentHelp("Start after this seq (to page on).", valueName: "seq"), transform: Parse.integer)
    var afterSeq: Int?
    @Option(
        help: ArgumentHelp(
            "Most events to return (default 1000, at most 10000); the page size of an export (default 10000).",
            valueName: "n"),
        transform: Parse.integer)
    var limit: Int?
    @Option(
        help: ArgumentHelp("Export every matching event in this format (csv, json or ndjson).", valueName: "format"))
    var format: ExportFormat?
    @Option(help: ArgumentHelp("Export to this file (format: --format, default ndjson).", valueName: "file"))
    var output: String?

    @OptionGroup var global: GlobalOptions

    static let exportPageMax = 10_000

    func validate() throws {
        guard format != nil || output != nil else { return }
        if global.json { throw ValidationError("--json does not apply to an export; use --format ndjson.") }
        if let output, output.isEmpty { throw ValidationError("--output needs a file name.") }
        if let limit, !(1...Self.exportPageMax).contains(limit) {
            throw ValidationError("--limit (the page size of an export) must be 1...\(Self.exportPageMax).")
        }
    }

    /// The filters, without paging.
    func filters() -> RequestFields {
        var fields = RequestFields()
        fields.add("from", from)
        fields.add("to", to)
        fields.add("team", team)
        fields.add("pod", pod)
        fields.add("model", model)
        fields.add("task", task)
        fields.add("user", user)
        fields.add("types", Parse.list(types))
        return fields
    }

    func fields() throws -> RequestFields {
        var fields = filters()
        fields.add("after_seq", afterSeq)
        fields.add("limit", limit)
        return fields
    }

    func run() throws {
        guard format != nil || output != nil else { return try exchange() }
        try AuditExport(
            fields: filters(), afterSeq: afterSeq ?? 0, pageLimit: limit ?? Self.exportPageMax,
            format: format ?? .ndjson, output: output, global: global
        ).run()
    }

    func render(_ answer: [JSONMember], with renderer: Renderer) -> [String] {
        let response = JSON.object(JSONObject(answer))
        guard let events = response["events"]?.array else { return renderer.objectLines(answer) }
        var lines: [String] = []
        if events.isEmpty {
            lines.append(renderer.paint("no events", .dim))
        } else {
            let columns = ["seq", "ts", "type", "team", "user", "pod", "task", "model"]
            let rows = events.map { event in
                columns.map { key in event[key].map { renderer.scalarCell(key: key, $0) } ?? Cell("-", tone: .dim) }
                    + [Self.costOrAmount(event, renderer)]
            }
            lines += renderer.tableLines(headers: columns + ["cost/amount"], rows: rows)
        }
        lines.append("")
        let count = "\(Renderer.grouped(events.count)) event\(events.count == 1 ? "" : "s")"
        if let next = response["next_after_seq"], !next.isNull {
            lines.append(renderer.paint("\(count); more with --after-seq \(next.line)", .dim))
        } else {
            lines.append(renderer.paint("\(count); end of log", .dim))
        }
        return lines
    }

    static func costOrAmount(_ event: JSON, _ renderer: Renderer) -> Cell {
        if let cost = event["cost"] { return renderer.scalarCell(key: "cost", cost) }
        if let amount = event["amount"] { return renderer.scalarCell(key: "amount", amount) }
        if let allowance = event["allowance"] { return renderer.scalarCell(key: "allowance", allowance) }
        return Cell("-", tone: .dim)
    }
}

struct Verify: LedgerCommand {
    static let op = "verify"
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-derive the hash chain over the log (or a seq range) and print the head hash.",
        discussion: """
            Exits 1 with error integrity and the first bad seq when an event fails its check. \
            Pin head_hash to detect later tampering.

            Examples:
              tokenledger verify
              tokenledger verify --from-seq 1 --to-seq 50000
            """)

    @Option(help: ArgumentHelp("First seq to check, inclusive.", valueName: "seq"), transform: Parse.integer)
    var fromSeq: Int?
    @Option(help: ArgumentHelp("Last seq to check, inclusive.", valueName: "seq"), transform: Parse.integer) var toSeq:
        Int?

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("from_seq", fromSeq)
        fields.add("to_seq", toSeq)
        return fields
    }
}

struct Stats: LedgerCommand {
    static let op = "stats"
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show the daemon's head, read-model lag, connections, uptime and storage use.",
        discussion: """
            Example:
              tokenledger stats
            """)

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields { RequestFields() }
}
