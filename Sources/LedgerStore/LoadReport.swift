/// How a load of the write side went: the snapshot it started from (0: genesis), the events
/// folded after it, and the snapshots skipped on the way, with why.
public struct LoadReport: Sendable, Equatable {
    public struct Skipped: Sendable, Equatable {
        public var seq: UInt64
        public var reason: String
    }

    public var snapshotSeq: UInt64
    public var tailEvents: UInt64
    public var skipped: [Skipped]
}
