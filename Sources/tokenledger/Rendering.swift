import Foundation
import LedgerJSON
import Rainbow

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One piece of human output: plain text (which sets the width) and an optional colour.
struct Cell {
    enum Tone { case plain, good, warn, bad, dim, strong }

    var text: String
    var tone: Tone = .plain
    var numeric = false

    init(_ text: String, tone: Tone = .plain, numeric: Bool = false) {
        self.text = text
        self.tone = tone
        self.numeric = numeric
    }

    /// Width in terminal columns (one per character is close enough for ids and figures).
    var width: Int { text.count }
}

/// Turns response values into aligned human text: key/value blocks and tables. Every
/// command's human output goes through here; colour is added after widths are measured, so
/// escape codes never break alignment.
struct Renderer {
    var colour: Bool

    /// Colour only on a terminal, and never when `NO_COLOR` is set (https://no-color.org).
    static func forStandardOutput() -> Renderer {
        let noColour = ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false
        return Renderer(colour: isatty(STDOUT_FILENO) != 0 && !noColour)
    }

    static func forStandardError() -> Renderer {
        let noColour = ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false
        return Renderer(colour: isatty(STDERR_FILENO) != 0 && !noColour)
    }

    func paint(_ cell: Cell) -> String { paint(cell.text, cell.tone) }

    func paint(_ text: String, _ tone: Cell.Tone) -> String {
        guard colour else { return text }
        switch tone {
        case .plain: return text
        case .good: return text.green
        case .warn: return text.yellow
        case .bad: return text.red
        case .dim: return text.dim
        case .strong: return text.bold
        }
    }

    // MARK: - Layouts

    /// `label  value` lines with the values in one column.
    func keyValueLines(_ rows: [(String, Cell)], indent: Int = 0, labelWidth: Int? = nil) -> [String] {
        let width = max(labelWidth ?? 0, rows.map { $0.0.count }.max() ?? 0)
        let pad = String(repeating: " ", count: indent)
        return rows.map { label, value in
            pad + label + ":" + String(repeating: " ", count: width - label.count + 1) + paint(value)
        }
    }

    /// A table with a header row; numeric columns are right-aligned.
    func tableLines(headers: [String], rows: [[Cell]], indent: Int = 0) -> [String] {
        let columns = headers.count
        var widths = headers.map { $0.count }
        // A column is right-aligned when it holds figures and nothing else but "-".
        var hasFigure = [Bool](repeating: false, count: columns)
        var hasText = [Bool](repeating: false, count: columns)
        for row in rows {
            assert(row.count == columns, "every row has one cell per header")
            for (index, cell) in row.enumerated() where index < columns {
                widths[index] = max(widths[index], cell.width)
                if cell.numeric { hasFigure[index] = true } else if cell.text != "-" { hasText[index] = true }
            }
        }
        let numeric = (0..<columns).map { hasFigure[$0] && !hasText[$0] }
        let pad = String(repeating: " ", count: indent)
        func line(_ cells: [Cell]) -> String {
            var parts: [String] = []
            for (index, cell) in cells.enumerated() {
                let fill = String(repeating: " ", count: widths[index] - cell.width)
                let isLast = index == cells.count - 1
                if numeric[index] {
                    parts.append(fill + paint(cell))
                } else {
                    parts.append(paint(cell) + (isLast ? "" : fill))
                }
            }
            return pad + parts.joined(separator: "  ")
        }
        let header = line(headers.map { Cell($0.uppercased(), tone: .strong) })
        return [header] + rows.map(line)
    }

    /// Every field of a response object: scalars as aligned `key: value`, nested objects
    /// indented under their key, arrays of flat objects as tables, other arrays as lists.
    func objectLines(_ members: [JSONMember], indent: Int = 0) -> [String] {
        var lines: [String] = []
        var pending: [(String, Cell)] = []
        // Scalars are aligned among themselves; a nested block ends the run.
        let labelWidth = members.map { $0.key.count }.max() ?? 0
        func flush() {
            guard !pending.isEmpty else { return }
            lines += keyValueLines(pending, indent: indent, labelWidth: labelWidth)
            pending = []
        }
        let pad = String(repeating: " ", count: indent)
        for member in members {
            let key = member.key
            switch member.value {
            case .object(let nested):
                flush()
                if nested.members.isEmpty {
                    pending.append((key, Cell("{}", tone: .dim)))
                } else {
                    lines.append(pad + key + ":")
                    lines += objectLines(nested.members, indent: indent + 2)
                }
            case .array(let elements):
                if elements.isEmpty {
                    pending.append((key, Cell("none", tone: .dim)))
                } else if elements.allSatisfy(\.isScalar) {
                    let text = elements.map { scalarCell(key: key, $0).text }.joined(separator: ", ")
                    pending.append((key, Cell(text, tone: key == "warnings" ? .warn : .plain)))
                } else if let table = flatTable(elements) {
                    flush()
                    lines.append(pad + key + ":")
                    lines += tableLines(headers: table.headers, rows: table.rows, indent: indent + 2)
                } else {
                    flush()
                    lines.append(pad + key + ":")
                    for (index, element) in elements.enumerated() {
                        if let nested = element.members {
                            lines.append(pad + "  [\(index)]")
                            lines += objectLines(nested, indent: indent + 4)
                        } else {
                            lines.append(pad + "  [\(index)] " + element.line)
                        }
                    }
                }
            default:
                pending.append((key, scalarCell(key: key, member.value)))
            }
        }
        flush()
        return lines
    }

    /// Columns (first-seen order) and cells when every element is an object of scalars;
    /// nested values inside such objects are shown as compact JSON.
    func flatTable(_ elements: [JSON]) -> (headers: [String], rows: [[Cell]])? {
        var headers: [String] = []
        for element in elements {
            guard let members = element.members else { return nil }
            for member in members {
                if case .array(let inner) = member.value, inner.contains(where: { !$0.isScalar }) { return nil }
                if case .object = member.value { return nil }
                if !headers.contains(member.key) { headers.append(member.key) }
            }
        }
        let rows = elements.map { element in
            headers.map { header in element[header].map { scalarCell(key: header, $0) } ?? Cell("-", tone: .dim) }
        }
        return (headers, rows)
    }

    // MARK: - Values

    /// RequestFields whose `-1` means "no limit".
    static let limitKeys: Set<String> = [
        "daily_limit", "monthly_budget", "budget", "allocation_left", "available", "remaining",
        "monthly_tokens", "max_pods", "max_members",
    ]

    /// RequestFields that name an event or hold; shown bare so they can be pasted into `--seq`.
    static func isIdentifier(_ key: String) -> Bool {
        key == "seq" || key == "hold" || key.hasSuffix("_seq")
    }

    func scalarCell(key: String, _ value: JSON) -> Cell {
        switch value {
        case .null:
            return Cell(key == "expires_at" ? "never" : "-", tone: .dim)
        case .bool(let flag):
            switch key {
            case "allowed": return Cell(String(flag), tone: flag ? .good : .bad)
            case "paused", "duplicate": return Cell(String(flag), tone: flag ? .warn : .plain)
            default: return Cell(String(flag))
            }
        case .number(let number):
            let text = number.lexeme
            if Self.isIdentifier(key) { return Cell(text, numeric: true) }
            if text == "-1" && Self.limitKeys.contains(key) { return Cell("unlimited", numeric: true) }
            return Cell(Self.grouped(text), numeric: true)
        case .string(let text):
            switch key {
            case "status": return Cell(text, tone: Self.tone(status: text))
            case "reason" where text.hasSuffix("_exceeded") || text.hasPrefix("insufficient") || text == "plan_limit":
                return Cell(text, tone: .bad)
            default: return Cell(text)
            }
        case .array, .object:
            return Cell(value.line)
        }
    }

    static func tone(status: String) -> Cell.Tone {
        switch status {
        case "green": return .good
        case "yellow": return .warn
        case "red": return .bad
        default: return .plain
        }
    }

    /// `1234567` → `1,234,567`; decimals keep their fraction (`12345.5` → `12,345.5`).
    static func grouped(_ number: String) -> String {
        var text = Substring(number)
        var sign = ""
        if text.hasPrefix("-") {
            sign = "-"
            text = text.dropFirst()
        }
        let firstNonDigit = text.firstIndex { !("0"..."9").contains($0) } ?? text.endIndex
        let whole = text[..<firstNonDigit]
        let rest = text[firstNonDigit...]
        guard whole.count > 3, !rest.contains("e"), !rest.contains("E") else { return number }
        var out = ""
        for (index, digit) in whole.enumerated() {
            if index > 0 && (whole.count - index) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return sign + out + rest
    }

    static func grouped(_ number: Int) -> String { grouped(String(number)) }

    /// A figure for human text: `-1` on a limit reads "unlimited".
    static func amount(_ value: JSON?, limit: Bool = false) -> String {
        guard let value else { return "-" }
        if limit, value.int == -1 { return "unlimited" }
        if case .number(let number) = value { return grouped(number.lexeme) }
        if value.isNull { return "-" }
        return value.string ?? value.line
    }
}

/// Writes lines to standard output in one unbuffered write, so they never reorder with
/// lines written later through `FileHandle` (as `tail` does).
func emit(_ lines: [String]) {
    guard !lines.isEmpty else { return }
    FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
}

/// Writes to standard error (unbuffered, so it interleaves correctly with stdout on a terminal).
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
