import Foundation
import LMDB
import LedgerCore
import Testing

@testable import LedgerStore

/// Idempotency keys are forgotten after their retention, oldest first, inside commits
/// (`CommitBatch.pruneKeysBefore`), through the `key_times` index: never by a full scan.
@Suite struct KeyPruningTests {
    static func record(_ seq: UInt64, at ms: Int64) -> KeyRecord {
        KeyRecord(seq: seq, digest: [UInt8](repeating: UInt8(seq), count: 32), ts: Instant(ms: ms))
    }

    static func batch(_ keys: [(String, KeyRecord)], pruneBefore: Int64? = nil) -> CommitBatch {
        var b = CommitBatch()
        b.keys = keys.map { (key: $0.0, record: $0.1) }
        b.pruneKeysBefore = pruneBefore.map { Instant(ms: $0) }
        return b
    }

    static func withStorage(_ body: (LMDBLogStorage) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tl-prune-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let storage = try LMDBLogStorage(directory: dir, mapSizeBytes: 1 << 24)
        defer { storage.env.close() }
        try body(storage)
    }

    @Test func prune_forgetsOnlyKeysLastUsedBeforeTheCutoff() throws {
        try Self.withStorage { storage in
            try storage.commit(
                Self.batch([("old-1", Self.record(1, at: 1_000)), ("old-2", Self.record(2, at: 5_000))]))
            try storage.commit(Self.batch([("new", Self.record(3, at: 9_000))], pruneBefore: 6_000))
            let found = try storage.lookupKeys(["old-1", "old-2", "new"])
            #expect(found["old-1"] == nil)
            #expect(found["old-2"] == nil)
            #expect(found["new"] == Self.record(3, at: 9_000))
            #expect(storage.keysPruned == 2)
        }
    }

    @Test func prune_whenAKeyWasUsedAgain_keepsItsNewerRecord() throws {
        try Self.withStorage { storage in
            try storage.commit(Self.batch([("k", Self.record(1, at: 1_000))]))
            try storage.commit(Self.batch([("k", Self.record(2, at: 8_000))]))
            try storage.commit(Self.batch([("other", Self.record(3, at: 9_000))], pruneBefore: 6_000))
            #expect(try storage.lookupKeys(["k"])["k"] == Self.record(2, at: 8_000))
            #expect(storage.keysPruned == 0)
        }
    }

    @Test func prune_takesABoundedNumberPerCommit() throws {
        try Self.withStorage { storage in
            storage.pruneKeysPerCommitMax = 10
            let many = (0..<25).map { ("k\($0)", Self.record(UInt64($0 + 1), at: Int64(1_000 + $0))) }
            try storage.commit(Self.batch(many))
            try storage.commit(Self.batch([("a", Self.record(100, at: 9_000))], pruneBefore: 6_000))
            #expect(storage.keysPruned == 10)
            try storage.commit(Self.batch([("b", Self.record(101, at: 9_000))], pruneBefore: 6_000))
            try storage.commit(Self.batch([("c", Self.record(102, at: 9_000))], pruneBefore: 6_000))
            #expect(storage.keysPruned == 25)
            #expect(try storage.lookupKeys(many.map(\.0)).isEmpty)
        }
    }
}
