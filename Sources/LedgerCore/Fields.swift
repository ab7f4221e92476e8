import LedgerJSON

/// Reads the members of a JSON object by name with the protocol's typing rules, remembering
/// which names were read so that anything left over can be refused as an unknown field.
/// Used for requests (errors are `bad_request`) and for events read back from the log.
public struct Fields {
    public let object: JSONObject
    private var used: [String] = []

    public init(_ object: JSONObject) { self.object = object }

    public func has(_ name: String) -> Bool { object[name] != nil }

    /// The first member that nobody read, if any.
    public func firstUnknown() -> String? {
        for m in object.members where !used.contains(where: { sameBytes($0, m.key) }) {
            return m.key
        }
        return nil
    }

    public func rejectUnknown() throws(Rejection) {
        if let name = firstUnknown() { throw .badRequest("unknown field \"\(name)\"") }
    }

    public mutating func take(_ name: String) -> JSON? {
        used.append(name)
        return object[name]
    }

    public mutating func markUsed(_ name: String) { used.append(name) }

    // MARK: typed readers

    public mutating func id(_ name: String) throws(Rejection) -> ID {
        guard let v = try optionalID(name) else { throw .badRequest("missing field \"\(name)\"") }
        return v
    }

    public mutating func optionalID(_ name: String) throws(Rejection) -> ID? {
        guard let v = take(name) else { return nil }
        guard case .string(let s) = v else { throw .badRequest("\"\(name)\" must be a string") }
        guard let id = ID(s) else {
            throw .badRequest("\"\(name)\" must be 1..128 bytes of UTF-8 without control characters")
        }
        return id
    }

    public mutating func string(_ name: String) throws(Rejection) -> String {
        guard let v = try optionalString(name) else { throw .badRequest("missing field \"\(name)\"") }
        return v
    }

    public mutating func optionalString(_ name: String) throws(Rejection) -> String? {
        guard let v = take(name) else { return nil }
        guard case .string(let s) = v else { throw .badRequest("\"\(name)\" must be a string") }
        return s
    }

    /// A token amount: an integer 0..2^53-1, or -1 when `unlimitedAllowed`.
    public mutating func amount(_ name: String, unlimitedAllowed: Bool = false) throws(Rejection) -> Int64 {
        guard let v = try optionalAmount(name, unlimitedAllowed: unlimitedAllowed) else {
            throw .badRequest("missing field \"\(name)\"")
        }
        return v
    }

    public mutating func optionalAmount(_ name: String, unlimitedAllowed: Bool = false) throws(Rejection) -> Int64? {
        guard let v = take(name) else { return nil }
        return try Fields.amount(v, name: name, unlimitedAllowed: unlimitedAllowed)
    }

    public static func amount(_ v: JSON, name: String, unlimitedAllowed: Bool) throws(Rejection) -> Int64 {
        let range = unlimitedAllowed ? "-1 (unlimited) or an integer 0..2^53-1" : "an integer 0..2^53-1"
        guard case .number(let n) = v, n.isIntegerLexeme else { throw .badRequest("\"\(name)\" must be \(range)") }
        guard let x = n.int64, x <= Amount.max, x >= 0 || (unlimitedAllowed && x == -1) else {
            throw .badRequest("\"\(name)\" must be \(range)")
        }
        return x
    }

    /// Any integer in `range` (seconds, percents, seq numbers, limits).
    public mutating func optionalInt(_ name: String, in range: ClosedRange<Int64>) throws(Rejection) -> Int64? {
        guard let v = take(name) else { return nil }
        guard case .number(let n) = v, let x = n.int64, range.contains(x) else {
            throw .badRequest("\"\(name)\" must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return x
    }

    public mutating func int(_ name: String, in range: ClosedRange<Int64>) throws(Rejection) -> Int64 {
        guard let v = try optionalInt(name, in: range) else { throw .badRequest("missing field \"\(name)\"") }
        return v
    }

    public mutating func optionalSeq(_ name: String) throws(Rejection) -> UInt64? {
        guard let v = try optionalInt(name, in: 0...Amount.max) else { return nil }
        return UInt64(v)
    }

    public mutating func seq(_ name: String) throws(Rejection) -> UInt64 {
        guard let v = try optionalSeq(name) else { throw .badRequest("missing field \"\(name)\"") }
        return v
    }

    public mutating func optionalBool(_ name: String) throws(Rejection) -> Bool? {
        guard let v = take(name) else { return nil }
        guard case .bool(let b) = v else { throw .badRequest("\"\(name)\" must be true or false") }
        return b
    }

    public mutating func bool(_ name: String) throws(Rejection) -> Bool {
        guard let v = try optionalBool(name) else { throw .badRequest("missing field \"\(name)\"") }
        return v
    }

    public mutating func optionalInstant(_ name: String) throws(Rejection) -> Instant? {
        guard let s = try optionalString(name) else { return nil }
        guard s.utf8.count == 24, s.hasSuffix("Z"), let t = Instant(rfc3339: s) else {
            throw .badRequest("\"\(name)\" must be an RFC 3339 time like 2026-11-21T14:32:05.123Z")
        }
        return t
    }

    public mutating func instant(_ name: String) throws(Rejection) -> Instant {
        guard let v = try optionalInstant(name) else { throw .badRequest("missing field \"\(name)\"") }
        return v
    }

    public mutating func optionalDay(_ name: String) throws(Rejection) -> LocalDay? {
        guard let s = try optionalString(name) else { return nil }
        guard let d = LocalDay(string: s) else { throw .badRequest("\"\(name)\" must be a day like 2026-11-21") }
        return d
    }

    public mutating func day(_ name: String) throws(Rejection) -> LocalDay {
        guard let v = try optionalDay(name) else { throw .badRequest("missing field \"\(name)\"") }
        return v
    }

    public mutating func optionalEnum<E: RawRepresentable>(_ name: String, _: E.Type) throws(Rejection) -> E?
    where E.RawValue == String, E: CaseIterable {
        guard let s = try optionalString(name) else { return nil }
        guard let e = E(rawValue: s) else {
            let allowed = E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw .badRequest("\"\(name)\" must be one of \(allowed)")
        }
        return e
    }

    public mutating func enumValue<E: RawRepresentable>(_ name: String, _ t: E.Type) throws(Rejection) -> E
    where E.RawValue == String, E: CaseIterable {
        guard let v = try optionalEnum(name, t) else { throw .badRequest("missing field \"\(name)\"") }
        return v
    }

    public mutating func optionalObject(_ name: String) throws(Rejection) -> JSONObject? {
        guard let v = take(name) else { return nil }
        guard case .object(let o) = v else { throw .badRequest("\"\(name)\" must be an object") }
        return o
    }

    public mutating func optionalArray(_ name: String) throws(Rejection) -> [JSON]? {
        guard let v = take(name) else { return nil }
        guard case .array(let a) = v else { throw .badRequest("\"\(name)\" must be an array") }
        return a
    }
}
