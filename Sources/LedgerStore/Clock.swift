import Foundation
import LedgerCore

/// The daemon's clock: a dependency, so tests and `--clock manual` drive time by hand.
public protocol LedgerClock: Sendable {
    func now() -> Instant
    /// Non-nil for a manual clock: the ops `clock.set` / `clock.advance` exist only then.
    var manual: ManualClock? { get }
}

public struct SystemClock: LedgerClock {
    public init() {}
    public func now() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Instant(ms: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }
    public var manual: ManualClock? { nil }
}

/// Time moves only when told; it never goes back.
public final class ManualClock: LedgerClock, Sendable {
    private let time: Locked<Instant>

    public init(at start: Instant) { time = Locked(start) }

    public func now() -> Instant { time.withLock { $0 } }
    public var manual: ManualClock? { self }

    /// Moves to `instant`; false (and no change) when that would go back.
    @discardableResult
    public func set(_ instant: Instant) -> Bool {
        time.withLock { t in
            guard instant >= t else { return false }
            t = instant
            return true
        }
    }
}
