/// What the daemon reads at scrape time, right before the registry is emitted: values that are
/// cheap to read then and would cost something on every request if pushed (head, lag,
/// connections, map), so the hot paths never touch them.
public struct MetricsSample: Sendable {
    public var headSeq: UInt64 = 0
    /// Each read model's name and the seq it has folded up to.
    public var projectionSeqs: [String: UInt64] = [:]
    public var connections = 0
    public var subscribers = 0
    public var bufferedInputBytes = 0
    public var mapUsedBytes = 0
    public var mapSizeBytes = 0
    public var mapMaxBytes = 0
    public var integrityFailed = false
    /// The newest snapshot's seq and age in seconds; nil when none is stored.
    public var snapshot: (seq: UInt64, ageSeconds: Int64)?

    public init() {}
}
