import ArgumentParser
import Foundation
import LedgerCore
import LedgerJSON
import LedgerProtocol

/// Why a flag's value was refused; ArgumentParser prints it after
/// "The value 'x' is invalid for '--flag <v>': ".
struct InputError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Parsers for flag values. Each takes the text as typed and returns the JSON to send.
enum Parse {
    /// A whole number (token amounts, limits, seqs). `1.5`, `1e3` and `1,000` are refused
    /// here rather than by the daemon, so the mistake is named with its flag.
    static func integer(_ text: String) throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let body = trimmed.hasPrefix("-") || trimmed.hasPrefix("+") ? trimmed.dropFirst() : Substring(trimmed)
        guard !body.isEmpty, body.allSatisfy({ ("0"..."9").contains($0) }) else {
            if trimmed.contains(".") || trimmed.lowercased().contains("e") {
                throw InputError("expected a whole number, not a decimal")
            }
            if trimmed.contains(",") || trimmed.contains("_") {
                throw InputError("write the number without separators (e.g. 1000000)")
            }
            throw InputError("expected a whole number")
        }
        guard let value = Int(trimmed) else { throw InputError("the number is too large") }
        return value
    }

    /// `50,75,90` → `[50, 75, 90]`.
    static func integerList(_ text: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        return try parts.map { part in
            do {
                return try integer(String(part))
            } catch {
                throw InputError("'\(part)' is not a whole number (write e.g. 50,75,90)")
            }
        }
    }

    /// A decimal multiplier such as `1.5`, sent as a JSON number exactly as written.
    static func decimal(_ text: String) throws -> JSON {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let isDigits = { (part: Substring) in !part.isEmpty && part.allSatisfy { ("0"..."9").contains($0) } }
        guard (1...2).contains(parts.count), parts.allSatisfy(isDigits) else {
            throw InputError("expected a non-negative decimal such as 1 or 1.5")
        }
        // JSON allows no leading zeros: `01.5` is sent as `1.5`.
        var whole = String(parts[0].drop { $0 == "0" })
        if whole.isEmpty { whole = "0" }
        return .number(JSONNumber(lexeme: parts.count == 2 ? whole + "." + parts[1] : whole))
    }

    /// `steps=50` → ("steps", 50); `resolution=1024x1024` → ("resolution", "1024x1024").
    static func param(_ text: String) throws -> JSONMember {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw InputError("expected key=value, e.g. steps=50 or resolution=1024x1024")
        }
        let key = String(text[..<equals])
        let value = String(text[text.index(after: equals)...])
        if let number = try? integer(value), !value.hasPrefix("+") {
            return (key: key, value: .int(number))
        }
        return (key: key, value: .string(value))
    }

    /// `resolution:1024x1024=1.5` → (param "resolution", value "1024x1024", multiplier 1.5).
    static func factor(_ text: String) throws -> Factor {
        guard let colon = text.firstIndex(of: ":"), let equals = text.lastIndex(of: "="),
            colon > text.startIndex, equals > text.index(after: colon)
        else {
            throw InputError("expected param:value=multiplier, e.g. resolution:1024x1024=1.5")
        }
        let multiplierText = String(text[text.index(after: equals)...])
        let multiplier: JSON
        do {
            multiplier = try decimal(multiplierText)
        } catch {
            throw InputError("the multiplier '\(multiplierText)' is not a decimal such as 1.5")
        }
        return Factor(
            param: String(text[..<colon]), value: String(text[text.index(after: colon)..<equals]),
            multiplier: multiplier)
    }

    /// Repeated `--types a,b --types c` → `[a, b, c]`; nil when none given.
    static func list(_ values: [String]) -> [String]? {
        let items = values.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty }
        return items.isEmpty ? nil : items
    }

    /// Repeated `--params k=v` → an object (a later key replaces an earlier one); nil when none.
    static func object(_ members: [JSONMember]) -> JSON? {
        guard !members.isEmpty else { return nil }
        var merged: [JSONMember] = []
        for member in members {
            if let index = merged.firstIndex(where: { $0.key == member.key }) {
                merged[index] = member
            } else {
                merged.append(member)
            }
        }
        return .object(JSONObject(merged))
    }
}

struct Factor {
    var param: String
    var value: String
    var multiplier: JSON

    /// Repeated factors → `{"resolution": {"1024x1024": 1.5, ...}, "quality": {...}}`.
    static func object(_ factors: [Factor]) -> JSON? {
        guard !factors.isEmpty else { return nil }
        var params: [(String, [JSONMember])] = []
        for factor in factors {
            let entry = (key: factor.value, value: factor.multiplier)
            if let index = params.firstIndex(where: { $0.0 == factor.param }) {
                params[index].1.removeAll { $0.key == factor.value }
                params[index].1.append(entry)
            } else {
                params.append((factor.param, [entry]))
            }
        }
        return .object(JSONObject(params.map { (key: $0.0, value: JSON.object(JSONObject($0.1))) }))
    }
}

// MARK: - Enumerations the protocol fixes (their one definition is in LedgerCore and LedgerProtocol)

extension BudgetAction: ExpressibleByArgument {}
extension PriceKind: ExpressibleByArgument {}
extension BonusReason: ExpressibleByArgument {}
extension ReportPeriod: ExpressibleByArgument {}
extension ReportDimension: ExpressibleByArgument {}

// MARK: - Option groups shared by several commands

/// `--input-tokens`, `--output-tokens`, `--params`: the usage a price is computed from.
struct UsageOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Input tokens of a text model.", valueName: "n"), transform: Parse.integer)
    var inputTokens: Int?

    @Option(help: ArgumentHelp("Output tokens of a text model.", valueName: "n"), transform: Parse.integer)
    var outputTokens: Int?

    @Option(
        name: .customLong("params"),
        help: ArgumentHelp(
            "A generation parameter, repeatable: key=value, sent as an integer when the value is one (steps=50, resolution=1024x1024, duration=7).",
            valueName: "key=value"),
        transform: Parse.param)
    var params: [JSONMember] = []

    func add(to fields: inout RequestFields) {
        fields.add("input_tokens", inputTokens)
        fields.add("output_tokens", outputTokens)
        fields.add("params", Parse.object(params))
    }
}
