import CoreMetrics
import Foundation
import LedgerCore
import LedgerMemoryStore
import LedgerProtocol
import MetricsTestKit
import Testing

@testable import LedgerStore

/// The writer's metrics (issue 14, item 5): one observation per batch, events counted by how
/// far the head moved, and `batchesCommitted` safe to read from another thread while the
/// writer commits (it was a plain var written on the writer thread: `tools/sanitize thread`
/// reports that read).
@Suite struct WriterMetricsTests {
    static func request(_ line: String) throws -> LedgerRequest {
        try RequestParser.parse(Array(line.utf8)).get().ledgerRequest
    }

    @Test func writer_recordsOncePerBatch_andCountsEveryAppendedEvent() async throws {
        let engine = try LedgerEngine(
            storage: InMemoryLogStorage(), clock: ManualClock(at: at("2026-03-10T09:00:00.000Z")),
            config: EngineConfig(), logger: quietLogger)
        let recorded = TestMetrics()
        let metrics = WriterMetrics(
            batchRequests: Recorder(label: "batch", factory: recorded),
            commitLatency: CoreMetrics.Timer(label: "commit", factory: recorded),
            queueRequests: Gauge(label: "queue", factory: recorded),
            eventsAppended: Counter(label: "events", factory: recorded))
        let writer = Writer(engine: engine, metrics: metrics, logger: quietLogger)
        let headBefore = writer.head.seq
        writer.start()
        // Reads the count on another thread all along, as `stats` does.
        let reader = Task.detached {
            var last = 0
            while !Task.isCancelled {
                let now = writer.batchesCommitted
                #expect(now >= last, "the count only grows")
                last = now
                await Task.yield()
            }
        }

        var batches: [[LedgerRequest]] = [
            [
                try Self.request(#"{"op":"team.create","team":"acme","plan":"enterprise"}"#),
                try Self.request(#"{"op":"user.add","team":"acme","user":"ann"}"#),
            ]
        ]
        for i in 0..<20 {
            batches.append(
                try (0..<(i % 4 + 1)).map { k in
                    try Self.request(
                        #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":1,"key":"c\#(i)-\#(k)"}"#)
                })
        }
        batches.append([try Self.request(#"{"op":"ping"}"#)])  // appends nothing
        for batch in batches {
            let answers = await writer.submit(batch)
            #expect(answers.allSatisfy { if case .success = $0 { true } else { false } }, "\(answers)")
        }
        reader.cancel()
        await reader.value
        writer.stop()

        #expect(writer.batchesCommitted == batches.count, "each submit waited for its own batch")
        let sizes = try recorded.expectRecorder("batch").values
        #expect(sizes == batches.map { Double($0.count) }, "one observation per batch: its requests")
        #expect(try recorded.expectTimer("commit").values.count == batches.count)
        #expect(try recorded.expectTimer("commit").values.allSatisfy { $0 > 0 })
        #expect(try recorded.expectGauge("queue").values.allSatisfy { $0 == 0 }, "nothing waited behind a batch")
        let appended = try recorded.expectCounter("events")
        #expect(appended.totalValue == Int64(writer.head.seq - headBefore))
        #expect(appended.totalValue >= 2 + 50, "team, user and 50 consumes at least")
        #expect(appended.values.count <= batches.count - 1, "one add per batch that appended, none per event")
    }
}
