import LMDB
import Testing

@Suite struct GrowthTests {
    /// 5 MiB as 1,280 values of 4 KiB: far beyond a 64 KiB map.
    private static let valueBytes = 4 << 10
    private static let totalEntries: UInt64 = 1_280

    @Test func write_whenTinyMapAndLargeWrite_growsAndRerunsBody() throws {
        try withEnvironment(options: tinyMapOptions()) { environment, _ in
            let events = try environment.database("events")
            let initialMapBytes = environment.stat.mapSizeBytes
            var attempts = 0
            try environment.write { txn in
                attempts += 1
                for seq in 1...Self.totalEntries {
                    try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: Self.valueBytes), append: true)
                }
            }
            #expect(attempts > 1, "MAP_FULL must have re-run the body")
            let stat = environment.stat
            #expect(stat.mapSizeBytes > initialMapBytes)
            #expect(stat.usedBytes >= Int(Self.totalEntries) * Self.valueBytes)
            #expect(stat.usedBytes <= stat.mapSizeBytes)
            try environment.read { txn throws in
                #expect(try txn.count(events) == Int(Self.totalEntries))
                for seq in [UInt64(1), 640, Self.totalEntries] {
                    #expect(try txn.get(events, BigEndian.bytes(seq)) == value(for: seq, bytes: Self.valueBytes))
                }
            }
            #expect(!environment.needsReopen)
        }
    }

    @Test func write_whenTinyMapAndManySmallWrites_growsAndKeepsEveryWrite() throws {
        try withEnvironment(options: tinyMapOptions()) { environment, _ in
            let events = try environment.database("events")
            var attempts = 0
            var seq: UInt64 = 0
            for _ in 0..<320 {
                let first = seq + 1
                try environment.write { txn in
                    attempts += 1
                    // Re-runnable: the batch is derived from `first`, not from state the body mutates.
                    for next in first..<(first + 4) {
                        try txn.put(
                            events, BigEndian.bytes(next), value(for: next, bytes: Self.valueBytes), append: true)
                    }
                }
                seq = first + 3
            }
            #expect(seq == Self.totalEntries)
            #expect(attempts > 320, "some writes must have hit MAP_FULL and run again")
            try environment.read { txn in
                #expect(try txn.count(events) == Int(Self.totalEntries))
                try txn.withCursor(events) { cursor in
                    var expected: UInt64 = 1
                    while let entry = try cursor.next() {
                        #expect(BigEndian.uint64(entry.key) == expected)
                        #expect(Array(entry.value) == value(for: expected, bytes: Self.valueBytes))
                        expected += 1
                    }
                    #expect(expected == Self.totalEntries + 1)
                }
            }
        }
    }

    @Test func write_whenMaxMapSizeReached_throwsMapFullAndStaysUsable() throws {
        try withEnvironment(options: tinyMapOptions(mapSizeBytesMax: 256 << 10)) { environment, _ in
            let events = try environment.database("events")
            #expect(throws: LMDBError.mapFull) {
                try environment.write { txn in
                    for seq in 1...Self.totalEntries {
                        try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: Self.valueBytes), append: true)
                    }
                }
            }
            #expect(environment.stat.mapSizeBytes == 256 << 10, "grown up to the maximum, not past it")
            #expect(!environment.needsReopen, "MAP_FULL is not a failed commit")
            try environment.write { txn in try txn.put(events, BigEndian.bytes(1), bytes("small")) }
            #expect(try environment.read { txn in try txn.count(events) } == 1)
        }
    }

    @Test func write_whenBodySwallowsMapFull_stillGrowsAndReruns() throws {
        try withEnvironment(options: tinyMapOptions()) { environment, _ in
            let events = try environment.database("events")
            var attempts = 0
            var swallowed = 0
            try environment.write { txn in
                attempts += 1
                for seq in 1...UInt64(400) {
                    do {
                        try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: Self.valueBytes), append: true)
                    } catch {
                        swallowed += 1
                        return
                    }
                }
            }
            #expect(swallowed > 0)
            #expect(attempts == swallowed + 1, "every swallowed MAP_FULL led to one more run")
            #expect(try environment.read { txn in try txn.count(events) } == 400)
        }
    }

    @Test func write_whenBodyRethrowsMapFullAsOtherError_stillGrowsAndReruns() throws {
        struct Wrapped: Error {}
        try withEnvironment(options: tinyMapOptions()) { environment, _ in
            let events = try environment.database("events")
            var attempts = 0
            try environment.write { txn in
                attempts += 1
                do {
                    for seq in 1...UInt64(400) {
                        try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: Self.valueBytes), append: true)
                    }
                } catch {
                    throw Wrapped()
                }
            }
            #expect(attempts > 1)
            #expect(try environment.read { txn in try txn.count(events) } == 400)
        }
    }

    @Test func write_whenNestedInReadAndMapFull_throwsMapFullInsteadOfDeadlocking() throws {
        try withEnvironment(options: tinyMapOptions()) { environment, _ in
            let events = try environment.database("events")
            try environment.read { _ in
                _ = #expect(throws: LMDBError.mapFull) {
                    try environment.write { txn in
                        for seq in 1...UInt64(400) {
                            try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: Self.valueBytes))
                        }
                    }
                }
            }
            // Outside the read the same write grows and succeeds.
            try environment.write { txn in
                for seq in 1...UInt64(400) {
                    try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: Self.valueBytes))
                }
            }
            #expect(try environment.read { txn in try txn.count(events) } == 400)
        }
    }

    @Test func growMap_setsLargerMap_andKeepsData() throws {
        try withEnvironment(options: tinyMapOptions()) { environment, _ in
            let db = try environment.database("main")
            try environment.write { txn in try txn.put(db, bytes("k"), bytes("v")) }
            try environment.growMap(toBytes: 8 << 20)
            #expect(environment.stat.mapSizeBytes == 8 << 20)
            #expect(try environment.read { txn in try txn.get(db, bytes("k")) } == bytes("v"))
            try environment.write { txn in
                for seq in 1...UInt64(1_000) {
                    try txn.put(db, BigEndian.bytes(seq), value(for: seq, bytes: 4 << 10))
                }
            }
            #expect(environment.stat.mapSizeBytes == 8 << 20, "4 MB fits: no growth needed")
        }
    }
}
