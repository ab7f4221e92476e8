/// A model's price as stored in a `price_set` event: weights and factors in thousandths.
public struct PriceSpec: Sendable, Equatable {
    public var model: ID
    public var kind: PriceKind
    public var inputWeightMilli: Int64 = 1000
    public var outputWeightMilli: Int64 = 1000
    public var base: Int64 = 0
    /// param → value → multiplier in thousandths.
    public var factorsMilli: [String: [String: Int64]] = [:]
    /// 0 when steps add nothing.
    public var perSteps: Int64 = 0

    public init(model: ID, kind: PriceKind) {
        self.model = model
        self.kind = kind
    }
}
