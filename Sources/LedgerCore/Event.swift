/// An event with its place in the log.
public struct Event: Sendable, Equatable {
    public static let version: Int64 = 1

    public var seq: UInt64
    public var ts: Instant
    public var key: String?
    public var body: EventBody

    public init(seq: UInt64, ts: Instant, key: String? = nil, body: EventBody) {
        self.seq = seq
        self.ts = ts
        self.key = key
        self.body = body
    }
}
