import Dispatch
import Foundation
import LedgerCore
import LedgerJSON
import LedgerMemoryStore
import LedgerProtocol
import Synchronization
import Testing

@testable import LedgerStore

/// A storage that counts the events it hands out: how much of the log a read touched.
final class CountingStorage: LogStorage {
    let inner: any LogStorage
    private let read = Atomic<Int>(0)

    init(_ inner: any LogStorage) { self.inner = inner }

    var eventsRead: Int { read.load(ordering: .relaxed) }
    func reset() { read.store(0, ordering: .relaxed) }

    func head() throws -> (seq: UInt64, hash: [UInt8]) { try inner.head() }
    func lookupKeys(_ keys: [String]) throws -> [String: KeyRecord] { try inner.lookupKeys(keys) }
    func commit(_ batch: CommitBatch) throws { try inner.commit(batch) }
    func events(from: UInt64, limit: Int) throws -> [StoredEvent] {
        let out = try inner.events(from: from, limit: limit)
        read.add(out.count, ordering: .relaxed)
        return out
    }
    func usage() -> (mapSize: Int, mapUsed: Int) { inner.usage() }
}

/// A log of `runs` instants, each holding `perRun` consumes by acme's ann, one minute apart.
func makeTimedLog(_ h: EngineHarness, runs: Int, perRun: Int) {
    h.setUpAcme()
    for run in 0..<runs {
        if run > 0 { h.one(#"{"op":"clock.advance","seconds":60}"#) }
        h.run(
            (0..<perRun).map { i in
                #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":1,"key":"r\#(run)-\#(i)"}"#
            })
    }
}

@Suite struct AuditFromTests {
    func query(from: Instant?, after: UInt64 = 0, limit: Int = 10_000) -> AuditQuery {
        var q = AuditQuery()
        q.from = from
        q.afterSeq = after
        q.limit = limit
        return q
    }

    func seqs(_ answer: JSONObject) -> [Int64] {
        (answer["events"]?.arrayValue ?? []).compactMap { $0.objectValue?["seq"]?.numberValue?.int64 }
    }

    @Test(arguments: StorageKind.allCases)
    func audit_withFrom_answersWhatAScanAnswers(kind: StorageKind) throws {
        let h = try EngineHarness(kind)
        makeTimedLog(h, runs: 12, perRun: 5)
        let reader = LogReader(storage: h.storage)
        let head = try h.storage.head().seq
        let everything = try reader.audit(query(from: nil), head: head)
        let events = (everything["events"]?.arrayValue ?? []).compactMap(\.objectValue)
        let stamps = Set(events.compactMap { $0["ts"]?.stringValue.flatMap(Instant.init(rfc3339:)) }).sorted()
        let froms = [Instant(ms: 0)] + stamps + stamps.map { Instant(ms: $0.ms + 1) }
        for from in froms {
            let expected = events.filter { Instant(rfc3339: $0["ts"]!.stringValue!)! >= from }
                .compactMap { $0["seq"]?.numberValue?.int64 }
            for after in [0, head / 3, head - 1, head] {
                let got = seqs(try reader.audit(query(from: from, after: after), head: head))
                #expect(got == expected.filter { $0 > Int64(after) }, "from \(from.rfc3339) after \(after)")
            }
            // Paged: the pages join up to the same events.
            var paged: [Int64] = []
            var after: UInt64 = 0
            while true {
                let answer = try reader.audit(query(from: from, after: after, limit: 4), head: head)
                paged += seqs(answer)
                guard let next = answer["next_after_seq"]?.numberValue?.int64 else { break }
                #expect(UInt64(next) > after)
                after = UInt64(next)
            }
            #expect(paged == expected, "from \(from.rfc3339), paged")
        }
    }

    @Test func firstSeq_readsAboutLog2OfTheLogNotTheLog() throws {
        let memory = InMemoryLogStorage()
        let counting = CountingStorage(memory)
        let h = try EngineHarness(.memory)
        makeTimedLog(h, runs: 40, perRun: 50)
        // Copy the log into the counted storage.
        var batch = CommitBatch()
        for (i, bytes) in h.memory!.storedEvents.enumerated() { batch.events.append((UInt64(i + 1), bytes)) }
        let (headSeq, headHash) = try h.storage.head()
        batch.headSeq = headSeq
        batch.headHash = headHash
        try counting.commit(batch)
        let reader = LogReader(storage: counting)
        let lastTs = try #require(
            JSONParser.parse(memory.storedEvents.last!).objectValue?["ts"]?.stringValue.flatMap(Instant.init(rfc3339:)))

        counting.reset()
        let first = try reader.firstSeq(atOrAfter: lastTs, after: 0, head: headSeq)
        #expect(first == headSeq - 49, "the last run holds 50 events")
        #expect(counting.eventsRead <= 2 * 12, "a binary search over \(headSeq) events read \(counting.eventsRead)")

        counting.reset()
        let answer = try reader.audit(query(from: lastTs), head: headSeq)
        #expect(seqs(answer).count == 50)
        #expect(counting.eventsRead < 100, "audit from the last instant read \(counting.eventsRead) events")
        #expect(try reader.firstSeq(atOrAfter: Instant(ms: lastTs.ms + 1), after: 0, head: headSeq) == headSeq + 1)
        #expect(try reader.firstSeq(atOrAfter: Instant(ms: 0), after: 7, head: headSeq) == 8)
    }
}

@Suite struct LogSubscriptionTests {
    static let queue = DispatchQueue(label: "test.subscription-reads", attributes: .concurrent)

    func subscription(
        _ storage: any LogStorage, _ heads: HeadWatch, after: UInt64 = 0, team: String? = nil,
        types: Set<String>? = nil, limits: LogSubscription.Limits = .init(), gauge: SubscriberGauge? = nil
    ) -> LogSubscription {
        var q = SubscribeQuery()
        q.afterSeq = after
        q.team = team.map { ID(trusted: $0) }
        q.types = types
        return LogSubscription(q, storage: storage, heads: heads, readQueue: Self.queue, gauge: gauge, limits: limits)
    }

    func events(_ lines: [[UInt8]]) throws -> [JSONObject] {
        try lines.map { line in
            let o = try #require(JSONParser.parse(line).objectValue)
            #expect(o.keys == ["event"])
            return try #require(o["event"]?.objectValue)
        }
    }

    func seqs(_ lines: [[UInt8]]) throws -> [Int64] {
        try events(lines).compactMap { $0["seq"]?.numberValue?.int64 }
    }

    @Test func next_streamsTheStoredBytesInOrder_thenWaitsForTheHeadToMove() async throws {
        let h = try EngineHarness(.memory)
        makeTimedLog(h, runs: 1, perRun: 5)
        let head = try h.storage.head().seq
        let heads = HeadWatch(seq: head)
        let s = subscription(h.storage, heads)
        let first = try #require(try await s.next(limit: 1024))
        #expect(try seqs(first) == (1...Int64(head)).map { $0 })
        let stored = h.memory!.storedEvents
        #expect(first == stored.map { LogSubscription.eventLine($0) }, "the line wraps the stored bytes untouched")

        async let more = s.next(limit: 1024)
        try await Task.sleep(nanoseconds: 50_000_000)
        h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":1,"key":"late"}"#)
        heads.publish(try h.storage.head().seq)
        let live = try #require(try await more)
        #expect(try seqs(live) == [Int64(head) + 1])
    }

    @Test func next_filtersByTeamAndTypes() async throws {
        let h = try EngineHarness(.memory)
        h.run([
            #"{"op":"team.create","team":"acme","plan":"pro"}"#, #"{"op":"team.create","team":"beta"}"#,
            #"{"op":"user.add","team":"acme","user":"ann"}"#, #"{"op":"user.add","team":"beta","user":"bob"}"#,
            #"{"op":"consume","team":"acme","user":"ann","model":"m","cost":1,"key":"a1"}"#,
            #"{"op":"consume","team":"beta","user":"bob","model":"m","cost":1,"key":"b1"}"#,
            #"{"op":"topup","team":"acme","amount":3,"key":"a2"}"#,
        ])
        let heads = HeadWatch(seq: try h.storage.head().seq)
        let s = subscription(h.storage, heads, team: "acme", types: ["consumed", "topup"])
        let lines = try #require(try await s.next(limit: 1024))
        let got = try events(lines)
        #expect(got.map { $0["type"]?.stringValue } == ["consumed", "topup"])
        #expect(got.allSatisfy { $0["team"]?.stringValue == "acme" })
    }

    @Test func next_whenTheFilterIsRare_handsBackAfterABoundedScan() async throws {
        let h = try EngineHarness(.memory)
        makeTimedLog(h, runs: 1, perRun: 40)
        let head = try h.storage.head().seq
        let heads = HeadWatch(seq: head)
        var limits = LogSubscription.Limits()
        limits.scanEventsMax = 10
        limits.chunkEventsMax = 4
        let s = subscription(h.storage, heads, team: "nobody", limits: limits)
        // Every scan that ends before the head hands back empty; each examined at most 10 events.
        for call in 1...Int((head - 1) / 10) {
            let lines = try #require(try await s.next(limit: 1024))
            #expect(lines.isEmpty)
            #expect(s.cursor == UInt64(call * 10))
        }
        // The scan that reaches the head waits there; a cancel ends the wait at once.
        async let waiting = s.next(limit: 1024)
        for _ in 0..<200 where s.cursor < head { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(s.cursor == head)
        await s.cancel()
        #expect(try await waiting == nil)
        #expect(try await s.next(limit: 1024) == nil, "a cancelled stream stays ended")
    }

    @Test func next_boundsLinesAndBytes_butAlwaysMovesOn() async throws {
        let h = try EngineHarness(.memory)
        makeTimedLog(h, runs: 1, perRun: 30)
        let head = try h.storage.head().seq
        var limits = LogSubscription.Limits()
        limits.linesBytesMax = 1
        let s = subscription(h.storage, HeadWatch(seq: head), limits: limits)
        let one = try #require(try await s.next(limit: 1024))
        #expect(one.count == 1, "a byte budget smaller than one event still yields that event")
        let t = subscription(h.storage, HeadWatch(seq: head))
        let seven = try #require(try await t.next(limit: 7))
        #expect(try seqs(seven) == Array(1...7))
        let next = try #require(try await t.next(limit: 7))
        #expect(try seqs(next) == Array(8...14))
    }

    @Test func next_afterSeqBeyondTheHead_waitsUntilTheLogGetsThere() async throws {
        let h = try EngineHarness(.memory)
        h.setUpAcme()
        let head = try h.storage.head().seq
        let heads = HeadWatch(seq: head)
        let s = subscription(h.storage, heads, after: head + 1)
        async let first = s.next(limit: 1024)
        for key in ["x", "y"] {
            h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":1,"key":"\#(key)"}"#)
            heads.publish(try h.storage.head().seq)
        }
        #expect(try seqs(try #require(try await first)) == [Int64(head) + 2])
    }

    @Test func next_whenTheWriterStops_endsTheStream() async throws {
        let h = try EngineHarness(.memory)
        h.setUpAcme()
        let heads = HeadWatch(seq: try h.storage.head().seq)
        let s = subscription(h.storage, heads, after: try h.storage.head().seq)
        async let waiting = s.next(limit: 1024)
        try await Task.sleep(nanoseconds: 50_000_000)
        heads.close()
        #expect(try await waiting == nil)
    }

    @Test func next_whenAStoredEventIsUnreadable_endsWithAnIntegrityLine() async throws {
        let h = try EngineHarness(.memory, faultable: true)
        makeTimedLog(h, runs: 1, perRun: 3)
        let head = try h.storage.head().seq
        h.faults.tamper(seq: head - 1) { $0.removeLast() }
        let s = subscription(h.storage, HeadWatch(seq: head))
        let lines = try #require(try await s.next(limit: 1024))
        #expect(try seqs(Array(lines.dropLast())) == (1...Int64(head - 2)).map { $0 })
        let last = try #require(JSONParser.parse(lines.last!).objectValue)
        #expect(last["ok"] == .bool(false))
        #expect(last["error"]?.objectValue?["code"] == .string("integrity"))
        #expect(last["error"]?.objectValue?["seq"] == .int(head - 1))
        #expect(try await s.next(limit: 1024) == nil)
    }

    @Test func gauge_countsLiveSubscriptionsUntilReleased() async throws {
        let h = try EngineHarness(.memory)
        let gauge = SubscriberGauge()
        var s: LogSubscription? = subscription(h.storage, HeadWatch(seq: 0), gauge: gauge)
        #expect(gauge.count == 1)
        await s?.cancel()
        s = nil
        #expect(gauge.count == 0)
    }
}
