public struct HoldCommitment: Sendable, Equatable {
    public var holdSeq: UInt64
    public var tags: UsageTags
    public var inputTokens: Int64?
    public var outputTokens: Int64?
    public var cost: Int64
    public var day: LocalDay
    public var draws: [Draw]
    public var overdraft: Int64
    public var released: Int64
}
