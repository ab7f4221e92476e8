import LedgerJSON
import Testing

@testable import LedgerCore
@testable import LedgerProtocol

/// PROTOCOL §7: exact arithmetic in thousandths, rounded up once; a cost above 2^53-1 is refused.
@Suite struct PricingTests {
    static func text(input: Int64, output: Int64) -> PriceSpec {
        var p = PriceSpec(model: ID("gpt")!, kind: .text)
        p.inputWeightMilli = input
        p.outputWeightMilli = output
        return p
    }

    static func media(
        _ kind: PriceKind = .image, base: Int64, perSteps: Int64 = 0, factors: [String: [String: Int64]] = [:]
    ) -> PriceSpec {
        var p = PriceSpec(model: ID("img")!, kind: kind)
        p.base = base
        p.perSteps = perSteps
        p.factorsMilli = factors
        return p
    }

    static func cost(_ usage: Usage, _ price: PriceSpec) -> Result<Int64, Rejection> {
        Pricing.cost(usage, at: price).map(\.cost)
    }

    @Test(
        arguments: [
            (0, 0, 0),
            (1, 0, 2),  // ceil(1.5)
            (2, 0, 3),
            (3, 0, 5),  // ceil(4.5)
            (0, 1, 3),
            (1, 1, 5),  // ceil(4.5)
            (3, 1, 8),  // ceil(7.5)
            (1000, 1000, 4500),
            (1001, 0, 1502),  // ceil(1501.5)
        ] as [(Int64, Int64, Int64)])
    func textCost_withWeights1point5And3_roundsUpOnce(input: Int64, output: Int64, expected: Int64) {
        #expect(
            Self.cost(Usage(inputTokens: input, outputTokens: output), Self.text(input: 1500, output: 3000))
                == .success(expected))
    }

    @Test func textCost_roundsTheSumNotEachPart() {
        // 1 × 0.5 + 1 × 0.5 = 1 exactly; rounding each part first would give 2.
        #expect(Self.cost(Usage(inputTokens: 1, outputTokens: 1), Self.text(input: 500, output: 500)) == .success(1))
        // 0.001 × 1 rounds up to 1.
        #expect(Self.cost(Usage(inputTokens: 1), Self.text(input: 1, output: 1)) == .success(1))
    }

    @Test func textCost_whenNoUsage_isZero() {
        #expect(Self.cost(Usage(), Self.text(input: 1000, output: 1000)) == .success(0))
    }

    /// The worked example of §7.
    @Test func imageCost_workedExample_costs17() {
        let price = Self.media(base: 10, perSteps: 25, factors: ["resolution": ["1024x1024": 1500]])
        let usage = Usage(params: ["resolution": .string("1024x1024"), "steps": .int(50)])
        #expect(Self.cost(usage, price) == .success(17))
    }

    @Test(
        arguments: [
            (49, 16),  // 15 + floor(49/25) = 15 + 1
            (24, 15),
            (0, 15),
            (75, 18),
        ] as [(Int64, Int64)])
    func imageCost_stepsAddFloorOfStepsOverPerSteps(steps: Int64, expected: Int64) {
        let price = Self.media(base: 10, perSteps: 25, factors: ["resolution": ["1024x1024": 1500]])
        let usage = Usage(params: ["resolution": .string("1024x1024"), "steps": .int(steps)])
        #expect(Self.cost(usage, price) == .success(expected))
    }

    @Test func imageCost_whenParamMissing_countsOneAndWithoutPerStepsStepsAddNothing() {
        let price = Self.media(base: 10, perSteps: 25, factors: ["resolution": ["1024x1024": 1500]])
        #expect(Self.cost(Usage(params: ["steps": .int(50)]), price) == .success(12))
        #expect(Self.cost(Usage(), price) == .success(10))
        let noSteps = Self.media(base: 10, factors: ["resolution": ["1024x1024": 1500]])
        #expect(Self.cost(Usage(params: ["steps": .int(5000)]), noSteps) == .success(10))
    }

    @Test func imageCost_multipliesFactorsExactlyAndRoundsUpOnce() {
        // 3 × 1.1 × 1.1 = 3.63 → 4; rounding after each factor would give ceil(ceil(3.3) × 1.1) = 5.
        let price = Self.media(base: 3, factors: ["resolution": ["a": 1100], "quality": ["b": 1100]])
        #expect(Self.cost(Usage(params: ["resolution": .string("a"), "quality": .string("b")]), price) == .success(4))
        // 10 × 0.75 = 7.5 → 8.
        let fast = Self.media(base: 10, factors: ["quality": ["fast": 750]])
        #expect(Self.cost(Usage(params: ["quality": .string("fast")]), fast) == .success(8))
    }

    @Test(
        arguments: [
            (0, "2-5"), (2, "2-5"), (4, "2-5"), (5, "5-10"), (9, "5-10"), (10, "10+"), (3600, "10+"),
        ] as [(Int64, String)])
    func durationBand_picksTheBandOfTheSeconds(seconds: Int64, band: String) {
        #expect(Pricing.durationBand(seconds: seconds) == band)
    }

    @Test(arguments: [(4, 50), (5, 75), (10, 100)] as [(Int64, Int64)])
    func videoCost_whenDurationInSeconds_usesItsBandFactor(seconds: Int64, expected: Int64) {
        let price = Self.media(.video, base: 50, factors: ["duration": ["2-5": 1000, "5-10": 1500, "10+": 2000]])
        #expect(Self.cost(Usage(params: ["duration": .int(seconds)]), price) == .success(expected))
        // A band given by name works too.
        let band = Pricing.durationBand(seconds: seconds)
        #expect(Self.cost(Usage(params: ["duration": .string(band)]), price) == .success(expected))
    }

    @Test(
        arguments: [
            ["resolution": .string("800x600")],
            ["quality": .string("ultra")],
            ["resolution": .int(1024)],
        ] as [JSONObject])
    func mediaCost_whenValueHasNoFactor_isBadRequest(params: JSONObject) {
        let price = Self.media(
            base: 10, factors: ["resolution": ["1024x1024": 1500], "quality": ["fast": 750]])
        #expect(Self.cost(Usage(params: params), price).failureValue?.code == .badRequest)
    }

    @Test func cost_whenAbove2p53Minus1_isBadRequest() {
        let max = Amount.max
        #expect(Self.cost(Usage(inputTokens: max), Self.text(input: 1000, output: 1000)) == .success(max))
        #expect(
            Self.cost(Usage(inputTokens: max, outputTokens: 1), Self.text(input: 1000, output: 1000)).failureValue?.code
                == .badRequest)
        #expect(
            Self.cost(Usage(inputTokens: max), Self.text(input: 1500, output: 1000)).failureValue?.code == .badRequest)
        #expect(
            Self.cost(Usage(inputTokens: max, outputTokens: max), Self.text(input: Amount.max, output: Amount.max))
                .failureValue?.code == .badRequest)
        #expect(Self.cost(Usage(), Self.media(base: max, factors: ["quality": ["x": 2000]])).successValue == max)
        let doubled = Usage(params: ["quality": .string("x")])
        #expect(
            Self.cost(doubled, Self.media(base: max, factors: ["quality": ["x": 2000]])).failureValue?.code
                == .badRequest)
        let steps = Usage(params: ["steps": .int(2)])
        #expect(Self.cost(steps, Self.media(base: max, perSteps: 1)).failureValue?.code == .badRequest)
    }

    @Test func decimal_writesThousandthsAsTheShortestDecimal() {
        #expect(Pricing.decimal(milli: 1500).lexeme == "1.5")
        #expect(Pricing.decimal(milli: 1000).lexeme == "1")
        #expect(Pricing.decimal(milli: 750).lexeme == "0.75")
        #expect(Pricing.decimal(milli: 1).lexeme == "0.001")
        #expect(Pricing.decimal(milli: 12_345).lexeme == "12.345")
        #expect(Pricing.decimal(milli: 0).lexeme == "0")
    }

    /// The default catalog reads through the same `price.set` rules and prices the §7 example.
    @Test func catalogEntry_readsAsAPriceSetRequest() throws {
        let entry = try JSONParser.parse(
            Array(
                #"{"model":"stable-diffusion","kind":"image","base":10,"per_steps":25,"factors":{"resolution":{"1024x1024":1.5}}}"#
                    .utf8))
        let spec = try RequestParser.priceSpec(from: try #require(entry.objectValue))
        #expect(spec.factorsMilli == ["resolution": ["1024x1024": 1500]])
        #expect(
            Self.cost(Usage(params: ["resolution": .string("1024x1024"), "steps": .int(50)]), spec) == .success(17))
    }
}

extension Result {
    var successValue: Success? { if case .success(let s) = self { s } else { nil } }
    var failureValue: Failure? { if case .failure(let f) = self { f } else { nil } }
}
