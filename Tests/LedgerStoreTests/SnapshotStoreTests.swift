import Foundation
import LMDB
import LedgerCore
import Testing

@testable import LedgerStore

/// The LMDB snapshot store: chunked writes read back whole, the newest two kept, chunks a
/// crash left without a manifest cleaned up, and a start that skips what does not check out.
@Suite struct SnapshotStoreTests {
    @Test func aSnapshotInManyChunks_readsBackWhole_andOnlyTheNewestTwoAreKept() throws {
        let dir = try ScratchDirectory()
        let storage = try LMDBLogStorage(directory: dir.path, mapSizeBytes: 1 << 24)
        storage.snapshotChunkBytes = 1000
        let blobs: [UInt64: [UInt8]] = [
            5: (0..<4321).map { UInt8(truncatingIfNeeded: $0 &* 7) }, 9: Array(repeating: 0xAB, count: 1000),
            12: [1, 2, 3],
        ]
        for seq in blobs.keys.sorted() {
            try storage.storeSnapshot(seq: seq, bytes: blobs[seq]!, writtenAtMs: Int64(seq))
        }
        #expect(try storage.snapshots().map(\.seq) == [12, 9])
        #expect(try storage.snapshots().map(\.bytes) == [3, 1000])
        #expect(try storage.snapshotBytes(seq: 12) == blobs[12])
        #expect(try storage.snapshotBytes(seq: 9) == blobs[9])
        #expect(try storage.snapshotBytes(seq: 5) == nil)
        // Nothing of seq 5 is left: its chunks went with its manifest.
        let leftovers = try storage.env.read { txn in
            try txn.withCursor(storage.snapshotsDB) { cursor -> Int in
                var n = 0
                var e = try cursor.first()
                while let entry = e {
                    if BigEndian.uint64(UnsafeRawBufferPointer(rebasing: entry.key[1..<9])) == 5 { n += 1 }
                    e = try cursor.next()
                }
                return n
            }
        }
        #expect(leftovers == 0)
    }

    @Test func chunksACrashLeftWithoutAManifest_areInvisible_andCleanedByTheNextSnapshot() throws {
        let dir = try ScratchDirectory()
        let storage = try LMDBLogStorage(directory: dir.path, mapSizeBytes: 1 << 24)
        storage.snapshotChunkBytes = 10
        try storage.env.write { txn in
            try txn.put(storage.snapshotsDB, LMDBLogStorage.chunkKey(40, 0), Array(repeating: 1, count: 10))
        }
        #expect(try storage.snapshots().isEmpty)
        try storage.storeSnapshot(seq: 41, bytes: Array(repeating: 2, count: 25), writtenAtMs: 1)
        #expect(try storage.snapshots().map(\.seq) == [41])
        let orphan = try storage.env.read { txn in try txn.get(storage.snapshotsDB, LMDBLogStorage.chunkKey(40, 0)) }
        #expect(orphan == nil)
    }

    @Test func aStartSkipsASnapshotWhoseHashIsNotTheLogs_andOnePastTheHead_sayingWhy() throws {
        let h = try EngineHarness(.lmdb)
        h.setUpAcme()
        for i in 1...5 {
            h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":\#(i),"key":"c\#(i)"}"#)
        }
        let head = h.engine.state.head
        let good = SnapshotCodec.encode(h.engine.snapshot()!)
        // The same state claiming another hash, and a snapshot beyond the head.
        var other = h.engine.snapshot()!
        other.headHash = Array(repeating: 7, count: 32)
        var ahead = h.engine.snapshot()!
        ahead.state.head = head + 10
        try h.storage.storeSnapshot(seq: head - 1, bytes: good, writtenAtMs: 0)  // says seq head inside: refused
        try h.storage.storeSnapshot(seq: head, bytes: SnapshotCodec.encode(other), writtenAtMs: 0)
        try h.restart()
        #expect(h.engine.lastLoad.snapshotSeq == 0, "\(h.engine.lastLoad)")
        #expect(h.engine.lastLoad.skipped.map(\.seq) == [head, head - 1])
        #expect(h.engine.lastLoad.skipped[0].reason.contains("head hash"))
        #expect(h.engine.lastLoad.skipped[1].reason.contains("bytes say seq"))
        #expect(h.engine.integrityFailure == nil)
        try h.storage.storeSnapshot(seq: head + 10, bytes: SnapshotCodec.encode(ahead), writtenAtMs: 0)
        try h.storage.storeSnapshot(seq: head, bytes: good, writtenAtMs: 0)
        try h.restart()
        #expect(h.engine.lastLoad.snapshotSeq == head && h.engine.lastLoad.tailEvents == 0, "\(h.engine.lastLoad)")
        #expect(h.engine.lastLoad.skipped.first?.reason.contains("past the log's head") == true)
        try h.expectReplayMatches("after a start from a snapshot")
    }

    @Test func theBackgroundCheck_findsAnEventBeforeTheSnapshotThatFailsItsHash() throws {
        let h = try EngineHarness(.memory, faultable: true)
        h.setUpAcme()
        for i in 1...6 {
            h.one(#"{"op":"consume","team":"acme","user":"ann","model":"m","cost":\#(i),"key":"c\#(i)"}"#)
        }
        let snapshot = h.engine.snapshot()!
        try h.storage.storeSnapshot(seq: snapshot.seq, bytes: SnapshotCodec.encode(snapshot), writtenAtMs: 0)
        h.faults.tamper(seq: 3) { bytes in
            let i = bytes.firstIndex(of: UInt8(ascii: "a"))!
            bytes[i] = UInt8(ascii: "b")
        }
        try h.restart()
        #expect(h.engine.lastLoad.snapshotSeq == snapshot.seq)
        #expect(h.engine.integrityFailure == nil, "the tail-only start does not read seq 3")
        let found = Locked<[Rejection]>([])
        let verifier = BackgroundVerifier(storage: h.storage, snapshotSeq: snapshot.seq, logger: quietLogger) { r in
            found.withLock { $0.append(r) }
        }
        verifier.start()
        verifier.wait()
        #expect(found.withLock { $0.map(\.seq) } == [3])
        h.engine.enterIntegrityMode(found.withLock { $0[0] })
        #expect(h.one(#"{"op":"balance","team":"acme"}"#).code == .integrity)
        #expect(h.engine.logHead.seq == snapshot.seq, "ping and verify still see the head")
    }
}
