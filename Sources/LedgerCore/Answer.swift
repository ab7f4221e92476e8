import LedgerJSON

/// What an accepted request answers, before its `id` is known to the encoder. Most answers
/// are fields that the server wraps as `{"id":..,"ok":true,...}`; the hot ones (`consume`,
/// `check`) are their figures as plain numbers, which the connection writes straight to the
/// RFC 8785 bytes of the answer line: neither the writer nor the connection builds a JSON tree.
public enum Answer: Sendable {
    case fields(JSONObject)
    case consume(Views.ConsumeFigures)
    case check(Views.CheckFigures)
    /// An `audit` page: the stored events' own RFC 8785 bytes, written into the line as they are.
    case events(EventsPage)

    /// The RFC 8785 answer line (`ok:true` and `id` included) for the figure answers; nil for
    /// `.fields`, which the server serialises itself.
    public func line(id: JSON?) -> [UInt8]? {
        switch self {
        case .fields: nil
        case .consume(let f): f.line(id: id)
        case .check(let f): f.line(id: id)
        case .events(let p): p.line(id: id)
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

/// A page of `audit`: events as stored (each already RFC 8785, the log's own bytes), and where
/// the next page starts (nil: the scan reached the head seen on arrival).
public struct EventsPage: Sendable {
    public var events: [[UInt8]]
    public var nextAfterSeq: UInt64?

    public init(events: [[UInt8]], nextAfterSeq: UInt64?) {
        self.events = events
        self.nextAfterSeq = nextAfterSeq
    }

    /// `{"events":[...],"id":..,"next_after_seq":N|null,"ok":true}`: the members in RFC 8785
    /// order, the events copied in without being parsed or encoded again.
    public func line(id: JSON?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(events.reduce(64) { $0 + $1.count + 1 })
        out.append(contentsOf: #"{"events":["#.utf8)
        for (k, e) in events.enumerated() {
            if k > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: e)
        }
        out.append(UInt8(ascii: "]"))
        if let id {
            out.append(contentsOf: #","id":"#.utf8)
            out.append(contentsOf: CanonicalJSON.bytes(id))
        }
        out.append(contentsOf: #","next_after_seq":"#.utf8)
        out.append(contentsOf: (nextAfterSeq.map { String($0) } ?? "null").utf8)
        out.append(contentsOf: #","ok":true}"#.utf8)
        return out
    }
}
