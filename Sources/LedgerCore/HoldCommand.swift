public struct HoldCommand: Sendable, Equatable {
    public var tags: UsageTags
    public var amount: Int64?
    public var usage: Usage
    public var ttlSeconds: Int64
    public init(tags: UsageTags, amount: Int64?, usage: Usage, ttlSeconds: Int64) {
        self.tags = tags
        self.amount = amount
        self.usage = usage
        self.ttlSeconds = ttlSeconds
    }
}
