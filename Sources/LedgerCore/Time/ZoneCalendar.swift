// Foundation is used here only to look up UTC offsets in tzdata; everything else is integer arithmetic.
import Foundation

/// A team's time zone: an IANA name, DST-aware, answering in `LocalDay`s and `Instant`s.
///
/// Accepted names: exactly `UTC` (answered without Foundation), or a name that Foundation finds in tzdata
/// and reports back unchanged, spelled with `A-Z a-z 0-9 / _ + -`. So `America/New_York`, `Etc/UTC`,
/// `Etc/GMT+5`, `US/Eastern`, `GMT` are accepted; `utc`, `america/new_york`, and Foundation's own
/// offset forms (`GMT+5`, `UTC+1`, `GMT+0500`) are not. The stored `TimeZone` makes per-event calls
/// cheap (about 60 ns per offset lookup on the build machine; Foundation also caches zones by name).
public struct ZoneCalendar: Sendable, Hashable {
    public let identifier: String
    /// nil for `UTC`.
    private let zone: TimeZone?

    public static let utc = ZoneCalendar(utcIdentifier: ())

    /// Real offsets stay within ±16h (the widest is Manila's LMT, -15:56:08), so the instant a local
    /// time occurs lies within this many seconds of the same wall-clock reading in UTC.
    static let offsetBoundSeconds: Int64 = 18 * 3600
    /// Offset changes in tzdata 2025b are at least ~4 days apart (Africa/Freetown, 344,400 s), so sampling
    /// hourly cannot step over a change and back again.
    static let sampleStepSeconds: Int64 = 3600
    static let identifierBytesMax = 64

    private init(utcIdentifier: Void) {
        identifier = "UTC"
        zone = nil
    }

    /// Nil for names that are not IANA zone names known to tzdata; `UTC` always works.
    public init?(identifier: String) {
        if identifier == "UTC" {
            self = .utc
            return
        }
        guard ZoneCalendar.isIANAShaped(identifier), let zone = TimeZone(identifier: identifier),
            zone.identifier == identifier
        else { return nil }
        self.identifier = identifier
        self.zone = zone
    }

    public static func == (lhs: ZoneCalendar, rhs: ZoneCalendar) -> Bool {
        lhs.identifier == rhs.identifier
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(identifier)
    }

    /// Seconds to add to UTC to get local wall-clock time at `t`.
    public func offsetSeconds(at t: Instant) -> Int {
        Int(offset(atSecond: Civil.floorDiv(t.ms, 1000)))
    }

    /// The local date at `t`.
    public func day(of t: Instant) -> LocalDay {
        let localMs = t.ms + offset(atSecond: Civil.floorDiv(t.ms, 1000)) * 1000
        return LocalDay(daysSinceEpoch: Int(Civil.floorDiv(localMs, Civil.msPerDay)))
    }

    /// The first instant of local day `d`: the first instant whose local wall-clock time is `d` 00:00 or later.
    /// A repeated midnight counts once (the first occurrence); a skipped midnight starts the day at the first
    /// instant that exists (the transition instant). A day skipped entirely (Pacific/Apia 2011-12-30) starts
    /// where the following day does.
    public func startOfDay(_ d: LocalDay) -> Instant {
        let midnight = Int64(d.daysSinceEpoch) * Civil.secondsPerDay
        guard zone != nil else { return Instant(ms: midnight * 1000) }
        return Instant(ms: firstSecond(withLocalTimeAtLeast: midnight) * 1000)
    }

    /// The first instant strictly after `t` that begins a local day: `startOfDay(day(of: t) + 1)`, or a later
    /// day's start where a clock set back across midnight makes that one not after `t`.
    public func nextDayStart(after t: Instant) -> Instant {
        var d = day(of: t).adding(days: 1)
        for _ in 0..<3 {
            let start = startOfDay(d)
            if start > t { return start }
            d = d.adding(days: 1)
        }
        preconditionFailure("\(identifier): no day start within 3 days after \(t)")
    }

    /// The local day on which the cycle of `year`-`month` starts: the anchor day, or the month's last day
    /// when the month is shorter (anchor 31 in April is the 30th). `anchor` is 1...31.
    public func cycleStartDay(anchor: Int, year: Int, month: Int) -> LocalDay {
        precondition((1...31).contains(anchor), "cycle anchor out of range: \(anchor)")
        precondition((1...12).contains(month), "month out of range: \(month)")
        return LocalDay(unchecked: year, month, min(anchor, Civil.daysIn(year: year, month: month)))
    }

    /// The first cycle start strictly after `t`: the start of the anchor day in `t`'s local month if that is
    /// after `t`, else in the following month.
    public func nextCycleStart(after t: Instant, anchor: Int) -> Instant {
        var month = day(of: t).firstOfMonth
        for _ in 0..<3 {
            let start = startOfDay(cycleStartDay(anchor: anchor, year: month.year, month: month.month))
            if start > t { return start }
            month = month.firstOfNextMonth
        }
        preconditionFailure("\(identifier): no cycle start within 3 months after \(t)")
    }

    /// The last cycle start at or before `t` (the start of the cycle `t` falls in).
    public func cycleStart(atOrBefore t: Instant, anchor: Int) -> Instant {
        var month = day(of: t).firstOfMonth
        for _ in 0..<3 {
            let start = startOfDay(cycleStartDay(anchor: anchor, year: month.year, month: month.month))
            if start <= t { return start }
            month = month.firstOfPreviousMonth
        }
        preconditionFailure("\(identifier): no cycle start within 3 months before \(t)")
    }

    // MARK: - Offsets

    /// Offsets change only at whole seconds, so the offset of a whole second holds for its 1000 ms; asking
    /// Foundation with an integral `Date` also keeps floating point away from transition instants.
    private func offset(atSecond second: Int64) -> Int64 {
        guard let zone else { return 0 }
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(second))))
        assert(abs(offset) < ZoneCalendar.offsetBoundSeconds)
        return offset
    }

    /// The first whole second `s` with `s + offset(s) >= localSecond`.
    ///
    /// The offset is piecewise constant; walk its pieces across the window where the answer must lie and take
    /// the first piece that reaches `localSecond`. Unlike a binary search, this stays right where the local
    /// day goes backwards (a clock set back across midnight), which is how the first occurrence wins.
    private func firstSecond(withLocalTimeAtLeast localSecond: Int64) -> Int64 {
        let windowEnd = localSecond + ZoneCalendar.offsetBoundSeconds
        var pieceStart = localSecond - ZoneCalendar.offsetBoundSeconds
        var pieceOffset = offset(atSecond: pieceStart)
        while true {
            let pieceEnd = nextOffsetChange(after: pieceStart, from: pieceOffset, through: windowEnd)
            let candidate = max(pieceStart, localSecond - pieceOffset)
            if candidate < pieceEnd {
                assert(candidate + offset(atSecond: candidate) >= localSecond)
                assert(candidate - 1 + offset(atSecond: candidate - 1) < localSecond || candidate == pieceStart)
                return candidate
            }
            precondition(pieceEnd <= windowEnd, "\(identifier): local second \(localSecond) not reached in window")
            pieceStart = pieceEnd
            pieceOffset = offset(atSecond: pieceStart)
        }
    }

    /// The first second after `start` whose offset differs from `offset` (which holds at `start`), or
    /// `limit + 1` when it holds through `limit`.
    private func nextOffsetChange(after start: Int64, from offset: Int64, through limit: Int64) -> Int64 {
        var same = start
        while same < limit {
            let probe = min(same + ZoneCalendar.sampleStepSeconds, limit)
            if self.offset(atSecond: probe) != offset {
                var different = probe
                while different - same > 1 {
                    let mid = same + (different - same) / 2
                    if self.offset(atSecond: mid) == offset { same = mid } else { different = mid }
                }
                return different
            }
            same = probe
        }
        return limit + 1
    }

    // MARK: - Names

    private static func isIANAShaped(_ name: String) -> Bool {
        let bytes = name.utf8
        guard (1...identifierBytesMax).contains(bytes.count) else { return false }
        guard
            bytes.allSatisfy({ byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "/"), UInt8(ascii: "_"), UInt8(ascii: "+"),
                    UInt8(ascii: "-"):
                    return true
                default:
                    return false
                }
            })
        else { return false }
        // Foundation invents zones for `GMT+5`, `UTC-0300`, ...; only tzdata names belong in the ledger.
        for prefix in ["GMT+", "GMT-", "UTC+", "UTC-"] where name.hasPrefix(prefix) { return false }
        return true
    }
}
