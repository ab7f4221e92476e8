/// A log-linear latency histogram in nanoseconds (the HdrHistogram idea, small): values below `2^subBits` have a
/// bucket each; above, every power-of-two range is split into `2^(subBits-1)` equal buckets, so a recorded value is
/// off by less than 1/2^(subBits-1) of itself (under 1.6% with 7 bits). Not thread-safe: one per thread, then merged.
struct Histogram {
    static let subBits = 7
    static let subCount = 1 << subBits            // 128
    static let halfCount = subCount / 2           // 64 buckets per power of two above the linear range
    static let bucketCount = subCount + (64 - subBits) * halfCount

    private(set) var counts = [UInt64](repeating: 0, count: Histogram.bucketCount)
    private(set) var total: UInt64 = 0
    private(set) var sum: Double = 0
    private(set) var maxValue: UInt64 = 0
    private(set) var minValue: UInt64 = .max

    static func index(of value: UInt64) -> Int {
        if value < UInt64(subCount) { return Int(value) }
        let msb = 63 - value.leadingZeroBitCount                 // >= subBits
        let shift = msb - (subBits - 1)                          // keep subBits significant bits
        let top = Int(value >> UInt64(shift))                    // in [halfCount*2/2 .. subCount)
        return subCount + (shift - 1) * halfCount + (top - halfCount)
    }

    /// The highest value that lands in bucket `i` (reporting the upper edge never flatters the figure).
    static func upperEdge(of i: Int) -> UInt64 {
        if i < subCount { return UInt64(i) }
        let j = i - subCount
        let shift = j / halfCount + 1
        let top = UInt64(j % halfCount + halfCount)
        return ((top + 1) << UInt64(shift)) - 1
    }

    mutating func record(_ value: UInt64) {
        counts[Self.index(of: value)] += 1
        total += 1
        sum += Double(value)
        if value > maxValue { maxValue = value }
        if value < minValue { minValue = value }
    }

    mutating func merge(_ other: Histogram) {
        for i in 0..<counts.count { counts[i] += other.counts[i] }
        total += other.total
        sum += other.sum
        maxValue = max(maxValue, other.maxValue)
        minValue = min(minValue, other.minValue)
    }

    /// The value at quantile `q` (0...1): the upper edge of the bucket holding the ceil(q·n)-th value, capped at max.
    func value(atQuantile q: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        let rank = max(1, UInt64((q * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= rank { return min(Self.upperEdge(of: i), maxValue) }
        }
        return maxValue
    }

    var mean: Double { total == 0 ? 0 : sum / Double(total) }
}
