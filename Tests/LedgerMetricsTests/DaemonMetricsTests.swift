import LedgerMetrics
import Testing

/// The registry's exposition after recording through the swift-metrics handles: each daemon
/// has a registry of its own, and the scrape-time gauges come from the sample.
@Suite("Daemon metrics")
struct DaemonMetricsTests {
    static func text(_ metrics: DaemonMetrics, _ sample: MetricsSample = MetricsSample()) -> String {
        String(decoding: metrics.exposition(sample), as: UTF8.self)
    }

    static func lines(_ text: String) -> Set<Substring> { Set(text.split(separator: "\n")) }

    @Test func exposition_carriesTheSampleAsGauges_lagPerProjection() {
        let metrics = DaemonMetrics()
        var sample = MetricsSample()
        sample.headSeq = 100
        sample.projectionSeqs = ["daily": 100, "reports": 90, "ahead": 120]
        sample.connections = 3
        sample.subscribers = 2
        sample.bufferedInputBytes = 4096
        sample.mapUsedBytes = 1 << 20
        sample.mapSizeBytes = 1 << 30
        sample.mapMaxBytes = 1 << 40
        sample.integrityFailed = true
        sample.snapshot = (seq: 80, ageSeconds: 42)
        let lines = Self.lines(Self.text(metrics, sample))
        for expected in [
            "tokenledger_head_seq 100.0", #"tokenledger_projection_lag_events{projection="daily"} 0.0"#,
            #"tokenledger_projection_lag_events{projection="reports"} 10.0"#,
            #"tokenledger_projection_lag_events{projection="ahead"} 0.0"#, "tokenledger_connections 3.0",
            "tokenledger_subscribers 2.0", "tokenledger_buffered_input_bytes 4096.0",
            "tokenledger_map_used_bytes 1048576.0", "tokenledger_map_size_bytes 1073741824.0",
            "tokenledger_map_max_bytes 1099511627776.0", "tokenledger_integrity_failed 1.0",
            "tokenledger_snapshot_seq 80.0", "tokenledger_snapshot_age_seconds 42.0",
            "# TYPE tokenledger_head_seq gauge",
        ] {
            #expect(lines.contains(Substring(expected)), "\(expected) in \(lines.sorted())")
        }
    }

    @Test func handles_recordIntoTheirOwnRegistry_only() {
        let one = DaemonMetrics()
        let other = DaemonMetrics()
        one.eventsAppended.increment(by: 5)
        one.requestCounter(op: "consume", code: "ok").increment(by: 2)
        one.requestCounter(op: "consume", code: "ok").increment(by: 1)
        one.batchRequests.record(3)
        one.commitLatency.recordNanoseconds(1_500_000)
        let lines = Self.lines(Self.text(one))
        for expected in [
            "tokenledger_events_appended_total 5", #"tokenledger_requests_total{op="consume",code="ok"} 3"#,
            "tokenledger_writer_batch_requests_count 1", #"tokenledger_writer_batch_requests_bucket{le="4.0"} 1"#,
            #"tokenledger_writer_batch_requests_bucket{le="2.0"} 0"#, "tokenledger_writer_commit_seconds_count 1",
            #"tokenledger_writer_commit_seconds_bucket{le="0.002"} 1"#,
            #"tokenledger_writer_commit_seconds_bucket{le="0.001"} 0"#, "# TYPE tokenledger_requests_total counter",
            "# TYPE tokenledger_writer_commit_seconds histogram",
        ] {
            #expect(lines.contains(Substring(expected)), "\(expected) in \(lines.sorted())")
        }
        let untouched = Self.lines(Self.text(other))
        #expect(untouched.contains("tokenledger_events_appended_total 0"))
        #expect(!untouched.contains { $0.hasPrefix("tokenledger_requests_total{") })
    }

    @Test func exposition_withoutASnapshot_saysSo() {
        let lines = Self.lines(Self.text(DaemonMetrics(), MetricsSample()))
        #expect(lines.contains("tokenledger_snapshot_age_seconds -1.0"), "\(lines.sorted())")
        #expect(lines.contains("tokenledger_snapshot_seq 0.0"), "\(lines.sorted())")
    }
}
