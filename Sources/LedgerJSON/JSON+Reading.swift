/// Reading a value without pattern matching: what a client (the CLI, a test) does with an
/// answer. Each is `nil` when the value is of another kind.
extension JSON {
    /// The member named `key` of an object; `nil` when absent or when this is not an object.
    public subscript(key: String) -> JSON? {
        guard case .object(let o) = self else { return nil }
        return o[key]
    }

    /// The element at `index` of an array; `nil` when out of range or not an array.
    public subscript(index: Int) -> JSON? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    /// An integer that fits `Int` (`100.0` and `1e2` are not integers).
    public var int: Int? { numberValue?.int64.flatMap { Int(exactly: $0) } }

    public var double: Double? { numberValue.flatMap { Double($0.lexeme) } }

    public var string: String? { stringValue }

    public var bool: Bool? { boolValue }

    public var array: [JSON]? { arrayValue }

    public var isObject: Bool { objectValue != nil }

    /// The members of an object in order; `nil` for anything else.
    public var members: [JSONMember]? { objectValue?.members }

    /// Neither an array nor an object.
    public var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }

    /// Keys of an object in order; empty for anything else.
    public var keys: [String] { objectValue?.keys ?? [] }

    /// `true` when this object has a member named `key` (even `null`).
    public func has(_ key: String) -> Bool { self[key] != nil }

    /// Parses one JSON text (surrounding whitespace allowed), as `JSONParser` does.
    public static func parse(_ text: String) throws(JSONParseError) -> JSON {
        try JSONParser.parse(Array(text.utf8))
    }
}
