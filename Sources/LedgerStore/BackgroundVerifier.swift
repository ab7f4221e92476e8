import Foundation
import LedgerCore
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// `--verify-on-start background`: after a start from a snapshot, re-derives the log from seq 1
/// up to that snapshot on a low-priority thread while the daemon serves, and checks that the
/// fold there is the snapshot, byte for byte. The tail after it was checked before serving,
/// and everything after that the writer sealed itself. A failure goes to `onFailure` (the
/// writer's `integrity` mode).
public final class BackgroundVerifier: @unchecked Sendable {
    public enum Outcome: Sendable, Equatable {
        case running
        case passed(events: UInt64, seconds: Double)
        case failed(String)
        case skipped(String)
    }

    let storage: any LogStorage
    let logger: Logger
    let snapshotSeq: UInt64
    let snapshotBytes: [UInt8]?
    let onFailure: @Sendable (Rejection) -> Void
    private let box = Locked(Outcome.running)
    private let stopping = Locked(false)
    private let done = DispatchSemaphore(value: 0)

    /// `snapshotSeq` 0 means the start folded the whole log: nothing is left to check.
    public init(
        storage: any LogStorage, snapshotSeq: UInt64, logger: Logger, onFailure: @escaping @Sendable (Rejection) -> Void
    ) {
        self.storage = storage
        self.snapshotSeq = snapshotSeq
        self.logger = logger
        self.onFailure = onFailure
        // Read now: the snapshot may be rotated out while the check runs.
        snapshotBytes = snapshotSeq == 0 ? nil : (try? storage.snapshotBytes(seq: snapshotSeq)) ?? nil
    }

    public var outcome: Outcome { box.withLock { $0 } }

    public func start() {
        let t = Thread { [self] in
            #if canImport(Glibc)
                // Nice 19: on Linux `setpriority(PRIO_PROCESS, 0)` applies to the calling thread only.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            #endif
            let o = run()
            box.withLock { $0 = o }
            done.signal()
        }
        t.name = "tokenledger-verify"
        t.start()
    }

    /// Waits for the check to end (tests).
    public func wait() {
        done.wait()
        done.signal()
    }

    /// Ends the check early and waits for its thread (before the environment closes).
    public func stop() {
        stopping.withLock { $0 = true }
        wait()
    }

    private func run() -> Outcome {
        guard snapshotSeq > 0 else { return .skipped("the start folded the whole log") }
        guard let expected = snapshotBytes else {
            let r = Rejection(.integrity, "the snapshot at seq \(snapshotSeq) could not be read back", seq: snapshotSeq)
            logger.error("background check: \(r.message)")
            return .skipped(r.message)
        }
        logger.info("background check of the log started", metadata: ["ledger.through": "\(snapshotSeq)"])
        let t0 = Date()
        do {
            var mismatch: Rejection?
            let failure = try LogFold.run(
                storage: storage, through: snapshotSeq, at: [snapshotSeq],
                progress: { [logger] seq in logger.debug("background check", metadata: ["ledger.seq": "\(seq)"]) },
                stop: { [stopping] in stopping.withLock { $0 } }
            ) { folded in
                if SnapshotCodec.encode(folded) != expected {
                    mismatch = Rejection(
                        .integrity, "the snapshot at seq \(snapshotSeq) differs from the fold of the log",
                        seq: snapshotSeq)
                }
            }
            if let f = failure ?? mismatch {
                onFailure(f)
                return .failed(f.message)
            }
        } catch is CancellationError {
            return .skipped("stopped")
        } catch {
            logger.error("background check could not read the log", metadata: ["error": "\(error)"])
            return .skipped("log unreadable: \(error)")
        }
        let seconds = Date().timeIntervalSince(t0)
        logger.info(
            "background check passed",
            metadata: ["ledger.through": "\(snapshotSeq)", "seconds": "\(String(format: "%.1f", seconds))"])
        return .passed(events: snapshotSeq, seconds: seconds)
    }
}
