/// What an accepted request answers, before its `id` is known to the encoder. Most answers
/// are fields that the server wraps as `{"id":..,"ok":true,...}`; the hot ones (`consume`,
/// `check`) are their figures as plain numbers, which the connection writes straight to the
/// RFC 8785 bytes of the answer line: neither the writer nor the connection builds a JSON tree.
public enum Answer: Sendable {
    case fields(JSONObject)
    case consume(Views.ConsumeFigures)
    case check(Views.CheckFigures)

    /// The RFC 8785 answer line (`ok:true` and `id` included) for the figure answers; nil for
    /// `.fields`, which the server serialises itself.
    public func line(id: JSON?) -> [UInt8]? {
        switch self {
        case .fields: nil
        case .consume(let f): f.line(id: id)
        case .check(let f): f.line(id: id)
        }
    }

    /// The answer's fields (without `id` and `ok`), parsed back for the figure answers.
    public var object: JSONObject {
        guard let line = line(id: nil) else {
            guard case .fields(let o) = self else { preconditionFailure("only fields have no line") }
            return o
        }
        guard case .object(var o)? = try? JSONParser.parse(line) else {
            preconditionFailure("an answer line is a JSON object")
        }
        o["ok"] = nil
        return o
    }
}

extension Answer: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .fields(JSONObject(elements.map { (key: $0.0, value: $0.1) }))
    }
}
