/// Milliseconds since the Unix epoch, UTC.
public struct Instant: Comparable, Hashable, Sendable {
    public var ms: Int64

    public init(ms: Int64) {
        self.ms = ms
    }

    public static func < (lhs: Instant, rhs: Instant) -> Bool {
        lhs.ms < rhs.ms
    }

    /// Traps on `Int64` overflow (about 292 million years away): that is a bug, not an input.
    public func adding(ms delta: Int64) -> Instant {
        Instant(ms: ms + delta)
    }

    public func adding(seconds: Int64) -> Instant {
        adding(ms: seconds * 1000)
    }
}

extension Instant {
    /// 0001-01-01T00:00:00.000Z, the first instant `init?(rfc3339:)` accepts.
    public static let rfc3339Min = Instant(ms: Int64(Civil.days(year: 1, month: 1, day: 1)) * Civil.msPerDay)
    /// 9999-12-31T23:59:59.999Z, the last instant `init?(rfc3339:)` accepts.
    public static let rfc3339Max = Instant(ms: Int64(Civil.days(year: 10_000, month: 1, day: 1)) * Civil.msPerDay - 1)

    /// Parses RFC 3339 (section 5.6): `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)`.
    ///
    /// `T` and `Z` may be lower case, as RFC 3339 allows. Fraction digits below milliseconds are truncated.
    /// A numeric offset is converted to UTC; `-00:00` reads as UTC. Rejected (nil): any other shape
    /// (missing seconds, a space for `T`, `+0545`, an empty fraction or more than 9 digits), an invalid date
    /// (Feb 30), hour 24, second 60 (leap seconds), years outside 0001...9999, and an instant that falls
    /// outside `rfc3339Min...rfc3339Max` once converted to UTC, so that every parsed instant formats back.
    public init?(rfc3339 text: String) {
        var text = text
        guard let ms = text.withUTF8({ RFC3339.parse($0) }) else { return nil }
        self.init(ms: ms)
    }

    /// Always `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, exactly 3 fraction digits) for instants in
    /// `rfc3339Min...rfc3339Max`; outside that range the year keeps all its digits and a `-` sign.
    public var rfc3339: String {
        ByteCursor.string(capacity: Instant.rfc3339BytesMax) { write(to: &$0) }
    }

    /// Room enough for `rfc3339` of any instant (a far year keeps all its digits).
    public static let rfc3339BytesMax = 48

    /// `rfc3339`'s bytes at the cursor, which must have `rfc3339BytesMax` bytes of room.
    public func write(to c: inout ByteCursor) {
        let start = c.count
        let days = Civil.floorDiv(ms, Civil.msPerDay)
        let msOfDay = Int(Civil.floorMod(ms, Civil.msPerDay))
        let date = Civil.date(days: Int(days))
        c.year(date.year)
        c.put(UInt8(ascii: "-"))
        c.digits(date.month, width: 2)
        c.put(UInt8(ascii: "-"))
        c.digits(date.day, width: 2)
        c.put(UInt8(ascii: "T"))
        c.digits(msOfDay / 3_600_000, width: 2)
        c.put(UInt8(ascii: ":"))
        c.digits(msOfDay / 60_000 % 60, width: 2)
        c.put(UInt8(ascii: ":"))
        c.digits(msOfDay / 1000 % 60, width: 2)
        c.put(UInt8(ascii: "."))
        c.digits(msOfDay % 1000, width: 3)
        c.put(UInt8(ascii: "Z"))
        assert(c.count - start == 24 || !(Instant.rfc3339Min...Instant.rfc3339Max).contains(self))
    }
}

extension Instant: CustomStringConvertible {
    public var description: String { rfc3339 }
}

private enum RFC3339 {
    /// `YYYY-MM-DDTHH:MM:SS` is 19 bytes; `.` + 9 digits + `+HH:MM` brings the longest accepted form to 35.
    static let bytesMin = 20
    static let bytesMax = 35

    static func parse(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard (bytesMin...bytesMax).contains(b.count) else { return nil }
        guard
            let year = ASCII.digits(b, at: 0, count: 4), b[4] == UInt8(ascii: "-"),
            let month = ASCII.digits(b, at: 5, count: 2), b[7] == UInt8(ascii: "-"),
            let day = ASCII.digits(b, at: 8, count: 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
            let hour = ASCII.digits(b, at: 11, count: 2), b[13] == UInt8(ascii: ":"),
            let minute = ASCII.digits(b, at: 14, count: 2), b[16] == UInt8(ascii: ":"),
            let second = ASCII.digits(b, at: 17, count: 2)
        else { return nil }
        guard year >= 1, (1...12).contains(month), (1...Civil.daysIn(year: year, month: month)).contains(day),
            hour <= 23, minute <= 59, second <= 59
        else { return nil }

        var i = 19
        var fractionMs = 0
        if b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, b[i] &- ASCII.zero <= 9 { i += 1 }
            let count = i - start
            guard (1...9).contains(count) else { return nil }
            for k in 0..<3 {
                fractionMs = fractionMs * 10 + (k < count ? Int(b[start + k] &- ASCII.zero) : 0)
            }
        }

        guard i < b.count else { return nil }
        var offsetSeconds = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard i + 6 == b.count,
                let offsetHours = ASCII.digits(b, at: i + 1, count: 2), b[i + 3] == UInt8(ascii: ":"),
                let offsetMinutes = ASCII.digits(b, at: i + 4, count: 2),
                offsetHours <= 23, offsetMinutes <= 59
            else { return nil }
            let sign = b[i] == UInt8(ascii: "+") ? 1 : -1
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
            i += 6
        default:
            return nil
        }
        guard i == b.count else { return nil }

        let days = Int64(Civil.days(year: year, month: month, day: day))
        let localSeconds = days * Civil.secondsPerDay + Int64(hour * 3600 + minute * 60 + second)
        let ms = (localSeconds - Int64(offsetSeconds)) * 1000 + Int64(fractionMs)
        guard (Instant.rfc3339Min.ms...Instant.rfc3339Max.ms).contains(ms) else { return nil }
        assert((0...999).contains(fractionMs))
        return ms
    }
}
