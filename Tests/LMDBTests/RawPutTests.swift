import LMDB
import Testing

/// The puts that take raw bytes and the one that reserves the value's space in the map.
@Suite struct RawPutTests {
    @Test func putRaw_thenGet_returnsValue() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            try environment.write { txn in
                try bytes("alpha").withUnsafeBytes { k in
                    try bytes("one").withUnsafeBytes { v in try txn.put(db, key: k, value: v) }
                }
                try bytes("empty").withUnsafeBytes { k in
                    try txn.put(db, key: k, value: UnsafeRawBufferPointer(start: nil, count: 0))
                }
            }
            try environment.read { txn throws in
                #expect(try txn.get(db, bytes("alpha")) == bytes("one"))
                #expect(try txn.get(db, bytes("empty")) == [])
            }
        }
    }

    @Test func putRaw_whenNoOverwriteAndKeyExists_throwsKeyExists() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("main")
            try environment.write { txn in try txn.put(db, bytes("k"), bytes("first")) }
            try environment.write { txn throws in
                bytes("k").withUnsafeBytes { k in
                    bytes("second").withUnsafeBytes { v in
                        _ = #expect(throws: LMDBError.keyExists) {
                            try txn.put(db, key: k, value: v, noOverwrite: true)
                        }
                    }
                }
            }
            #expect(try environment.read { txn in try txn.get(db, bytes("k")) } == bytes("first"))
        }
    }

    @Test func putReserving_thenGet_returnsWhatFillWrote() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("events")
            try environment.write { txn in
                for seq in UInt64(1)...3 {
                    let v = value(for: seq, bytes: 300)
                    try withUnsafeBytes(of: seq.bigEndian) { k in
                        try txn.put(db, key: k, reserving: v.count, append: true) { space in
                            v.withUnsafeBytes { space.copyMemory(from: $0) }
                        }
                    }
                }
            }
            try environment.read { txn throws in
                for seq in UInt64(1)...3 {
                    #expect(try txn.get(db, BigEndian.bytes(seq)) == value(for: seq, bytes: 300))
                }
            }
        }
    }

    @Test func putReserving_whenAppendOutOfOrder_throwsKeyExistsAndWritesNothing() throws {
        try withEnvironment { environment, _ in
            let db = try environment.database("events")
            try environment.write { txn in try txn.put(db, BigEndian.bytes(5), bytes("five"), append: true) }
            try environment.write { txn in
                withUnsafeBytes(of: UInt64(4).bigEndian) { k in
                    _ = #expect(throws: LMDBError.keyExists) {
                        try txn.put(db, key: k, reserving: 4, append: true) { _ in
                            Issue.record("fill ran for a refused put")
                        }
                    }
                }
            }
            #expect(try environment.read { txn in try txn.get(db, BigEndian.bytes(4)) } == nil)
        }
    }

    /// On `MDB_MAP_FULL` the body runs again in a new transaction: reserved values are written again.
    @Test func putReserving_whenMapGrows_keepsEveryValue() throws {
        try withEnvironment(options: tinyMapOptions()) { environment, _ in
            let db = try environment.database("events")
            var attempts = 0
            try environment.write { txn in
                attempts += 1
                for seq in UInt64(1)...1_280 {
                    let v = value(for: seq, bytes: 4 << 10)
                    try withUnsafeBytes(of: seq.bigEndian) { k in
                        try txn.put(db, key: k, reserving: v.count, append: true) { space in
                            v.withUnsafeBytes { space.copyMemory(from: $0) }
                        }
                    }
                }
            }
            #expect(attempts > 1, "MAP_FULL must have re-run the body")
            try environment.read { txn throws in
                #expect(try txn.count(db) == 1_280)
                for seq in [UInt64(1), 640, 1_280] {
                    #expect(try txn.get(db, BigEndian.bytes(seq)) == value(for: seq, bytes: 4 << 10))
                }
            }
        }
    }
}
