public struct HoldPlacement: Sendable, Equatable {
    public var tags: UsageTags
    public var amount: Int64
    public var expiresAt: Instant
    public var draws: [Draw]
}
