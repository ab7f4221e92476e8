import LedgerJSON

public struct Consumption: Sendable, Equatable {
    public var tags: UsageTags
    public var inputTokens: Int64?
    public var outputTokens: Int64?
    public var params: JSONObject?
    public var cost: Int64
    public var day: LocalDay
    public var draws: [Draw]
    public var overdraft: Int64
    public var record: Bool
    public init(
        tags: UsageTags, inputTokens: Int64?, outputTokens: Int64?, params: JSONObject?, cost: Int64,
        day: LocalDay, draws: [Draw], overdraft: Int64, record: Bool
    ) {
        self.tags = tags
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.params = params
        self.cost = cost
        self.day = day
        self.draws = draws
        self.overdraft = overdraft
        self.record = record
    }
}
