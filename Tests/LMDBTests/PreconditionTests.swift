import Foundation
import LMDB
import Testing

/// Misuse that would deadlock or silently read the wrong data stops the process instead (exit tests).
@Suite struct PreconditionTests {
    @Test func write_whenNestedInWriteOnSameThread_stopsProcess() async {
        await #expect(processExitsWith: .failure) {
            try nestedWrite()
        }
    }

    @Test func database_whenUsedWithAnotherEnvironment_stopsProcess() async {
        await #expect(processExitsWith: .failure) {
            try crossEnvironmentRead()
        }
    }

    @Test func bigEndianUInt64_whenShorterThanEightBytes_stopsProcess() async {
        await #expect(processExitsWith: .failure) {
            _ = BigEndian.uint64([1, 2, 3, 4])
        }
    }
}

private func nestedWrite() throws {
    try withEnvironment { environment, _ in
        let db = try environment.database("main")
        try environment.write { _ in
            try environment.write { txn in try txn.put(db, bytes("k"), bytes("v")) }
        }
    }
}

private func crossEnvironmentRead() throws {
    try withEnvironment { first, _ in
        try withEnvironment { second, _ in
            let db = try first.database("main")
            _ = try second.read { txn in try txn.get(db, bytes("k")) }
        }
    }
}
