import LedgerCore

/// Folds the log from seq 1, re-deriving every hash, and shows the state at chosen seqs: what
/// the background check and `tokenledgerd verify-snapshot` compare snapshots with.
public enum LogFold {
    /// Folds events 1...`through`; calls `visit` with the snapshot at each seq of `at` as the
    /// fold passes it, and `progress` every `progressEvery` events. Returns the first event
    /// that fails its check (as an `integrity` rejection naming it), or nil.
    public static func run(
        storage: any LogStorage, through: UInt64, at: Set<UInt64>, progressEvery: UInt64 = 1_000_000,
        progress: (UInt64) -> Void = { _ in }, stop: () -> Bool = { false }, visit: (Snapshot) throws -> Void
    ) throws -> Rejection? {
        var s = LedgerState()
        var prev = HashChain.genesis
        var next: UInt64 = 1
        while next <= through {
            if stop() { throw CancellationError() }
            let chunk = try storage.events(from: next, limit: Int(min(4096, through - next + 1)))
            guard !chunk.isEmpty else {
                return Rejection(.integrity, "the log ends at seq \(next - 1), before seq \(through)", seq: next)
            }
            for stored in chunk {
                do {
                    let (event, h) = try HashChain.open(stored: stored.bytes, previous: prev, expectedSeq: next)
                    s.apply(event)
                    prev = h
                } catch {
                    return Rejection(
                        .integrity, "event \(stored.seq) fails its check: \(error.description)", seq: stored.seq)
                }
                if at.contains(next) { try visit(Snapshot(state: s, headHash: prev)) }
                if next % progressEvery == 0 { progress(next) }
                next += 1
            }
        }
        return nil
    }
}
