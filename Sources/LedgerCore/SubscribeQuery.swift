/// `subscribe` (PROTOCOL §5): where the stream starts and what it keeps.
public struct SubscribeQuery: Sendable, Equatable {
    public var afterSeq: UInt64 = 0
    public var team: ID?
    public var types: Set<String>?
    public init() {}
}
