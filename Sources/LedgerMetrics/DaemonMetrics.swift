import CoreMetrics
import Prometheus

/// The daemon's metrics: a `PrometheusMetricsFactory` over a registry of its own (injectable,
/// never the process-global default, so that tests can hold several), the swift-metrics handles
/// the instrumented modules record into, and the scrape-time gauges.
///
/// Not `MetricsSystem.bootstrap`: nothing in the daemon records through the global system, and
/// a global can be bootstrapped once per process only.
public final class DaemonMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    /// Requests per writer batch: 1 to the writer's cap (4096).
    public let batchRequests: CoreMetrics.Recorder
    /// A batch from its first decision to its durable commit.
    public let commitLatency: CoreMetrics.Timer
    public let queueRequests: CoreMetrics.Gauge
    public let eventsAppended: CoreMetrics.Counter

    private let headSeq: CoreMetrics.Gauge
    private let connections: CoreMetrics.Gauge
    private let subscribers: CoreMetrics.Gauge
    private let bufferedInputBytes: CoreMetrics.Gauge
    private let mapUsedBytes: CoreMetrics.Gauge
    private let mapSizeBytes: CoreMetrics.Gauge
    private let mapMaxBytes: CoreMetrics.Gauge
    private let integrity: CoreMetrics.Gauge
    private let startupSeconds: CoreMetrics.Gauge
    private let snapshotAgeSeconds: CoreMetrics.Gauge
    private let snapshotSeq: CoreMetrics.Gauge

    /// Powers of two up to the writer's batch cap of 4096 requests.
    public static let batchRequestsBuckets: [Double] = (0...12).map { Double(1 << $0) }
    /// From a quarter of a millisecond (an fsync on a fast disk) to 2.5 s (a stalled disk).
    public static let commitLatencyBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500),
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets[MetricName.batchRequests] = Self.batchRequestsBuckets
        factory.durationHistogramBuckets[MetricName.commitLatency] = Self.commitLatencyBuckets
        self.registry = registry
        self.factory = factory
        batchRequests = CoreMetrics.Recorder(label: MetricName.batchRequests, factory: factory)
        commitLatency = CoreMetrics.Timer(label: MetricName.commitLatency, factory: factory)
        queueRequests = CoreMetrics.Gauge(label: MetricName.queueRequests, factory: factory)
        eventsAppended = CoreMetrics.Counter(label: MetricName.eventsAppended, factory: factory)
        headSeq = CoreMetrics.Gauge(label: MetricName.headSeq, factory: factory)
        connections = CoreMetrics.Gauge(label: MetricName.connections, factory: factory)
        subscribers = CoreMetrics.Gauge(label: MetricName.subscribers, factory: factory)
        bufferedInputBytes = CoreMetrics.Gauge(label: MetricName.bufferedInputBytes, factory: factory)
        mapUsedBytes = CoreMetrics.Gauge(label: MetricName.mapUsedBytes, factory: factory)
        mapSizeBytes = CoreMetrics.Gauge(label: MetricName.mapSizeBytes, factory: factory)
        mapMaxBytes = CoreMetrics.Gauge(label: MetricName.mapMaxBytes, factory: factory)
        integrity = CoreMetrics.Gauge(label: MetricName.integrity, factory: factory)
        startupSeconds = CoreMetrics.Gauge(label: MetricName.startupSeconds, factory: factory)
        snapshotAgeSeconds = CoreMetrics.Gauge(label: MetricName.snapshotAgeSeconds, factory: factory)
        snapshotSeq = CoreMetrics.Gauge(label: MetricName.snapshotSeq, factory: factory)
    }

    /// The counter of one op and outcome (`code` is `ok` or an error code). The registry hands
    /// back the same series for the same labels; callers cache it (`RequestMetrics`).
    public func requestCounter(op: String, code: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(
            label: MetricName.requests, dimensions: [(MetricName.opLabel, op), (MetricName.codeLabel, code)],
            factory: factory)
    }

    public func recordStartup(seconds: Double) {
        precondition(seconds >= 0)
        startupSeconds.record(seconds)
    }

    /// The registry in the Prometheus text format, after setting the scrape-time gauges from `sample`.
    public func exposition(_ sample: MetricsSample) -> [UInt8] {
        headSeq.record(Int64(clamping: sample.headSeq))
        for (name, seq) in sample.projectionSeqs {
            // The registry keeps one series per label set: this finds the same gauge each scrape.
            let lag = CoreMetrics.Gauge(
                label: MetricName.projectionLag, dimensions: [(MetricName.projectionLabel, name)], factory: factory)
            lag.record(Int64(clamping: sample.headSeq > seq ? sample.headSeq - seq : 0))
        }
        connections.record(sample.connections)
        subscribers.record(sample.subscribers)
        bufferedInputBytes.record(sample.bufferedInputBytes)
        mapUsedBytes.record(sample.mapUsedBytes)
        mapSizeBytes.record(sample.mapSizeBytes)
        mapMaxBytes.record(sample.mapMaxBytes)
        integrity.record(sample.integrityFailed ? 1 : 0)
        snapshotAgeSeconds.record(sample.snapshot?.ageSeconds ?? -1)
        snapshotSeq.record(Int64(clamping: sample.snapshot?.seq ?? 0))
        return registry.emitToBuffer()
    }
}
