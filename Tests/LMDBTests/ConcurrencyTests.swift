import Foundation
import LMDB
import Testing

@Suite struct ConcurrencyTests {
    @Test func read_inParallelThreadsWhileWriterGrowsMap_seesConsistentData() throws {
        let batches: UInt64 = 200
        let perBatch: UInt64 = 10
        let valueBytes = 2 << 10
        try withEnvironment(options: tinyMapOptions()) { environment, _ in
            let events = try environment.database("events")
            let initialMapBytes = environment.stat.mapSizeBytes
            let observations = Observations()
            let group = DispatchGroup()

            for reader in 0..<3 {
                spawn(group) {
                    var probe = UInt64(reader)
                    while !observations.isFinished {
                        do {
                            try environment.read { txn in
                                // The head and every entry below it must be there, whole, in one snapshot.
                                let head = try txn.withCursor(events) { cursor in
                                    try cursor.last().map { BigEndian.uint64($0.key) }
                                }
                                guard let head else { return }
                                let count = try txn.count(events)
                                if count != Int(head) { observations.fail("count \(count) != head \(head)") }
                                probe = probe &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                                let seq = probe % head + 1
                                let stored = try txn.get(events, BigEndian.bytes(seq))
                                if stored != value(for: seq, bytes: valueBytes) {
                                    observations.fail("seq \(seq) wrong")
                                }
                            }
                            observations.countRead()
                        } catch {
                            observations.fail("read threw \(error)")
                        }
                    }
                }
            }

            spawn(group) {
                defer { observations.finish() }
                do {
                    for batch in 0..<batches {
                        let first = batch * perBatch + 1
                        try environment.write { txn in
                            for seq in first..<(first + perBatch) {
                                try txn.put(
                                    events, BigEndian.bytes(seq), value(for: seq, bytes: valueBytes), append: true)
                            }
                        }
                    }
                } catch {
                    observations.fail("write threw \(error)")
                }
            }

            group.wait()
            #expect(observations.allFailures.isEmpty, "\(observations.allFailures.prefix(5))")
            #expect(observations.readCount > 0)
            #expect(environment.stat.mapSizeBytes > initialMapBytes, "the writer must have grown the map")
            try environment.read { txn in
                #expect(try txn.count(events) == Int(batches * perBatch))
                try txn.withCursor(events) { cursor in
                    var expected: UInt64 = 1
                    while let entry = try cursor.next() {
                        #expect(BigEndian.uint64(entry.key) == expected)
                        #expect(Array(entry.value) == value(for: expected, bytes: valueBytes))
                        expected += 1
                    }
                }
            }
        }
    }

    @Test func database_openedFromManyThreads_returnsOneHandlePerName() throws {
        try withEnvironment { environment, _ in
            let handles = HandleSet()
            let group = DispatchGroup()
            for thread in 0..<4 {
                spawn(group) {
                    for round in 0..<20 {
                        let name = "db\((thread + round) % 5)"
                        if let db = try? environment.database(name) { handles.insert(name, db) }
                    }
                }
            }
            group.wait()
            #expect(handles.namesWithOneHandle == 5)
        }
    }

    @Test func close_whileReadersActive_waitsForThemAndThenRefusesNewOnes() throws {
        try withTemporaryDirectory { directory in
            let environment = try Environment(directory: directory)
            let db = try environment.database("main")
            try environment.write { txn in try txn.put(db, bytes("k"), bytes("v")) }
            let observations = Observations()
            let entered = DispatchSemaphore(value: 0)
            let group = DispatchGroup()
            spawn(group) {
                do {
                    try environment.read { txn in
                        entered.signal()
                        Thread.sleep(forTimeInterval: 0.1)
                        if try txn.get(db, bytes("k")) != bytes("v") { observations.fail("lost value") }
                    }
                } catch {
                    observations.fail("read threw \(error)")
                }
            }
            entered.wait()
            environment.close()
            group.wait()
            #expect(observations.allFailures.isEmpty)
            #expect(throws: LMDBError.environmentClosed) {
                try environment.read { txn in _ = try txn.get(db, bytes("k")) }
            }
        }
    }
}

final class HandleSet: @unchecked Sendable {
    private let lock = NSLock()
    private var handles: [String: Set<Database>] = [:]

    func insert(_ name: String, _ db: Database) {
        lock.withLock { _ = handles[name, default: []].insert(db) }
    }

    var namesWithOneHandle: Int {
        lock.withLock { handles.values.filter { $0.count == 1 }.count }
    }
}
