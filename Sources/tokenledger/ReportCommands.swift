import ArgumentParser
import Foundation
import LedgerCore
import LedgerJSON
import LedgerProtocol

// The read models' answers (PROTOCOL §5 `usage`, `report`): tables and bar charts for people,
// CSV for spreadsheets, the raw line for programs.

struct UsageCommand: LedgerCommand {
    static let op = "usage"
    static let configuration = CommandConfiguration(
        commandName: "usage",
        abstract: "Show this cycle's usage: by model, by user, per day, and per pod against its budget.",
        discussion: """
            The table format charts the team's usage by model and by user and its daily trend, \
            then lists the team's active pods (in id order) with used, budget and remaining \
            (green, yellow under 20% left, red when none is left or the pod is paused), and \
            charts each pod by model, by task and per day. Bars are scaled to the largest row \
            and fit $COLUMNS (default 80); colour only on a terminal without NO_COLOR.

            --format csv prints one line per pod and model: \
            pod,used,budget,remaining,paused,model,tokens,input_tokens,output_tokens \
            (a pod with no usage has one line with the model fields empty; -1 is unlimited). \
            --format json (or --json) prints the daemon's answer line.

            Examples:
              tokenledger usage --team acme
              tokenledger usage --team acme --pod api-migration
              tokenledger usage --team acme --format csv > usage.csv
            """)

    @Option(help: ArgumentHelp("Team id.", valueName: "team")) var team: String
    @Option(help: ArgumentHelp("Only this pod.", valueName: "pod")) var pod: String?
    @OptionGroup var output: FormatOption

    @OptionGroup var global: GlobalOptions

    func validate() throws { try output.check(global) }

    var outputFormat: OutputFormat { output.resolve(global) }

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("team", team)
        fields.add("pod", pod)
        return fields
    }

    func render(_ answer: [JSONMember], with renderer: Renderer) -> [String] {
        let usage = JSON.object(JSONObject(answer))
        guard let pods = usage["pods"]?.array else { return renderer.objectLines(answer) }
        let teamUsage = usage["team"]
        var lines: [String] = []
        let since = teamUsage?["cycle_first_day"]?.string.map { " (cycle since \($0))" } ?? ""
        if pod == nil {
            let used = teamUsage?["used"].map { ": \(Renderer.amount($0)) tokens used this cycle" } ?? ""
            lines.append(renderer.paint("team \(team)\(used)\(since)", .strong))
            if let teamUsage {
                lines.append("")
                lines += renderer.chartLines(
                    title: "Token Usage by Model (This Month)", rows: Self.modelRows(teamUsage["by_model"]),
                    headers: Self.modelHeaders, empty: "no usage this cycle")
                lines.append("")
                lines += renderer.chartLines(
                    title: "Token Usage by User (This Month)",
                    rows: Self.shareRows(teamUsage["by_user"], label: "user"), headers: ["user", "tokens", "share"],
                    empty: "no usage this cycle")
                lines.append("")
                lines += renderer.chartLines(
                    title: "Daily Trend", rows: Self.dailyRows(teamUsage["daily"]), headers: ["day", "tokens"],
                    empty: "no usage this cycle")
            }
            lines.append("")
            if pods.isEmpty {
                lines.append(renderer.paint("no active pods", .dim))
            } else {
                lines += renderer.tableLines(
                    headers: ["pod", "used", "budget", "remaining", "state"], rows: pods.map(Self.podCells))
            }
        } else if !since.isEmpty {
            lines.append(renderer.paint("team \(team)\(since)", .dim))
        }
        for pod in pods {
            lines.append("")
            lines += Self.podLines(pod, renderer)
        }
        return lines
    }

    static let modelHeaders = ["model", "tokens", "share", "input", "output"]

    /// By model: tokens with the share of the total, then raw input and output tokens.
    static func modelRows(_ list: JSON?) -> [BarRow] {
        let items = list?.array ?? []
        let total = items.reduce(0) { $0 + ($1["tokens"]?.int ?? 0) }
        return items.map { item in
            let tokens = item["tokens"]?.int ?? 0
            return BarRow(
                label: Cell(item["model"]?.string ?? "?"), value: tokens,
                figures: [
                    Cell(Renderer.grouped(tokens), numeric: true),
                    Cell(Percentages.share(tokens, of: total), numeric: true),
                    Cell(Renderer.amount(item["input_tokens"]), numeric: true),
                    Cell(Renderer.amount(item["output_tokens"]), numeric: true),
                ])
        }
    }

    /// By task or user: tokens with the share of the total.
    static func shareRows(_ list: JSON?, label: String) -> [BarRow] {
        let items = list?.array ?? []
        let total = items.reduce(0) { $0 + ($1["tokens"]?.int ?? 0) }
        return items.map { item in
            let tokens = item["tokens"]?.int ?? 0
            return BarRow(
                label: Cell(item[label]?.string ?? "?"), value: tokens,
                figures: [
                    Cell(Renderer.grouped(tokens), numeric: true),
                    Cell(Percentages.share(tokens, of: total), numeric: true),
                ])
        }
    }

    /// One bar per day from the first to the last day with usage; days between without
    /// usage show as 0, so the trend is not squeezed.
    static func dailyRows(_ list: JSON?) -> [BarRow] {
        let items = (list?.array ?? []).compactMap { item -> (String, Int)? in
            guard let day = item["day"]?.string else { return nil }
            return (day, item["tokens"]?.int ?? 0)
        }
        return Days.filled(items).map { day, tokens in
            BarRow(
                label: Cell(day), value: tokens,
                figures: [Cell(Renderer.grouped(tokens), tone: tokens == 0 ? .dim : .plain, numeric: true)])
        }
    }

    /// Green while more than 20% of the budget is left, yellow below, red when none is left or
    /// the pod is paused (PROTOCOL §8's status thresholds); an unlimited budget is green.
    static func tone(_ pod: JSON) -> Cell.Tone {
        let budget = pod["budget"]?.int ?? -1
        let remaining = pod["remaining"]?.int ?? -1
        if pod["paused"]?.bool == true { return .bad }
        if budget == -1 { return .good }
        if remaining <= 0 { return .bad }
        return remaining * 5 < budget ? .warn : .good
    }

    static func state(_ pod: JSON) -> String {
        let budget = pod["budget"]?.int ?? -1
        let used = pod["used"]?.int ?? 0
        if pod["paused"]?.bool == true { return "paused" }
        if budget == -1 { return "no budget" }
        if used > budget { return "over budget" }
        if used == budget { return "at budget" }
        return tone(pod) == .warn ? "low" : "ok"
    }

    static func podCells(_ pod: JSON) -> [Cell] {
        let tone = tone(pod)
        return [
            Cell(pod["pod"]?.string ?? "?"),
            Cell(Renderer.amount(pod["used"]), tone: tone, numeric: true),
            Cell(Renderer.amount(pod["budget"], limit: true), numeric: true),
            Cell(Renderer.amount(pod["remaining"], limit: true), tone: tone, numeric: true),
            Cell(state(pod), tone: tone),
        ]
    }

    static func podLines(_ pod: JSON, _ renderer: Renderer) -> [String] {
        let tone = tone(pod)
        let used = pod["used"]?.int ?? 0
        let budget = pod["budget"]?.int ?? -1
        var lines = [renderer.paint("pod \(pod["pod"]?.string ?? "?")", .strong)]
        var rows: [(String, Cell)] = []
        if budget == -1 {
            rows.append(("used", Cell("\(Renderer.grouped(used)) (no budget)", tone: tone)))
        } else {
            let share = Percentages.share(used, of: budget)
            rows.append(
                ("used", Cell("\(Renderer.grouped(used)) of \(Renderer.grouped(budget)) (\(share))", tone: tone)))
        }
        rows.append(("remaining", Cell(Renderer.amount(pod["remaining"], limit: true), tone: tone)))
        if pod["paused"]?.bool == true {
            rows.append(
                ("paused", Cell("yes: refused until pod resume, a raised budget or the next cycle", tone: .bad)))
        }
        lines += renderer.keyValueLines(rows, indent: 2)
        if budget > 0 {
            let width = min(60, max(10, Terminal.columns - 4))
            lines.append("  " + renderer.paint(Bars.gauge(used, of: budget, width: width), tone))
        }
        let none = "no usage this cycle"
        if (pod["by_model"]?.array ?? []).isEmpty {
            return lines + ["  " + renderer.paint(none, .dim)]
        }
        lines.append("")
        lines += renderer.chartLines(
            title: "Token Usage by Model (This Month)", rows: modelRows(pod["by_model"]), headers: modelHeaders,
            indent: 2, empty: none)
        lines.append("")
        lines += renderer.chartLines(
            title: "Token Usage by Task", rows: shareRows(pod["by_task"], label: "task"),
            headers: ["task", "tokens", "share"], indent: 2, empty: "no tasks named")
        lines.append("")
        lines += renderer.chartLines(
            title: "Daily Trend", rows: dailyRows(pod["daily"]), headers: ["day", "tokens"], indent: 2, empty: none)
        return lines
    }

    static let csvHeader = [
        "pod", "used", "budget", "remaining", "paused", "model", "tokens", "input_tokens", "output_tokens",
    ]

    func csv(_ answer: [JSONMember]) -> String {
        var rows: [[String]] = []
        for pod in JSON.object(JSONObject(answer))["pods"]?.array ?? [] {
            let head = ["pod", "used", "budget", "remaining", "paused"].map { CSV.value(pod[$0]) }
            let models = pod["by_model"]?.array ?? []
            if models.isEmpty { rows.append(head + ["", "", "", ""]) }
            for model in models {
                rows.append(head + ["model", "tokens", "input_tokens", "output_tokens"].map { CSV.value(model[$0]) })
            }
        }
        return CSV.document(header: Self.csvHeader, rows: rows)
    }
}

struct Report: LedgerCommand {
    static let op = "report"
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Consumption per day, ISO week or month, optionally split by model, user, pod, task or operation.",
        discussion: """
            tokens is the cost charged; input and output are raw usage; reversed consumption is \
            taken out. share is a row's share of its period; change compares a key with the \
            period before (weeks and months only: ▲ up, ▼ down, - nothing to compare with). \
            --from/--to select whole periods: every period holding a day in from..to is \
            reported whole.

            The table format prints a bar per row, scaled to the largest row of the report and \
            fitted to $COLUMNS (default 80); with --by, rows are grouped under their period. \
            --format csv prints \
            bucket,key,tokens,input_tokens,output_tokens,events,share_pct,change_pct \
            (empty fields for an absent key or a null percent). --format json (or --json) \
            prints the daemon's answer line.

            Examples:
              tokenledger report --team acme --period day --from 2026-11-01 \\
                  --to 2026-11-30
              tokenledger report --team acme --period month --by model
              tokenledger report --team acme --period week --by user --format csv
            """)

    @Option(help: ArgumentHelp("Team id.", valueName: "team")) var team: String
    @Option(help: ArgumentHelp("Period of each row.", valueName: "period")) var period: ReportPeriod
    @Option(help: ArgumentHelp("First day, inclusive (YYYY-MM-DD in the team's timezone).", valueName: "day")) var from:
        String?
    @Option(help: ArgumentHelp("Last day, inclusive (YYYY-MM-DD).", valueName: "day")) var to: String?
    @Option(help: ArgumentHelp("Split each period by this field.", valueName: "field")) var by: ReportDimension?
    @Option(
        help: ArgumentHelp("Most rows to return (default 1000, at most 10000).", valueName: "n"),
        transform: Parse.integer)
    var limit: Int?
    @OptionGroup var output: FormatOption

    @OptionGroup var global: GlobalOptions

    func validate() throws { try output.check(global) }

    var outputFormat: OutputFormat { output.resolve(global) }

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("team", team)
        fields.add("period", period.rawValue)
        fields.add("from", from)
        fields.add("to", to)
        fields.add("by", by?.rawValue)
        fields.add("limit", limit)
        return fields
    }

    func render(_ answer: [JSONMember], with renderer: Renderer) -> [String] {
        let response = JSON.object(JSONObject(answer))
        guard let rows = response["rows"]?.array else { return renderer.objectLines(answer) }
        let range = [from.map { "from \($0)" }, to.map { "to \($0)" }].compactMap { $0 }.joined(separator: " ")
        let title =
            "Tokens \(by.map { "by \($0.rawValue) " } ?? "")per \(period.rawValue)"
            + (range.isEmpty ? "" : " (\(range))")
        if rows.isEmpty {
            return [
                renderer.paint(title, .strong), renderer.paint("no usage" + (range.isEmpty ? "" : " " + range), .dim),
            ]
        }
        let changes = period != .day
        var lines: [String]
        if let by {
            lines = grouped(rows, by: by, title: title, changes: changes, renderer)
        } else {
            var headers = [period.rawValue, "tokens", "events"]
            if changes { headers.append("change") }
            let bars = rows.map { row in
                var figures = [
                    Cell(Renderer.amount(row["tokens"]), numeric: true),
                    Cell(Renderer.amount(row["events"]), numeric: true),
                ]
                if changes { figures.append(Percentages.change(row["change_pct"])) }
                return BarRow(
                    label: Cell(row["bucket"]?.string ?? "?"), value: row["tokens"]?.int ?? 0, figures: figures)
            }
            lines = renderer.chartLines(title: title, rows: bars, headers: headers)
        }
        if response["truncated"]?.bool == true {
            lines.append("")
            lines.append(
                renderer.paint(
                    "truncated after \(rows.count) rows: raise --limit (at most 10000) or narrow --from/--to", .warn))
        }
        return lines
    }

    /// A heading per period (its total), then a bar per key; one layout for the whole report
    /// so that bars compare across periods.
    private func grouped(
        _ rows: [JSON], by: ReportDimension, title: String, changes: Bool, _ renderer: Renderer
    ) -> [String] {
        var headers = [by.rawValue, "tokens", "share"]
        if changes { headers.append("change") }
        headers.append("events")
        let bars = rows.map { row in
            var figures = [Cell(Renderer.amount(row["tokens"]), numeric: true), Percentages.figure(row["share_pct"])]
            if changes { figures.append(Percentages.change(row["change_pct"])) }
            figures.append(Cell(Renderer.amount(row["events"]), numeric: true))
            let label = row["key"]?.string.map { Cell($0) } ?? Cell("(no \(by.rawValue))", tone: .dim)
            return BarRow(label: label, value: row["tokens"]?.int ?? 0, figures: figures)
        }
        let layout = BarLayout(rows: bars, headers: headers, indent: 2)
        var lines = [renderer.paint(title, .strong), layout.header(headers, renderer)]
        var index = 0
        while index < rows.count {
            let bucket = rows[index]["bucket"]?.string ?? "?"
            var end = index
            var tokens = 0
            var events = 0
            while end < rows.count, rows[end]["bucket"]?.string == bucket {
                tokens += rows[end]["tokens"]?.int ?? 0
                events += rows[end]["events"]?.int ?? 0
                end += 1
            }
            let total = "\(Renderer.grouped(tokens)) tokens, \(Renderer.grouped(events)) event\(events == 1 ? "" : "s")"
            lines.append(renderer.paint(bucket, .strong) + "  " + renderer.paint(total, .dim))
            lines += bars[index..<end].map { layout.line($0, renderer) }
            index = end
        }
        return lines
    }

    static let csvHeader = [
        "bucket", "key", "tokens", "input_tokens", "output_tokens", "events", "share_pct", "change_pct",
    ]

    func csv(_ answer: [JSONMember]) -> String {
        let rows = (JSON.object(JSONObject(answer))["rows"]?.array ?? []).map { row in
            Self.csvHeader.map { CSV.value(row[$0]) }
        }
        return CSV.document(header: Self.csvHeader, rows: rows)
    }
}

/// Calendar days as `YYYY-MM-DD` (the daemon's days, already in the team's timezone).
enum Days {
    /// Longest gap filled with zero days; a cycle has at most 31 days.
    static let fillDaysMax = 62

    private static let calendar: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()

    static func date(_ day: String) -> Date? {
        let parts = day.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, day.count == 10 else { return nil }
        return calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2]))
    }

    static func label(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
    }

    /// `rows` (ascending days) with every missing day between the first and the last added as 0.
    static func filled(_ rows: [(String, Int)]) -> [(String, Int)] {
        let days = rows.map(\.0)
        guard days == days.sorted(), days.allSatisfy({ date($0) != nil }),
            let first = rows.first.flatMap({ date($0.0) }), let last = rows.last.flatMap({ date($0.0) }),
            let span = calendar.dateComponents([.day], from: first, to: last).day, span >= 0, span <= fillDaysMax
        else { return rows }
        let known = Dictionary(rows, uniquingKeysWith: +)
        return (0...span).compactMap { offset in
            guard let day = calendar.date(byAdding: .day, value: offset, to: first) else { return nil }
            let text = label(day)
            return (text, known[text] ?? 0)
        }
    }
}
