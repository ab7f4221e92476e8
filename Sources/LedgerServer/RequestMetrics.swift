import CoreMetrics
import LedgerCore
import LedgerProtocol
import LedgerStore

/// The requests counter by `op` and `code`, one swift-metrics `Counter` per pair, made on first
/// use by `makeCounter` (the daemon's registry: `LedgerMetrics.DaemonMetrics`) and kept here so
/// that a batch costs one short lock, not a registry lookup per pair.
public final class RequestMetrics: Sendable {
    /// The `op` label of a line whose op could not be read.
    public static let unreadOp = "unread"
    /// The `code` label of a success.
    public static let okCode = "ok"

    private let makeCounter: @Sendable (_ op: String, _ code: String) -> Counter
    private let counters = Locked<[RequestTally.Key: Counter]>([:])

    public init(makeCounter: @escaping @Sendable (_ op: String, _ code: String) -> Counter) {
        self.makeCounter = makeCounter
    }

    /// Counts nothing: for tests and a daemon without `--metrics-listen`.
    public static let none = RequestMetrics { _, _ in Counter(label: "", factory: NOOPMetricsHandler.instance) }

    func record(_ tally: RequestTally) {
        guard !tally.counts.isEmpty else { return }
        let found: [(Counter, Int)] = counters.withLock { counters in
            tally.counts.map { key, count in
                if let counter = counters[key] { return (counter, count) }
                let counter = makeCounter(key.op?.rawValue ?? Self.unreadOp, key.code?.rawValue ?? Self.okCode)
                counters[key] = counter
                return (counter, count)
            }
        }
        for (counter, count) in found { counter.increment(by: Int64(count)) }
    }
}
