/// A calendar day, proleptic Gregorian, with no time zone of its own.
///
/// The validated initialisers accept years 1...9999 (what `YYYY-MM-DD` can spell); arithmetic may leave
/// that range, in which case `description` keeps every digit of the year and a `-` sign.
public struct LocalDay: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public static let yearRange = 1...9999

    /// Nil unless the date exists (no Feb 30) and the year is in `yearRange`.
    public init?(year: Int, month: Int, day: Int) {
        guard LocalDay.yearRange.contains(year), (1...12).contains(month),
            (1...Civil.daysIn(year: year, month: month)).contains(day)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Exactly `YYYY-MM-DD`; nothing before or after.
    public init?(string: String) {
        var text = string
        let parts: (Int, Int, Int)? = text.withUTF8 { b in
            guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
                let year = ASCII.digits(b, at: 0, count: 4),
                let month = ASCII.digits(b, at: 5, count: 2),
                let day = ASCII.digits(b, at: 8, count: 2)
            else { return nil }
            return (year, month, day)
        }
        guard let (year, month, day) = parts else { return nil }
        self.init(year: year, month: month, day: day)
    }

    /// The day `daysSinceEpoch` days after 1970-01-01 (total: any value gives a day).
    public init(daysSinceEpoch: Int) {
        let date = Civil.date(days: daysSinceEpoch)
        year = date.year
        month = date.month
        day = date.day
    }

    public static func < (lhs: LocalDay, rhs: LocalDay) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    /// `YYYY-MM-DD`.
    public var description: String {
        ByteCursor.string(capacity: LocalDay.bytesMax) { write(to: &$0) }
    }

    /// Room enough for `description` of any day (a far year keeps all its digits).
    public static let bytesMax = 32

    /// `description`'s bytes at the cursor, which must have `bytesMax` bytes of room.
    public func write(to c: inout ByteCursor) {
        c.year(year)
        c.put(UInt8(ascii: "-"))
        c.digits(month, width: 2)
        c.put(UInt8(ascii: "-"))
        c.digits(day, width: 2)
    }

    public func adding(days: Int) -> LocalDay {
        LocalDay(daysSinceEpoch: daysSinceEpoch + days)
    }

    /// 1970-01-01 = 0.
    public var daysSinceEpoch: Int {
        Civil.days(year: year, month: month, day: day)
    }

    /// ISO: Monday = 1 ... Sunday = 7 (1970-01-01 was a Thursday).
    public var weekday: Int {
        Int(Civil.floorMod(Int64(daysSinceEpoch) + 3, 7)) + 1
    }

    /// 1 for January 1st.
    public var dayOfYear: Int {
        daysSinceEpoch - Civil.days(year: year, month: 1, day: 1) + 1
    }

    /// The Monday starting this day's ISO week.
    public var isoWeekMonday: LocalDay {
        adding(days: 1 - weekday)
    }

    /// The ISO-8601 week-numbering year: the calendar year of this week's Thursday.
    public var isoWeekYear: Int {
        isoWeekMonday.adding(days: 3).year
    }

    /// 1...53: week 1 is the week holding the year's first Thursday.
    public var isoWeekNumber: Int {
        let thursday = isoWeekMonday.adding(days: 3)
        let week = (thursday.dayOfYear - 1) / 7 + 1
        assert((1...53).contains(week))
        return week
    }

    /// `2026-W02`; the year is the ISO week-numbering year (2027-01-01 is `2026-W53`).
    public var isoWeekLabel: String {
        var out: [UInt8] = []
        out.reserveCapacity(8)
        ASCII.appendYear(isoWeekYear, to: &out)
        out.append(contentsOf: "-W".utf8)
        ASCII.append(isoWeekNumber, width: 2, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `2026-01`.
    public var monthLabel: String {
        var out: [UInt8] = []
        out.reserveCapacity(7)
        ASCII.appendYear(year, to: &out)
        out.append(UInt8(ascii: "-"))
        ASCII.append(month, width: 2, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public var firstOfMonth: LocalDay {
        var first = self
        first.day = 1
        return first
    }

    /// The first day of the following month.
    public var firstOfNextMonth: LocalDay {
        month == 12 ? LocalDay(unchecked: year + 1, 1, 1) : LocalDay(unchecked: year, month + 1, 1)
    }

    /// The first day of the preceding month.
    public var firstOfPreviousMonth: LocalDay {
        month == 1 ? LocalDay(unchecked: year - 1, 12, 1) : LocalDay(unchecked: year, month - 1, 1)
    }

    public static func daysIn(year: Int, month: Int) -> Int {
        Civil.daysIn(year: year, month: month)
    }

    /// For dates derived from a valid one, where the year may leave `yearRange`.
    init(unchecked year: Int, _ month: Int, _ day: Int) {
        assert((1...12).contains(month) && (1...Civil.daysIn(year: year, month: month)).contains(day))
        self.year = year
        self.month = month
        self.day = day
    }
}
