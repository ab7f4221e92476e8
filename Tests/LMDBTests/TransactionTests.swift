import LMDB
import Testing

@Suite struct TransactionTests {
    @Test func put_thenGet_returnsValue() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            try environment.write { txn in
                try txn.put(db, bytes("alpha"), bytes("one"))
                #expect(try txn.get(db, bytes("alpha")) == bytes("one"), "a write is visible in its own transaction")
            }
            let stored = try environment.read { txn in try txn.get(db, bytes("alpha")) }
            #expect(stored == bytes("one"))
        }
    }

    @Test func get_whenAbsent_returnsNil() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            #expect(try environment.read { txn in try txn.get(db, bytes("missing")) } == nil)
            try environment.write { txn throws in
                #expect(try txn.get(db, bytes("missing")) == nil)
            }
        }
    }

    @Test func put_whenKeyExists_overwrites() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            try environment.write { txn in try txn.put(db, bytes("k"), bytes("old")) }
            try environment.write { txn in try txn.put(db, bytes("k"), bytes("new")) }
            #expect(try environment.read { txn in try txn.get(db, bytes("k")) } == bytes("new"))
        }
    }

    @Test func put_whenNoOverwriteAndKeyExists_throwsKeyExistsAndKeepsValue() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            try environment.write { txn in try txn.put(db, bytes("k"), bytes("first")) }
            try environment.write { txn in
                _ = #expect(throws: LMDBError.keyExists) {
                    try txn.put(db, bytes("k"), bytes("second"), noOverwrite: true)
                }
            }
            #expect(try environment.read { txn in try txn.get(db, bytes("k")) } == bytes("first"))
        }
    }

    @Test func put_whenEmptyValue_storesEmptyValue() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            try environment.write { txn in try txn.put(db, bytes("empty"), []) }
            #expect(try environment.read { txn in try txn.get(db, bytes("empty")) } == [])
        }
    }

    @Test(arguments: [0, 512])
    func put_whenKeySizeUnsupported_throwsBadValSize(keyBytes: Int) throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            try environment.write { txn in
                #expect(throws: LMDBError.badValSize) {
                    try txn.put(db, [UInt8](repeating: 7, count: keyBytes), bytes("v"))
                }
                // The transaction stays usable after an error that only answers the operation.
                try txn.put(db, bytes("ok"), bytes("v"))
            }
            #expect(try environment.read { txn in try txn.get(db, bytes("ok")) } == bytes("v"))
        }
    }

    @Test func delete_whenPresent_returnsTrueAndRemoves() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            try environment.write { txn in try txn.put(db, bytes("k"), bytes("v")) }
            let deleted = try environment.write { txn in try txn.delete(db, bytes("k")) }
            #expect(deleted)
            #expect(try environment.read { txn in try txn.get(db, bytes("k")) } == nil)
        }
    }

    @Test func delete_whenAbsent_returnsFalse() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            let deleted = try environment.write { txn in try txn.delete(db, bytes("never")) }
            #expect(!deleted)
        }
    }

    @Test func put_whenAppendInOrder_storesEveryKey() throws {
        try withEnvironment { environment, _ in
            let events = try environment.database("events")
            try environment.write { txn in
                for seq in UInt64(1)...1_000 {
                    try txn.put(events, BigEndian.bytes(seq), value(for: seq, bytes: 32), append: true)
                }
            }
            // A later transaction continues the sequence: APPEND compares against the stored last key.
            try environment.write { txn in
                try txn.put(events, BigEndian.bytes(1_001), value(for: 1_001, bytes: 32), append: true)
            }
            try environment.read { txn throws in
                #expect(try txn.count(events) == 1_001)
                #expect(try txn.get(events, BigEndian.bytes(300)) == value(for: 300, bytes: 32))
                // 256 as big-endian sorts after 255; as little-endian it would not, and APPEND would have failed.
                #expect(try txn.get(events, BigEndian.bytes(256)) == value(for: 256, bytes: 32))
            }
        }
    }

    @Test(arguments: [UInt64(5), UInt64(10)])
    func put_whenAppendOutOfOrder_throwsKeyExists(seq: UInt64) throws {
        try withEnvironment { environment, _ in
            let events = try environment.database("events")
            try environment.write { txn in
                try txn.put(events, BigEndian.bytes(10), bytes("ten"), append: true)
                #expect(throws: LMDBError.keyExists) {
                    try txn.put(events, BigEndian.bytes(seq), bytes("late"), append: true)
                }
                // MDB_KEYEXIST leaves the transaction usable: the in-order append still commits.
                try txn.put(events, BigEndian.bytes(11), bytes("eleven"), append: true)
            }
            try environment.read { txn throws in
                #expect(try txn.count(events) == 2)
                #expect(try txn.get(events, BigEndian.bytes(10)) == bytes("ten"))
            }
        }
    }

    @Test func write_whenBodyThrows_abortsAndRethrows() throws {
        struct Refused: Error, Equatable {}
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            #expect(throws: Refused()) {
                try environment.write { txn in
                    try txn.put(db, bytes("k"), bytes("v"))
                    throw Refused()
                }
            }
            #expect(try environment.read { txn in try txn.get(db, bytes("k")) } == nil)
            #expect(!environment.needsReopen, "an aborted body is not a commit failure")
        }
    }

    @Test func write_returnsBodyResult() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            let result = try environment.write { txn -> Int in
                try txn.put(db, bytes("k"), bytes("v"))
                return 42
            }
            #expect(result == 42)
        }
    }

    @Test func withValue_whenPresent_lendsBytesWithoutCopy_andNilWhenAbsent() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            try environment.write { txn in
                try txn.put(db, bytes("k"), bytes("value"))
                let length = try txn.withValue(db, bytes("k")) { $0?.count }
                #expect(length == 5)
            }
            try environment.read { txn in
                let text = try txn.withValue(db, bytes("k")) { $0.map(string) }
                #expect(text == "value")
                let absent = try txn.withValue(db, bytes("nope")) { $0 == nil }
                #expect(absent)
            }
        }
    }

    @Test func count_tracksPutsAndDeletes() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            try environment.write { txn in
                for i in 0..<10 { try txn.put(db, bytes("k\(i)"), bytes("v")) }
                #expect(try txn.count(db) == 10)
                _ = try txn.delete(db, bytes("k3"))
            }
            #expect(try environment.read { txn in try txn.count(db) } == 9)
        }
    }

    @Test func clear_removesEveryEntryAndKeepsDatabase() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("model")
            let other = try environment.database("other")
            try environment.write { txn in
                for i in 0..<100 { try txn.put(db, bytes("k\(i)"), bytes("v")) }
                try txn.put(other, bytes("k"), bytes("v"))
            }
            try environment.write { txn in try txn.clear(db) }
            try environment.read { txn throws in
                #expect(try txn.count(db) == 0)
                #expect(try txn.count(other) == 1, "clearing one database leaves the others")
            }
            try environment.write { txn in try txn.put(db, bytes("again"), bytes("v")) }
            #expect(try environment.read { txn in try txn.count(db) } == 1)
        }
    }

    @Test func databases_areSeparateKeySpaces() throws {
        try withEnvironment { environment, _ in
            let left = try environment.database("left")
            let right = try environment.database("right")
            #expect(left != right)
            try environment.write { txn in
                try txn.put(left, bytes("k"), bytes("L"))
                try txn.put(right, bytes("k"), bytes("R"))
            }
            try environment.read { txn throws in
                #expect(try txn.get(left, bytes("k")) == bytes("L"))
                #expect(try txn.get(right, bytes("k")) == bytes("R"))
            }
        }
    }

    @Test func database_whenOpenedTwice_returnsCachedHandle() throws {
        try withEnvironment { environment, _ in
            let first = try environment.database("events")
            let second = try environment.database("events")
            #expect(first == second)
            let main = try environment.database(nil)
            #expect(main != first)
        }
    }

    @Test func database_whenMissingAndCreateFalse_throwsNotFound() throws {
        try withEnvironment { environment, _ in
            #expect(throws: LMDBError.notFound) {
                _ = try environment.database("absent", create: false)
            }
            _ = try environment.database("present")
            _ = try environment.database("present", create: false)
        }
    }

    @Test func database_whenMoreThanMaxDatabases_throwsDbsFull() throws {
        var options = EnvironmentOptions()
        options.databasesMax = 2
        try withEnvironment(options: options) { environment, _ in
            _ = try environment.database("a")
            _ = try environment.database("b")
            #expect(throws: LMDBError.dbsFull) {
                _ = try environment.database("c")
            }
        }
    }

    @Test func database_whenIntegerKeys_ordersNumerically() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("numbers", integerKeys: true)
            try environment.write { txn in
                for n: UInt64 in [256, 1, 255] {
                    try txn.put(db, withUnsafeBytes(of: n) { Array($0) }, bytes("\(n)"))
                }
            }
            let order = try environment.read { txn in
                try txn.withCursor(db) { cursor in
                    var seen: [String] = []
                    while let entry = try cursor.next() { seen.append(string(entry.value)) }
                    return seen
                }
            }
            #expect(order == ["1", "255", "256"])
        }
    }

    @Test func read_whenNestedInReadOrWrite_works() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            try environment.write { txn in
                try txn.put(db, bytes("k"), bytes("v"))
                // A snapshot begun inside the write sees only committed data.
                let outside = try environment.read { inner in try inner.get(db, bytes("k")) }
                #expect(outside == nil)
            }
            let nested = try environment.read { _ in
                try environment.read { inner in try inner.get(db, bytes("k")) }
            }
            #expect(nested == bytes("v"))
        }
    }

    @Test func write_whenNestedInRead_commits() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            try environment.read { _ in
                try environment.write { txn in try txn.put(db, bytes("k"), bytes("v")) }
            }
            #expect(try environment.read { txn in try txn.get(db, bytes("k")) } == bytes("v"))
        }
    }
}
