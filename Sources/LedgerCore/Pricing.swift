import LedgerJSON

/// Pricing (PROTOCOL §7): exact arithmetic in thousandths, rounded up once.
public struct Usage: Sendable, Equatable {
    public var inputTokens: Int64?
    public var outputTokens: Int64?
    public var params: JSONObject?

    public init(inputTokens: Int64? = nil, outputTokens: Int64? = nil, params: JSONObject? = nil) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.params = params
    }

    public var isEmpty: Bool { inputTokens == nil && outputTokens == nil && params == nil }
}

public enum Pricing {
    public static let factorParams: Set<String> = ["resolution", "quality", "duration"]

    /// The band a duration in seconds falls in.
    public static func durationBand(seconds: Int64) -> String {
        if seconds < 5 { return "2-5" }
        if seconds < 10 { return "5-10" }
        return "10+"
    }

    /// Cost of `usage` at `price`, with a breakdown a person can read.
    public static func cost(_ usage: Usage, at price: PriceSpec) -> Result<
        (cost: Int64, breakdown: JSONObject), Rejection
    > {
        var breakdown = JSONObject()
        breakdown["model"] = .string(price.model.string)
        breakdown["kind"] = .string(price.kind.rawValue)
        switch price.kind {
        case .text:
            let input = Int128(usage.inputTokens ?? 0)
            let output = Int128(usage.outputTokens ?? 0)
            let milli = input * Int128(price.inputWeightMilli) + output * Int128(price.outputWeightMilli)
            let cost = (milli + 999) / 1000
            guard cost <= Int128(Amount.max) else { return .failure(.badRequest("cost above 2^53-1")) }
            breakdown["input_tokens"] = .int(usage.inputTokens ?? 0)
            breakdown["input_weight"] = .number(decimal(milli: price.inputWeightMilli))
            breakdown["output_tokens"] = .int(usage.outputTokens ?? 0)
            breakdown["output_weight"] = .number(decimal(milli: price.outputWeightMilli))
            breakdown["input_cost_milli"] = .int(Int64(input * Int128(price.inputWeightMilli)))
            breakdown["output_cost_milli"] = .int(Int64(output * Int128(price.outputWeightMilli)))
            return .success((Int64(cost), breakdown))
        case .image, .video, .audio:
            var numerator = Int128(price.base)
            var denominator: Int128 = 1
            var applied = JSONObject()
            let params = usage.params ?? JSONObject()
            for param in price.factorsMilli.keys.sorted() {
                guard let table = price.factorsMilli[param], let given = params[param] else { continue }
                let value: String
                switch given {
                case .string(let s): value = s
                case .number(let n) where param == "duration":
                    guard let secs = n.int64, secs >= 0 else {
                        return .failure(.badRequest("params.duration must be whole seconds"))
                    }
                    value = durationBand(seconds: secs)
                default:
                    return .failure(.badRequest("params.\(param) must be a string"))
                }
                guard let factor = table[value] else {
                    let known = table.keys.sorted().joined(separator: ", ")
                    return .failure(
                        .badRequest("no \(param) factor for \"\(value)\" on \(price.model) (known: \(known))"))
                }
                let (n, overflow) = numerator.multipliedReportingOverflow(by: Int128(factor))
                guard !overflow else { return .failure(.badRequest("cost above 2^53-1")) }
                numerator = n
                denominator *= 1000
                applied[param] = .object(["value": .string(value), "factor": .number(decimal(milli: factor))])
            }
            let scaled = (numerator + denominator - 1) / denominator
            var steps: Int64 = 0
            var stepCost: Int64 = 0
            if let s = params["steps"] {
                guard case .number(let n) = s, let v = n.int64, v >= 0 else {
                    return .failure(.badRequest("params.steps must be a non-negative integer"))
                }
                steps = v
                if price.perSteps > 0 { stepCost = v / price.perSteps }
            }
            let cost = scaled + Int128(stepCost)
            guard cost <= Int128(Amount.max) else { return .failure(.badRequest("cost above 2^53-1")) }
            breakdown["base"] = .int(price.base)
            breakdown["factors"] = .object(applied)
            breakdown["factored_cost"] = .int(Int64(scaled))
            breakdown["steps"] = .int(steps)
            breakdown["per_steps"] = .int(price.perSteps)
            breakdown["steps_cost"] = .int(stepCost)
            return .success((Int64(cost), breakdown))
        }
    }

    /// `1500` → `1.5`: thousandths as the shortest decimal.
    public static func decimal(milli: Int64) -> JSONNumber {
        let whole = milli / 1000
        var frac = milli % 1000
        if frac == 0 { return JSONNumber(whole) }
        var digits = 3
        while frac % 10 == 0 {
            frac /= 10
            digits -= 1
        }
        var fs = String(frac)
        while fs.count < digits { fs = "0" + fs }
        return JSONNumber(lexeme: "\(whole).\(fs)")
    }
}
