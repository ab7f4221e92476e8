import CoreMetrics

/// The writer's swift-metrics handles, recorded once per batch (never per event) on the writer
/// thread. The daemon builds them from its registry (`LedgerMetrics.DaemonMetrics`, where the
/// names live); `none` records nothing, for tests and a daemon without `--metrics-listen`.
public struct WriterMetrics: Sendable {
    /// Requests taken into one transaction.
    public var batchRequests: Recorder
    /// From the batch's first decision to its durable commit.
    public var commitLatency: CoreMetrics.Timer
    /// Requests still queued right after a batch was taken.
    public var queueRequests: Gauge
    /// Events appended, by requests and by the scheduler.
    public var eventsAppended: Counter

    public init(
        batchRequests: Recorder, commitLatency: CoreMetrics.Timer, queueRequests: Gauge, eventsAppended: Counter
    ) {
        self.batchRequests = batchRequests
        self.commitLatency = commitLatency
        self.queueRequests = queueRequests
        self.eventsAppended = eventsAppended
    }

    public static var none: WriterMetrics {
        let factory = NOOPMetricsHandler.instance
        return WriterMetrics(
            batchRequests: Recorder(label: "", factory: factory),
            commitLatency: CoreMetrics.Timer(label: "", factory: factory),
            queueRequests: Gauge(label: "", factory: factory), eventsAppended: Counter(label: "", factory: factory))
    }
}
