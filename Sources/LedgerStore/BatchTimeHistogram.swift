import Foundation

/// Writer batch times (decide + commit) in log-spaced buckets, 8 per doubling from 0.01 ms, for
/// the snapshot stall figure: the same quantiles inside and outside snapshot writes show what a
/// snapshot adds beyond the disk's own commit latency. Bucket error under 9%.
public struct BatchTimeHistogram: Sendable {
    static let bucketsPerDoubling = 8.0
    static let floorMs = 0.01
    private var counts = [Int](repeating: 0, count: 8 * 24)
    public private(set) var count = 0
    public private(set) var maxMs = 0.0

    public init() {}

    public mutating func record(ms: Double) {
        let i = ms <= Self.floorMs ? 0 : Int(log2(ms / Self.floorMs) * Self.bucketsPerDoubling) + 1
        counts[min(max(i, 0), counts.count - 1)] += 1
        count += 1
        maxMs = max(maxMs, ms)
    }

    /// The upper edge of the bucket holding quantile `q` (0...1); 0 when empty.
    public func quantileMs(_ q: Double) -> Double {
        precondition(q >= 0 && q <= 1)
        guard count > 0 else { return 0 }
        let rank = max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (i, n) in counts.enumerated() {
            seen += n
            if seen >= rank {
                return i == 0 ? Self.floorMs : min(maxMs, Self.floorMs * pow2(Double(i) / Self.bucketsPerDoubling))
            }
        }
        return maxMs
    }

    private func pow2(_ x: Double) -> Double { exp2(x) }
}
