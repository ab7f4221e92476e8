import Foundation
import LMDB
import Testing

@Suite struct EnvironmentTests {
    @Test func close_thenReopen_keepsData() throws {
        try withTemporaryDirectory { directory in
            do {
                let environment = try Environment(directory: directory)
                let events = try environment.database("events")
                try environment.write { txn in
                    for seq in UInt64(1)...100 { try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: 64)) }
                }
                environment.close()
                environment.close()  // idempotent
            }
            let reopened = try Environment(directory: directory)
            defer { reopened.close() }
            let events = try reopened.database("events", create: false)
            try reopened.read { txn throws in
                #expect(try txn.count(events) == 100)
                #expect(try txn.get(events, BigEndian.bytes(77)) == value(for: 77, bytes: 64))
            }
        }
    }

    @Test func reopen_withTinyMapAfterGrowth_keepsDataAndGrowsAgain() throws {
        try withTemporaryDirectory { directory in
            do {
                let environment = try Environment(directory: directory, options: tinyMapOptions())
                let events = try environment.database("events")
                try environment.write { txn in
                    for seq in UInt64(1)...500 {
                        try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: 4096))
                    }
                }
                environment.close()
            }
            let reopened = try Environment(directory: directory, options: tinyMapOptions())
            defer { reopened.close() }
            let events = try reopened.database("events")
            try reopened.write { txn in
                for seq in UInt64(501)...1_000 {
                    try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: 4096), append: true)
                }
            }
            #expect(try reopened.read { txn in try txn.count(events) } == 1_000)
        }
    }

    @Test func operations_afterClose_throwEnvironmentClosed() throws {
        try withTemporaryDirectory { directory in
            let environment = try Environment(directory: directory)
            let db = try environment.database("main")
            environment.close()
            #expect(throws: LMDBError.environmentClosed) { try environment.read { _ in } }
            #expect(throws: LMDBError.environmentClosed) {
                try environment.write { txn in try txn.put(db, bytes("k"), bytes("v")) }
            }
            #expect(throws: LMDBError.environmentClosed) { _ = try environment.database("main") }
            #expect(throws: LMDBError.environmentClosed) { _ = try environment.readerCheck() }
            #expect(throws: LMDBError.environmentClosed) { try environment.sync(force: true) }
            #expect(environment.stat.mapSizeBytes == 0)
        }
    }

    @Test func init_whenDirectoryMissing_throwsENOENT() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("lmdb-missing-\(UUID().uuidString)")
        #expect(throws: LMDBError.errno(ENOENT)) {
            _ = try Environment(directory: missing.path)
        }
    }

    @Test func init_createsFilesWithRequestedMode() throws {
        try withEnvironment { _, directory in
            let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/data.mdb")
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
        }
    }

    @Test func readerCheck_returnsNonNegative() throws {
        try withEnvironment { environment, _ throws in
            #expect(try environment.readerCheck() >= 0)
        }
    }

    @Test func stat_reportsPagesAndAdvancingTxnID() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            let before = environment.stat
            #expect(before.pageSize > 0)
            #expect(before.mapSizeBytes == 1 << 30)
            try environment.write { txn in
                for i in 0..<100 { try txn.put(db, bytes("key\(i)"), [UInt8](repeating: 1, count: 1_000)) }
            }
            let after = environment.stat
            #expect(after.lastTxnID > before.lastTxnID)
            #expect(after.usedBytes > before.usedBytes)
            #expect(after.usedBytes % after.pageSize == 0)
        }
    }

    @Test(arguments: [false, true])
    func copy_yieldsEnvironmentWithSameData(compact: Bool) throws {
        try withEnvironment { environment, _ in
            let events = try environment.database("events")
            let meta = try environment.database("meta")
            try environment.write { txn in
                for seq in UInt64(1)...2_000 { try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: 200)) }
                try txn.put(meta, bytes("head"), BigEndian.bytes(2_000))
            }
            // Free pages for the compacting copy to drop.
            try environment.write { txn in
                for seq in UInt64(1)...1_000 { _ = try txn.delete(events, BigEndian.bytes(seq)) }
            }
            try withTemporaryDirectory { target in
                try environment.copy(toDirectory: target, compact: compact)
                let copy = try Environment(directory: target)
                defer { copy.close() }
                let copiedEvents = try copy.database("events", create: false)
                let copiedMeta = try copy.database("meta", create: false)
                try copy.read { txn in
                    #expect(try txn.count(copiedEvents) == 1_000)
                    #expect(try txn.get(copiedMeta, bytes("head")) == BigEndian.bytes(2_000))
                    try txn.withCursor(copiedEvents) { cursor in
                        var expected: UInt64 = 1_001
                        while let entry = try cursor.next() {
                            #expect(BigEndian.uint64(entry.key) == expected)
                            #expect(Array(entry.value) == value(for: expected, bytes: 200))
                            expected += 1
                        }
                        #expect(expected == 2_001)
                    }
                }
                if compact {
                    #expect(copy.stat.usedBytes < environment.stat.usedBytes, "compaction drops free pages")
                }
            }
        }
    }

    /// A hot copy (what `backup` does): a writer keeps committing while the compacting copy runs,
    /// and the copy holds one committed prefix: the head it records and exactly the events 1...head.
    @Test func compactCopy_whileAWriterCommits_holdsOneCommittedPrefix() throws {
        try withEnvironment { environment, _ in
            let events = try environment.database("events")
            let meta = try environment.database("meta")
            func append(_ range: ClosedRange<UInt64>) throws {
                try environment.write { txn in
                    for seq in range { try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: 200)) }
                    try txn.put(meta, bytes("head"), BigEndian.bytes(range.upperBound))
                }
            }
            try append(1...20_000)
            let observations = Observations()
            let group = DispatchGroup()
            spawn(group) {
                do {
                    for batch in UInt64(0)..<200 {
                        let first = 20_001 + batch * 100
                        try environment.write { txn in
                            for seq in first...(first + 99) {
                                try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: 200))
                            }
                            try txn.put(meta, bytes("head"), BigEndian.bytes(first + 99))
                        }
                    }
                } catch {
                    observations.fail("writer: \(error)")
                }
            }
            try withTemporaryDirectory { target in
                try environment.copy(toDirectory: target, compact: true)
                group.wait()
                #expect(observations.allFailures.isEmpty, "\(observations.allFailures)")
                let copy = try Environment(directory: target)
                defer { copy.close() }
                let copiedEvents = try copy.database("events", create: false)
                let copiedMeta = try copy.database("meta", create: false)
                try copy.read { txn in
                    let head = try #require(try txn.get(copiedMeta, bytes("head")).map { BigEndian.uint64($0) })
                    #expect(head >= 20_000 && head <= 40_000 && head % 100 == 0, "head \(head)")
                    #expect(try txn.count(copiedEvents) == Int(head), "no event past the head, none missing")
                    #expect(try txn.get(copiedEvents, BigEndian.bytes(head)) == value(for: head, bytes: 200))
                }
            }
        }
    }

    @Test func copy_whenTargetHoldsData_throws() throws {
        try withEnvironment { environment, directory in
            _ = #expect(throws: LMDBError.errno(EEXIST)) {
                try environment.copy(toDirectory: directory, compact: false)
            }
        }
    }

    @Test func sync_succeeds_withNoSyncEnvironment() throws {
        var options = EnvironmentOptions()
        options.noSync = true
        options.noMetaSync = true
        try withEnvironment(options: options) { environment, _ in
            let db = try environment.database("model")
            try environment.write { txn in try txn.put(db, bytes("k"), bytes("v")) }
            try environment.sync(force: true)
            try environment.sync(force: false)
        }
    }

    @Test func read_whenMoreConcurrentReadersThanMax_throwsReadersFull() throws {
        var options = EnvironmentOptions()
        options.readersMax = 1
        try withEnvironment(options: options) { environment, _ in
            try environment.read { _ in
                _ = #expect(throws: LMDBError.readersFull) {
                    try environment.read { _ in }
                }
            }
        }
    }
}
