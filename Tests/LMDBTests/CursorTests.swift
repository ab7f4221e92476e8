import LMDB
import Testing

@Suite struct CursorTests {
    /// Sequence numbers 10, 20, ..., 100 as big-endian keys.
    private func fillLog(_ environment: Environment) throws -> Database {
        let events = try environment.database("events")
        try environment.write { txn in
            for seq in stride(from: UInt64(10), through: 100, by: 10) {
                try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: 16), append: true)
            }
        }
        return events
    }

    @Test func next_fromStart_visitsEveryKeyInOrder() throws {
        try withEnvironment { environment, _ in
            let events = try fillLog(environment)
            let seqs = try environment.read { txn in
                try txn.withCursor(events) { cursor in
                    var seen: [UInt64] = []
                    while let entry = try cursor.next() {
                        #expect(Array(entry.value) == value(for: BigEndian.uint64(entry.key), bytes: 16))
                        seen.append(BigEndian.uint64(entry.key))
                    }
                    return seen
                }
            }
            #expect(seqs == Array(stride(from: UInt64(10), through: 100, by: 10)))
        }
    }

    @Test func prev_fromLast_visitsEveryKeyBackwards() throws {
        try withEnvironment { environment, _ in
            let events = try fillLog(environment)
            let seqs = try environment.read { txn in
                try txn.withCursor(events) { cursor in
                    var seen: [UInt64] = []
                    var entry = try cursor.last()
                    while let current = entry {
                        seen.append(BigEndian.uint64(current.key))
                        entry = try cursor.prev()
                    }
                    return seen
                }
            }
            #expect(seqs == Array(stride(from: UInt64(100), through: 10, by: -10)))
        }
    }

    @Test func firstAndLast_returnEnds_andNilWhenEmpty() throws {
        try withEnvironment { environment, _ in
            let events = try fillLog(environment)
            let empty = try environment.database("empty")
            try environment.read { txn in
                try txn.withCursor(events) { cursor throws in
                    #expect(try cursor.first().map { BigEndian.uint64($0.key) } == 10)
                    #expect(try cursor.last().map { BigEndian.uint64($0.key) } == 100)
                    #expect(try cursor.next() == nil, "next past the last entry is nil")
                }
                try txn.withCursor(empty) { cursor throws in
                    #expect(try cursor.first() == nil)
                    #expect(try cursor.last() == nil)
                    #expect(try cursor.next() == nil)
                    #expect(try cursor.current() == nil)
                }
            }
        }
    }

    @Test(arguments: [
        (UInt64(0), UInt64?(10)),
        (UInt64(10), UInt64?(10)),
        (UInt64(11), UInt64?(20)),
        (UInt64(95), UInt64?(100)),
        (UInt64(100), UInt64?(100)),
        (UInt64(101), UInt64?.none),
    ])
    func seekAtLeast_landsOnFirstKeyNotBelow(target: UInt64, expected: UInt64?) throws {
        try withEnvironment { environment, _ in
            let events = try fillLog(environment)
            let landed = try environment.read { txn in
                try txn.withCursor(events) { cursor in
                    try cursor.seek(atLeast: BigEndian.bytes(target)).map { BigEndian.uint64($0.key) }
                }
            }
            #expect(landed == expected)
        }
    }

    @Test func seekAtLeast_thenNext_resumesFromThere() throws {
        try withEnvironment { environment, _ in
            let events = try fillLog(environment)
            let seqs = try environment.read { txn in
                try txn.withCursor(events) { cursor in
                    var seen: [UInt64] = []
                    var entry = try cursor.seek(atLeast: BigEndian.bytes(75))
                    while let current = entry {
                        seen.append(BigEndian.uint64(current.key))
                        entry = try cursor.next()
                    }
                    return seen
                }
            }
            #expect(seqs == [80, 90, 100])
        }
    }

    @Test func deleteCurrent_inWrite_removesEntriesAndContinues() throws {
        try withEnvironment { environment, _ in
            let events = try fillLog(environment)
            try environment.write { txn in
                try txn.withCursor(events) { cursor in
                    // Delete every entry below 50, as a retention sweep would.
                    while let entry = try cursor.next(), BigEndian.uint64(entry.key) < 50 {
                        try cursor.deleteCurrent()
                    }
                }
            }
            let remaining = try environment.read { txn in
                try txn.withCursor(events) { cursor in
                    try cursor.first().map { BigEndian.uint64($0.key) }
                }
            }
            #expect(remaining == 50)
            #expect(try environment.read { txn in try txn.count(events) } == 6)
        }
    }

    @Test func deleteCurrent_inRead_throws() throws {
        try withEnvironment { environment, _ in
            let events = try fillLog(environment)
            try environment.read { txn in
                try txn.withCursor(events) { cursor in
                    _ = try cursor.first()
                    #expect(throws: LMDBError.self) { try cursor.deleteCurrent() }
                }
            }
            #expect(try environment.read { txn in try txn.count(events) } == 10)
        }
    }

    @Test func current_afterMove_returnsSameEntry() throws {
        try withEnvironment { environment, _ in
            let events = try fillLog(environment)
            try environment.read { txn in
                try txn.withCursor(events) { cursor in
                    _ = try cursor.seek(atLeast: BigEndian.bytes(30))
                    #expect(try cursor.current().map { BigEndian.uint64($0.key) } == 30)
                }
            }
        }
    }
}

@Suite struct BigEndianTests {
    @Test(arguments: [UInt64(0), 1, 255, 256, 0x0102_0304_0506_0708, UInt64.max])
    func bytes_thenUInt64_roundTrips(value: UInt64) {
        let encoded = BigEndian.bytes(value)
        #expect(encoded.count == 8)
        #expect(BigEndian.uint64(encoded) == value)
        #expect(encoded.withUnsafeBytes { BigEndian.uint64($0) } == value)
    }

    @Test func bytes_mostSignificantFirst_soByteOrderIsNumericOrder() {
        #expect(BigEndian.bytes(0x0102_0304_0506_0708) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(BigEndian.bytes(255).lexicographicallyPrecedes(BigEndian.bytes(256)))
    }

    @Test func uint64_readsFirstEightBytesOnly() {
        #expect(BigEndian.uint64(BigEndian.bytes(42) + [9, 9, 9]) == 42)
    }
}
