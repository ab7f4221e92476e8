/// One member of an object.
public typealias JSONMember = (key: String, value: JSON)

/// Object members in order. Lookup is linear: request and event objects are small.
public struct JSONObject: Sendable, Equatable {
    public var members: [(key: String, value: JSON)]

    public init() { members = [] }
    public init(_ members: [(key: String, value: JSON)]) { self.members = members }

    public subscript(key: String) -> JSON? {
        get {
            for m in members where sameBytes(m.key, key) { return m.value }
            return nil
        }
        set {
            if let i = members.firstIndex(where: { sameBytes($0.key, key) }) {
                if let newValue { members[i].value = newValue } else { members.remove(at: i) }
            } else if let newValue {
                members.append((key, newValue))
            }
        }
    }

    public var keys: [String] { members.map(\.key) }
    public var count: Int { members.count }

    /// Equal as parsed JSON: the same names with equal values, whatever the order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for m in lhs.members {
            guard let other = rhs[m.key], other == m.value else { return false }
        }
        return true
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self.members = elements.map { (key: $0.0, value: $0.1) }
    }
}
