import Foundation
import LedgerStore
import Testing

/// `Locked` replaces `Synchronization.Mutex` so that ThreadSanitizer sees the lock: these run
/// in `tools/sanitize thread`, where a lock that did not exclude would be a reported race.
@Suite struct LockedTests {
    @Test func withLock_fromManyThreads_losesNoUpdate() {
        let counter = Locked(0)
        let threads = 4
        let rounds = 20_000
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for _ in 0..<rounds { counter.withLock { $0 += 1 } }
        }
        #expect(counter.withLock { $0 } == threads * rounds)
    }

    @Test func withLock_whenBodyThrows_rethrowsTheTypedErrorAndKeepsTheChangeMadeBeforeIt() {
        struct Refused: Error, Equatable {}
        let value = Locked([1])
        #expect(throws: Refused()) {
            try value.withLock { (v: inout [Int]) throws(Refused) in
                v.append(2)
                throw Refused()
            }
        }
        // The lock is free again and the value holds what the body wrote before it threw.
        #expect(value.withLock { $0 } == [1, 2])
    }
}
