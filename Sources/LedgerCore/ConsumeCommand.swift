/// A usage to book or check: who, what, and its usage or given cost.
public struct ConsumeCommand: Sendable, Equatable {
    public var tags: UsageTags
    public var usage: Usage
    public var cost: Int64?
    public var record: Bool
    public init(tags: UsageTags, usage: Usage, cost: Int64?, record: Bool) {
        self.tags = tags
        self.usage = usage
        self.cost = cost
        self.record = record
    }
}
