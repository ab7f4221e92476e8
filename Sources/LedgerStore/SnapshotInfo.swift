import Foundation

/// A stored snapshot: the log seq it stands at, its size, when it was written (wall clock).
public struct SnapshotInfo: Sendable, Equatable {
    public var seq: UInt64
    public var bytes: Int
    public var writtenAtMs: Int64

    public init(seq: UInt64, bytes: Int, writtenAtMs: Int64) {
        self.seq = seq
        self.bytes = bytes
        self.writtenAtMs = writtenAtMs
    }

    /// Whole seconds since it was written, by the wall clock (0 when the clock is behind it).
    public func ageSeconds(nowMs: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) -> Int64 {
        max(0, nowMs - writtenAtMs) / 1000
    }
}
