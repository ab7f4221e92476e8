import ArgumentParser
import Foundation
import LedgerJSON

// Horizontal bar charts, the terminal's width, and RFC 4180 CSV: what `usage` and `report`
// print besides plain tables.

/// How a read-model command prints its answer.
enum OutputFormat: String, CaseIterable, ExpressibleByArgument {
    case table, csv, json
}

/// `--format table|csv|json`; `--json` (a global flag) is `--format json`.
struct FormatOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "table (for people, the default), csv (RFC 4180: a header line, then one line per row) or json (the daemon's raw answer line, the same as --json).",
            valueName: "format"))
    var format: OutputFormat?

    func resolve(_ global: GlobalOptions) -> OutputFormat {
        format ?? (global.json ? .json : .table)
    }

    func check(_ global: GlobalOptions) throws {
        if global.json, let format, format != .json {
            throw ValidationError("--json is --format json; give --format \(format.rawValue) or --json, not both.")
        }
    }
}

/// The terminal's width in columns: `$COLUMNS` when it is a positive number, else 80.
enum Terminal {
    static let defaultColumns = 80
    static let columnsMin = 40

    static var columns: Int {
        guard let text = ProcessInfo.processInfo.environment["COLUMNS"], let value = Int(text), value > 0 else {
            return defaultColumns
        }
        return max(columnsMin, value)
    }
}

/// One bar of a chart: a label, the value the bar shows, and figures printed after it.
struct BarRow {
    var label: Cell
    var value: Int
    var figures: [Cell]
}

/// Bars in whole blocks and eighths of a block, all scaled to the largest row.
enum Bars {
    static let full: Character = "█"
    /// One to seven eighths of a cell.
    static let eighths: [Character] = ["▏", "▎", "▍", "▌", "▋", "▊", "▉"]
    static let empty: Character = "░"

    /// `value` of `maximum` over `width` cells, to the nearest eighth; a value above zero is
    /// never drawn empty, so a small consumer stays visible beside a large one.
    static func bar(_ value: Int, of maximum: Int, width: Int) -> String {
        guard value > 0, maximum > 0, width > 0 else { return "" }
        let ratio = min(1, Double(value) / Double(maximum))
        let units = max(1, Int((ratio * Double(width * 8)).rounded()))
        var out = String(repeating: full, count: units / 8)
        if units % 8 > 0 { out.append(eighths[units % 8 - 1]) }
        assert(cells(out) <= width, "a bar never passes its width")
        return out
    }

    /// A gauge of `value` out of `maximum`: the bar, then light shade up to `width` cells.
    static func gauge(_ value: Int, of maximum: Int, width: Int) -> String {
        let filled = bar(value, of: maximum, width: width)
        return filled + String(repeating: empty, count: width - cells(filled))
    }

    static func cells(_ bar: String) -> Int { bar.count }
}

/// Column widths shared by every row of a chart, so that bars and figures line up even when
/// the rows are printed in groups (a report's buckets).
struct BarLayout {
    /// Widest a bar gets, however wide the terminal.
    static let barWidthMax = 100
    static let barWidthMin = 8
    static let labelWidthMin = 10

    var indent: Int
    var labelWidth: Int
    var barWidth: Int
    var figureWidths: [Int]
    var maximum: Int

    /// Fits the rows into `columns`: labels take at most a third of the line (longer ones are
    /// cut with "…"), figures their width, the bar the rest.
    init(rows: [BarRow], headers: [String] = [], indent: Int = 0, columns: Int = Terminal.columns) {
        self.indent = indent
        let figures = max(rows.map(\.figures.count).max() ?? 0, max(0, headers.count - 1))
        var widths = [Int](repeating: 0, count: figures)
        for row in rows {
            for (index, cell) in row.figures.enumerated() { widths[index] = max(widths[index], cell.width) }
        }
        for (index, header) in headers.dropFirst().enumerated() where index < figures {
            widths[index] = max(widths[index], header.count)
        }
        figureWidths = widths
        let widest = max(rows.map(\.label.width).max() ?? 0, headers.first?.count ?? 0)
        labelWidth = min(widest, max(Self.labelWidthMin, (columns - indent) / 3))
        let taken = indent + labelWidth + widths.reduce(0) { $0 + $1 + 2 } + 2
        barWidth = min(Self.barWidthMax, max(Self.barWidthMin, columns - taken))
        maximum = rows.map(\.value).max() ?? 0
    }

    /// The header line: the label's title, a blank over the bars, the figures' titles.
    func header(_ titles: [String], _ renderer: Renderer) -> String {
        var cells = [Cell(Self.fit(titles.first ?? "", labelWidth).uppercased(), tone: .strong)]
        cells += titles.dropFirst().map { Cell($0.uppercased(), tone: .strong) }
        return compose(label: cells[0], bar: "", figures: Array(cells.dropFirst()), renderer)
    }

    func line(_ row: BarRow, _ renderer: Renderer) -> String {
        var label = row.label
        label.text = Self.fit(label.text, labelWidth)
        return compose(
            label: label, bar: Bars.bar(row.value, of: maximum, width: barWidth), figures: row.figures, renderer)
    }

    private func compose(label: Cell, bar: String, figures: [Cell], _ renderer: Renderer) -> String {
        var out = String(repeating: " ", count: indent)
        out += renderer.paint(label) + String(repeating: " ", count: labelWidth - label.width)
        out += "  " + bar + String(repeating: " ", count: barWidth - Bars.cells(bar))
        for (index, cell) in figures.enumerated() {
            let width = index < figureWidths.count ? figureWidths[index] : cell.width
            out += "  " + String(repeating: " ", count: max(0, width - cell.width)) + renderer.paint(cell)
        }
        // Rows without figures would otherwise end in the bar's padding.
        while out.last == " " { out.removeLast() }
        return out
    }

    /// `text` cut to `width` characters, the last one an ellipsis when cut.
    static func fit(_ text: String, _ width: Int) -> String {
        guard text.count > width, width > 1 else { return text }
        return String(text.prefix(width - 1)) + "…"
    }
}

extension Renderer {
    /// A titled bar chart: the title, then one bar per row under a shared layout.
    func chartLines(
        title: String, rows: [BarRow], headers: [String] = [], indent: Int = 0, empty: String = "none"
    ) -> [String] {
        let pad = String(repeating: " ", count: indent)
        var lines = [pad + paint(title, .strong)]
        guard !rows.isEmpty else { return lines + [pad + paint(empty, .dim)] }
        let layout = BarLayout(rows: rows, headers: headers, indent: indent)
        if !headers.isEmpty { lines.append(layout.header(headers, self)) }
        return lines + rows.map { layout.line($0, self) }
    }
}

/// Percentages for people. The daemon's own figures (`share_pct`, `change_pct`) are shown as
/// it sent them; shares the CLI works out itself are rounded half away from zero to 1 decimal.
enum Percentages {
    /// `part` of `whole` as `45.5%`; `-` when `whole` is 0.
    static func share(_ part: Int, of whole: Int) -> String {
        guard whole > 0 else { return "-" }
        let tenths = (Double(part) * 1000 / Double(whole)).rounded(.toNearestOrAwayFromZero)
        return String(format: "%.1f%%", tenths / 10)
    }

    /// A percent the daemon computed (a JSON number, or null).
    static func figure(_ value: JSON?) -> Cell {
        guard case .number(let number)? = value else { return Cell("-", tone: .dim, numeric: true) }
        return Cell(number.lexeme + "%", numeric: true)
    }

    /// `change_pct` as `▲ 12.5%` / `▼ 3%` / `0%`; `-` when there is nothing to compare with.
    static func change(_ value: JSON?) -> Cell {
        guard case .number(let number)? = value else { return Cell("-", tone: .dim, numeric: true) }
        let text = number.lexeme
        if text.hasPrefix("-") { return Cell("▼ " + text.dropFirst() + "%", tone: .good, numeric: true) }
        if Double(text) == 0 { return Cell("0%", numeric: true) }
        return Cell("▲ " + text + "%", tone: .warn, numeric: true)
    }
}

/// RFC 4180: fields separated by commas, records by CRLF; a field holding a comma, a quote,
/// CR or LF is quoted, its quotes doubled.
enum CSV {
    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else {
            return text
        }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func record(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") }

    static func document(header: [String], rows: [[String]]) -> String {
        ([header] + rows).map { record($0) + "\r\n" }.joined()
    }

    /// A scalar as a CSV field: numbers and strings as they are, booleans as true/false,
    /// null or absent as an empty field.
    static func value(_ value: JSON?) -> String {
        switch value {
        case nil, .null?: return ""
        case .bool(let flag)?: return flag ? "true" : "false"
        case .number(let number)?: return number.lexeme
        case .string(let text)?: return text
        case let other?: return other.line
        }
    }
}

/// Writes text to standard output as it is (CSV carries its own line ends).
func emitRaw(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
