import Foundation
import LMDB
import Testing

@testable import LedgerProjections

/// The views commit without fsync, so `DATA/views/state` is what decides, at start, whether
/// they can be trusted: `open <boot>` while a daemon has them, `clean <boot>` after a clean
/// stop. These pin the decisions the README's power-loss section promises.
@Suite struct ViewStoreMarkerTests {
    private func marker(_ dir: String) throws -> String {
        try String(contentsOfFile: dir + "/state", encoding: .utf8)
    }

    private func putRow(_ store: ViewStore) throws {
        let db = store.pairs[.daily]![0]
        try store.env.write { txn in try txn.put(db, Array("row".utf8), Array("1".utf8)) }
    }

    private func hasRow(_ store: ViewStore) throws -> Bool {
        let db = store.pairs[.daily]![0]
        return try store.env.read { txn in try txn.get(db, Array("row".utf8)) } != nil
    }

    @Test func open_writesTheOpenMarker_andLeavesNoTemporaryFile() throws {
        let scratch = try ScratchDirectory()
        let dir = scratch.path + "/views"
        let store = try ViewStore(directory: dir, mapSizeBytes: 1 << 22)
        #expect(try marker(dir) == "open \(ViewStore.bootID())\n")
        #expect(!FileManager.default.fileExists(atPath: dir + "/state.tmp"))
        store.closeClean()
        #expect(try marker(dir) == "clean \(ViewStore.bootID())\n")
        #expect(!FileManager.default.fileExists(atPath: dir + "/state.tmp"))
    }

    @Test func reopen_afterAProcessCrashInTheSameBoot_keepsTheViews() throws {
        let scratch = try ScratchDirectory()
        let dir = scratch.path + "/views"
        do {
            let store = try ViewStore(directory: dir, mapSizeBytes: 1 << 22)
            try putRow(store)
            store.env.close()  // no closeClean: the marker still says open, in this boot
        }
        let again = try ViewStore(directory: dir, mapSizeBytes: 1 << 22)
        #expect(again.discarded == nil)
        #expect(try hasRow(again))
    }

    @Test(arguments: [("open", true), ("clean", false)])
    func reopen_afterAnotherBoot_dropsTheViewsOnlyWhenLeftOpen(state: String, dropped: Bool) throws {
        let scratch = try ScratchDirectory()
        let dir = scratch.path + "/views"
        do {
            let store = try ViewStore(directory: dir, mapSizeBytes: 1 << 22)
            try putRow(store)
            if state == "clean" { store.closeClean() }
            store.env.close()
        }
        try ViewStore.writeMarker("\(state) another-boot\n", directory: dir)
        let again = try ViewStore(directory: dir, mapSizeBytes: 1 << 22)
        #expect((again.discarded != nil) == dropped)
        #expect(try hasRow(again) == !dropped)
        #expect(try marker(dir) == "open \(ViewStore.bootID())\n")
    }
}
