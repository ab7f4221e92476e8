/// What the last start cost, for `stats` and the start-up log line: seconds from the process's
/// start to serving, the snapshot it started from (0: none) and the events folded after it.
public struct StartupFigures: Sendable, Equatable {
    public var seconds: Double
    public var snapshotSeq: UInt64
    public var tailEvents: UInt64

    public init(seconds: Double, snapshotSeq: UInt64, tailEvents: UInt64) {
        self.seconds = seconds
        self.snapshotSeq = snapshotSeq
        self.tailEvents = tailEvents
    }
}
