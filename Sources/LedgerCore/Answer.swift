/// What an accepted request answers, before its `id` is known to the encoder. Most answers
/// are fields that the server wraps as `{"id":..,"ok":true,...}`; the hot ones (`consume`,
/// `check`) come already written as the RFC 8785 bytes of the whole answer, so that neither
/// the writer nor the connection builds a JSON tree for them.
public enum Answer: Sendable {
    case fields(JSONObject)
    case canonical(CanonicalAnswer)

    /// The answer's fields (without `id` and `ok`), parsed back for the encoded form.
    public var object: JSONObject {
        switch self {
        case .fields(let o):
            return o
        case .canonical(let c):
            guard case .object(var o)? = try? JSONParser.parse(c.bytes) else {
                preconditionFailure("a canonical answer is a JSON object")
            }
            o["ok"] = nil
            return o
        }
    }
}

extension Answer: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .fields(JSONObject(elements.map { (key: $0.0, value: $0.1) }))
    }
}

/// `{..."ok":true...}` in RFC 8785 order without `id`; `idAt` is the offset where the `"id"`
/// member belongs: just after the last member whose key sorts before `"id"`, or 1 when none does.
/// `"ok"` always follows `idAt`, so an object never ends there.
public struct CanonicalAnswer: Sendable, Equatable {
    public let bytes: [UInt8]
    public let idAt: Int

    public init(bytes: [UInt8], idAt: Int) {
        precondition(bytes.first == UInt8(ascii: "{") && bytes.last == UInt8(ascii: "}"), "an answer is an object")
        precondition(idAt >= 1 && idAt < bytes.count - 1, "\"ok\" follows the id's place")
        self.bytes = bytes
        self.idAt = idAt
    }

    /// The answer line: `id` spliced in at its sorted place, which is exactly the RFC 8785
    /// form of the answer with `id`.
    public func line(id: JSON?) -> [UInt8] {
        guard let id else { return bytes }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + 48)
        out.append(contentsOf: bytes[..<idAt])
        if idAt != 1 { out.append(UInt8(ascii: ",")) }
        out.append(contentsOf: [0x22, 0x69, 0x64, 0x22, 0x3A])  // "id":
        CanonicalJSON.write(id, to: &out)
        if idAt == 1 { out.append(UInt8(ascii: ",")) }
        out.append(contentsOf: bytes[idAt...])
        return out
    }
}
