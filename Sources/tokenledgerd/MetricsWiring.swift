import LedgerMetrics
import LedgerProjections
import LedgerServer
import LedgerStore
import Logging

extension TokenLedgerDaemon {
    /// `--metrics-listen`, parsed; nil when not given or empty (the unit's way to turn it off).
    var metricsAddress: ListenAddress? {
        metricsListen.flatMap { $0.isEmpty ? nil : ListenAddress(parsing: $0) }
    }

    /// The writer's handles from the daemon's registry.
    static func writerMetrics(_ m: DaemonMetrics) -> WriterMetrics {
        WriterMetrics(
            batchRequests: m.batchRequests, commitLatency: m.commitLatency, queueRequests: m.queueRequests,
            eventsAppended: m.eventsAppended)
    }

    /// The requests counter from the daemon's registry.
    static func requestMetrics(_ m: DaemonMetrics) -> RequestMetrics {
        RequestMetrics { op, code in m.requestCounter(op: op, code: code) }
    }

    /// Runs the `/metrics` service in a task of its own (until the ServiceGroup of issue 14's
    /// item 4 runs it); cancel the task to stop it. The gauges that are cheap to read are read
    /// here, at each scrape, so that no request pays for them. A failure to bind is logged and
    /// the ledger serves on: its clients matter more than its scrapes.
    static func startMetrics(
        _ metrics: DaemonMetrics, address: ListenAddress, mapMaxBytes: Int, storage: LMDBLogStorage, writer: Writer,
        views: ProjectionHub, server: UnixSocketServer, service: LedgerService, logger: Logger
    ) -> Task<Void, Never> {
        let metricsServer = MetricsServer(address: address, logger: logger) {
            let usage = storage.usage()
            var sample = MetricsSample()
            sample.headSeq = writer.head.seq
            for (name, seq) in views.positions { sample.projectionSeqs[name.rawValue] = seq }
            sample.connections = server.connectionCount
            sample.subscribers = service.subscribers.count
            sample.bufferedInputBytes = server.inputBudget.usedBytes
            sample.mapUsedBytes = usage.mapUsed
            sample.mapSizeBytes = usage.mapSize
            sample.mapMaxBytes = mapMaxBytes
            sample.integrityFailed = writer.integrityFailure != nil
            if let s = service.newestSnapshot() { sample.snapshot = (s.seq, s.ageSeconds()) }
            return metrics.exposition(sample)
        }
        return Task {
            do {
                try await metricsServer.run()
            } catch {
                logger.error("metrics server failed", metadata: ["metrics.listen": "\(address)", "error": "\(error)"])
            }
        }
    }
}
