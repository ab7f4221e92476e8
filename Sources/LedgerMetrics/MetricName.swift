/// Every metric the daemon exports, in one place: the README's "Metrics" table and
/// `ops/prometheus/alerts.yml` use these names. Counters end in `_total`, units come last
/// (`_seconds`, `_bytes`), as Prometheus' naming guide asks.
public enum MetricName {
    /// Counter, labels `op` and `code` (`ok` for a success, else the error code).
    public static let requests = "tokenledger_requests_total"
    /// Counter: events appended to the log (by requests and by the scheduler).
    public static let eventsAppended = "tokenledger_events_appended_total"
    /// Histogram: requests per writer batch (one transaction, one fsync).
    public static let batchRequests = "tokenledger_writer_batch_requests"
    /// Histogram (seconds): a batch from its first decision to its durable commit.
    public static let commitLatency = "tokenledger_writer_commit_seconds"
    /// Gauge: requests waiting for the writer, sampled after each batch is taken.
    public static let queueRequests = "tokenledger_writer_queue_requests"
    /// Gauge: the seq of the last committed event.
    public static let headSeq = "tokenledger_head_seq"
    /// Gauge, label `projection`: events the read model has not folded yet.
    public static let projectionLag = "tokenledger_projection_lag_events"
    /// Gauge: open client connections on the Unix socket.
    public static let connections = "tokenledger_connections"
    /// Gauge: live `subscribe` streams.
    public static let subscribers = "tokenledger_subscribers"
    /// Gauge: request bytes buffered across all connections.
    public static let bufferedInputBytes = "tokenledger_buffered_input_bytes"
    /// Gauge: bytes of the log's LMDB map in use.
    public static let mapUsedBytes = "tokenledger_map_used_bytes"
    /// Gauge: the log's current LMDB map size (it grows online when full).
    public static let mapSizeBytes = "tokenledger_map_size_bytes"
    /// Gauge: the most the map may grow to (`--max-map-size-mib`); past it writes fail.
    public static let mapMaxBytes = "tokenledger_map_max_bytes"
    /// Gauge: 1 while the log fails its hash check (integrity mode), else 0.
    public static let integrity = "tokenledger_integrity_failed"
    /// Gauge: seconds from the start of `serve` to the socket serving (fold, catch-up, bind).
    public static let startupSeconds = "tokenledger_startup_seconds"
    /// Gauge: seconds since the newest stored snapshot was written (-1: none yet). A restart
    /// folds the log after it, so an old snapshot means a long restart.
    public static let snapshotAgeSeconds = "tokenledger_snapshot_age_seconds"
    /// Gauge: the seq the newest stored snapshot stands at (0: none yet).
    public static let snapshotSeq = "tokenledger_snapshot_seq"

    /// Label names.
    public static let opLabel = "op"
    public static let codeLabel = "code"
    public static let projectionLabel = "projection"
    /// The `code` of a success.
    public static let okCode = "ok"
}
