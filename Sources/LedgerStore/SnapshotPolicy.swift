/// When the writer takes a snapshot: after `everyEvents` events or `everySeconds` of wall time
/// since the last one (when the log moved), whichever comes first; and at a clean stop.
public struct SnapshotPolicy: Sendable {
    public var everyEvents: UInt64 = 1_000_000
    public var everySeconds: Double = 300
    public init() {}
}
