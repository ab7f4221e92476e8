import LedgerJSON

// Test conveniences on the one JSON type (LedgerJSON): literals, so that a test writes a
// request as `["team": "t", "amount": 5]`, and small builders. Equality is LedgerJSON's: objects
// compare as maps (member order ignored), numbers by their lexeme.

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral,
    ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(JSONObject(elements.map { (key: $0.0, value: $0.1) }))
    }
    public init(nilLiteral: ()) { self = .null }
    /// `1.5` → `1.5`, `100.0` → `100.0`: the shortest text that reads back as the same Double.
    public init(floatLiteral value: Double) { self = .number(JSONNumber(lexeme: String(value))) }
}

extension JSON {
    public init(_ value: Int) { self = .int(value) }
    public init(_ value: String) { self = .string(value) }
    public init(_ values: [String]) { self = .array(values.map { .string($0) }) }

    /// A number from its exact text; the text is not checked (tests send malformed numbers on
    /// purpose, such as `100.0` or `2^64`).
    public static func raw(number text: String) -> JSON { .number(JSONNumber(lexeme: text)) }

    /// A request object: `{"op":op, ...fields}`.
    public static func request(_ op: String, _ fields: KeyValuePairs<String, JSON> = [:]) -> JSON {
        var o = JSONObject([(key: "op", value: .string(op))])
        for (key, value) in fields { o.members.append((key: key, value: value)) }
        return .object(o)
    }

    /// A copy of this object with `key` set (replaced in place or appended).
    public func setting(_ key: String, _ value: JSON) -> JSON {
        guard case .object(var o) = self else { return self }
        o[key] = value
        return .object(o)
    }

    /// A copy of this object without `key`.
    public func removing(_ key: String) -> JSON {
        guard case .object(var o) = self else { return self }
        o[key] = nil
        return .object(o)
    }

    /// Parses one JSON text given as bytes.
    public static func parse(bytes: [UInt8]) throws -> JSON { try JSONParser.parse(bytes) }
}
