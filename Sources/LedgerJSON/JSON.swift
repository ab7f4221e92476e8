/// A JSON value as the ledger needs it: numbers keep their lexeme so that `100.0`, `1e2` and
/// `2^64` can be told apart from integers, and objects keep their members in order (duplicate
/// names are rejected by the parser).
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    public static func int(_ value: Int64) -> JSON { .number(JSONNumber(value)) }
    public static func int(_ value: Int) -> JSON { .number(JSONNumber(Int64(value))) }
    public static func int(_ value: UInt64) -> JSON { .number(JSONNumber(lexeme: String(value))) }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }
    public var numberValue: JSONNumber? {
        if case .number(let n) = self { return n }
        return nil
    }
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension JSON: CustomStringConvertible {
    public var description: String { CanonicalJSON.string(self) }
}
