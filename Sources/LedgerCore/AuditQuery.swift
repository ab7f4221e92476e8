/// `audit`'s filters and page (PROTOCOL §5).
public struct AuditQuery: Sendable, Equatable {
    public var from: Instant?
    public var to: Instant?
    public var team: ID?
    public var pod: ID?
    public var model: ID?
    public var task: ID?
    public var user: ID?
    public var types: Set<String>?
    public var afterSeq: UInt64 = 0
    public var limit: Int = 1000
    public static let limitMax = 10_000
    public init() {}
}
