/// The write side at one point of the log: the folded state and the hash of the event at its
/// head (`state.head`). Everything the decider and the scheduler need to go on from there:
/// the scheduler's cursor and the key-retention position are both `state.lastTs`.
public struct Snapshot: Sendable, Equatable {
    public var state: LedgerState
    public var headHash: [UInt8]

    public init(state: LedgerState, headHash: [UInt8]) {
        precondition(headHash.count == 32, "a head hash is a SHA-256")
        self.state = state
        self.headHash = headHash
    }

    public var seq: UInt64 { state.head }
}
