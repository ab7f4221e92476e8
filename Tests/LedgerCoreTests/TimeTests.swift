import Testing

@testable import LedgerCore

/// RFC 3339 instants and `LocalDay` arithmetic: pure integer code, no time zones.
@Suite struct TimeTests {
    // MARK: - Instant, RFC 3339

    @Test(
        arguments: [
            ("1970-01-01T00:00:00.000Z", 0),
            ("2026-11-21T14:32:05.123Z", 1_795_271_525_123),
            ("1969-12-31T23:59:59.999Z", -1),
            ("0001-01-01T00:00:00.000Z", -62_135_596_800_000),
            ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
            ("2024-02-29T12:00:00.000Z", 1_709_208_000_000),
            ("2000-03-01T00:00:00.007Z", 951_868_800_007),
        ] as [(String, Int64)])
    func rfc3339_whenCanonical_roundTripsExactly(text: String, ms: Int64) {
        let parsed = Instant(rfc3339: text)
        #expect(parsed == Instant(ms: ms))
        #expect(Instant(ms: ms).rfc3339 == text)
    }

    @Test(arguments: [
        ("2026-11-21T14:32:05Z", "2026-11-21T14:32:05.000Z"),
        ("2026-11-21T14:32:05.1Z", "2026-11-21T14:32:05.100Z"),
        ("2026-11-21T14:32:05.12Z", "2026-11-21T14:32:05.120Z"),
        ("2026-11-21T14:32:05.123456789Z", "2026-11-21T14:32:05.123Z"),
        ("2026-11-21T14:32:05.999999999Z", "2026-11-21T14:32:05.999Z"),
        ("2026-11-21T14:32:05.123z", "2026-11-21T14:32:05.123Z"),
        ("2026-11-21t14:32:05.123Z", "2026-11-21T14:32:05.123Z"),
        ("2026-11-21T20:17:05.123+05:45", "2026-11-21T14:32:05.123Z"),
        ("2026-11-21T11:32:05.123-03:00", "2026-11-21T14:32:05.123Z"),
        ("2026-11-21T14:32:05.123+00:00", "2026-11-21T14:32:05.123Z"),
        ("2026-11-21T14:32:05.123-00:00", "2026-11-21T14:32:05.123Z"),
        ("2026-01-01T01:00:00+02:00", "2025-12-31T23:00:00.000Z"),
        ("2025-12-31T22:00:00-02:30", "2026-01-01T00:30:00.000Z"),
        ("0001-01-01T00:00:00-01:00", "0001-01-01T01:00:00.000Z"),
    ])
    func rfc3339_whenVariantForm_normalisesToUTCMilliseconds(text: String, canonical: String) {
        #expect(Instant(rfc3339: text)?.rfc3339 == canonical)
    }

    @Test(arguments: [
        "",
        "2026-11-21",
        "2026-11-21T14:32Z",  // missing seconds
        "2026-11-21T14:32:05",  // no zone
        "2026-11-21T14:32:05.Z",  // empty fraction
        "2026-11-21T14:32:05.1234567890Z",  // 10 fraction digits
        "2026-11-21 14:32:05Z",  // space for T
        "2026-11-21T14:32:05+0545",  // offset without colon
        "2026-11-21T14:32:05+05",
        "2026-11-21T14:32:05+24:00",
        "2026-11-21T14:32:05+05:60",
        "2026-11-21T14:32:05ZZ",
        "2026-11-21T14:32:05Z ",
        " 2026-11-21T14:32:05Z",
        "2026-02-30T00:00:00Z",  // no Feb 30
        "2025-02-29T00:00:00Z",  // not a leap year
        "1900-02-29T00:00:00Z",  // century, not a leap year
        "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-11-21T24:00:00Z",  // hour 24
        "2026-11-21T23:60:00Z",
        "2016-12-31T23:59:60Z",  // leap second
        "0000-01-01T00:00:00Z",  // year 0
        "0001-01-01T00:00:00+00:01",  // before 0001-01-01 in UTC
        "9999-12-31T23:59:59-00:01",  // after 9999 in UTC
        "+2026-11-21T14:32:05Z",
        "20261-11-21T14:32:05Z",
        "2026-1-21T14:32:05Z",
        "2026/11/21T14:32:05Z",
        "2026-11-21T14:32:05.12a4Z",
        "2026-11-21T14:32:05.123\u{FF3A}",  // fullwidth Z
        "２０２６-11-21T14:32:05Z",  // fullwidth digits
        "2026-11-21T14:32:05.123Z\u{0}",
    ])
    func rfc3339_whenMalformed_returnsNil(text: String) {
        #expect(Instant(rfc3339: text) == nil)
    }

    @Test func rfc3339_whenOutsideYears1To9999_keepsEveryDigitOfTheYear() {
        #expect(Instant.rfc3339Min.adding(ms: -1).rfc3339 == "0000-12-31T23:59:59.999Z")
        // Year 0 is a leap year, so 366 days earlier is the last millisecond of year -1.
        #expect(Instant.rfc3339Min.adding(ms: -366 * 86_400_000 - 1).rfc3339 == "-0001-12-31T23:59:59.999Z")
        #expect(Instant.rfc3339Max.adding(ms: 1).rfc3339 == "10000-01-01T00:00:00.000Z")
    }

    @Test func adding_movesByMilliseconds() {
        let t = Instant(rfc3339: "2026-12-31T23:59:59.999Z")!
        #expect(t.adding(ms: 1).rfc3339 == "2027-01-01T00:00:00.000Z")
        #expect(t.adding(seconds: -86_400).rfc3339 == "2026-12-30T23:59:59.999Z")
        #expect(t.adding(ms: 1) > t)
    }

    // MARK: - LocalDay

    @Test(arguments: ["2026-01-05", "0001-01-01", "9999-12-31", "2024-02-29", "2000-02-29"])
    func localDay_whenValidString_roundTrips(text: String) {
        #expect(LocalDay(string: text)?.description == text)
    }

    @Test(arguments: [
        "", "2026-1-05", "2026-01-5", "26-01-05", "2026-01-05T00:00:00Z", "2026-01-05 ", "2026/01/05",
        "0000-01-01", "2026-02-29", "1900-02-29", "2026-04-31", "2026-13-01", "2026-00-10", "2026-01-00",
        "+202-01-05", "-2026-01-5", "２０２６-01-05",
    ])
    func localDay_whenNotExactlyYYYYMMDD_returnsNil(text: String) {
        #expect(LocalDay(string: text) == nil)
    }

    @Test(arguments: [(2026, 2, 29), (2026, 4, 31), (0, 1, 1), (10_000, 1, 1), (2026, 0, 1), (2026, 1, 32)])
    func localDay_whenDateDoesNotExist_returnsNil(year: Int, month: Int, day: Int) {
        #expect(LocalDay(year: year, month: month, day: day) == nil)
    }

    @Test(
        arguments: [
            ("1970-01-01", 0), ("1969-12-31", -1), ("2000-03-01", 11_017), ("2026-11-21", 20_778),
            ("0001-01-01", -719_162), ("9999-12-31", 2_932_896),
        ] as [(String, Int)])
    func daysSinceEpoch_matchesKnownValues(text: String, days: Int) {
        let day = LocalDay(string: text)!
        #expect(day.daysSinceEpoch == days)
        #expect(LocalDay(daysSinceEpoch: days) == day)
    }

    @Test func daysSinceEpoch_whenWalkingEveryDayOfFourCenturies_isConsecutive() {
        // 1600-01-01 ... 2400-12-31 covers century and 400-year leap rules on both sides of 2000.
        var expected = LocalDay(year: 1600, month: 1, day: 1)!.daysSinceEpoch
        for year in 1600...2400 {
            for month in 1...12 {
                for day in 1...LocalDay.daysIn(year: year, month: month) {
                    let d = LocalDay(year: year, month: month, day: day)!
                    #expect(d.daysSinceEpoch == expected)
                    #expect(LocalDay(daysSinceEpoch: expected) == d)
                    expected += 1
                }
            }
        }
        // Two 400-year cycles, then 2400, a leap year.
        #expect(expected - LocalDay(year: 1600, month: 1, day: 1)!.daysSinceEpoch == 146_097 * 2 + 366)
    }

    @Test(
        arguments: [
            ("2026-01-31", 1, "2026-02-01"), ("2024-02-28", 1, "2024-02-29"), ("2026-02-28", 1, "2026-03-01"),
            ("2026-12-31", 1, "2027-01-01"), ("2026-03-01", -1, "2026-02-28"), ("2026-11-21", 365, "2027-11-21"),
            ("2026-11-21", 0, "2026-11-21"), ("2000-01-01", -1, "1999-12-31"),
        ] as [(String, Int, String)])
    func adding_days_crossesMonthAndYearEdges(from: String, days: Int, to: String) {
        #expect(LocalDay(string: from)!.adding(days: days).description == to)
    }

    @Test(
        arguments: [
            ("1970-01-01", 4), ("2026-01-05", 1), ("2026-11-21", 6), ("2026-11-22", 7), ("2000-02-29", 2),
            ("2027-01-01", 5), ("0001-01-01", 1),
        ] as [(String, Int)])
    func weekday_isISOMondayOne(text: String, weekday: Int) {
        #expect(LocalDay(string: text)!.weekday == weekday)
    }

    @Test(arguments: [
        ("2026-01-01", "2026-W01", "2025-12-29"),
        ("2026-01-05", "2026-W02", "2026-01-05"),
        ("2026-12-31", "2026-W53", "2026-12-28"),
        ("2027-01-01", "2026-W53", "2026-12-28"),
        ("2027-01-03", "2026-W53", "2026-12-28"),
        ("2027-01-04", "2027-W01", "2027-01-04"),
        ("2020-12-31", "2020-W53", "2020-12-28"),
        ("2021-01-03", "2020-W53", "2020-12-28"),
        ("2021-01-04", "2021-W01", "2021-01-04"),
        ("2024-12-30", "2025-W01", "2024-12-30"),
        ("2025-12-29", "2026-W01", "2025-12-29"),
        ("2022-01-01", "2021-W52", "2021-12-27"),
    ])
    func isoWeekLabel_atYearEdges_usesTheWeekNumberingYear(text: String, label: String, monday: String) {
        let day = LocalDay(string: text)!
        #expect(day.isoWeekLabel == label)
        #expect(day.isoWeekMonday.description == monday)
        #expect(day.isoWeekMonday.weekday == 1)
    }

    @Test func isoWeekLabel_whenWalkingTenYears_advancesOnlyOnMondays() {
        var day = LocalDay(string: "2019-12-30")!  // a Monday, 2020-W01
        var previous = day.isoWeekLabel
        #expect(previous == "2020-W01")
        for _ in 0..<3653 {
            day = day.adding(days: 1)
            let label = day.isoWeekLabel
            #expect((label != previous) == (day.weekday == 1), "\(day)")
            #expect(label > previous || label == previous, "\(day)")
            previous = label
        }
    }

    @Test(arguments: [
        ("2026-01-05", "2026-01", "2026-01-01"), ("2026-12-31", "2026-12", "2026-12-01"),
        ("0001-09-09", "0001-09", "0001-09-01"),
    ])
    func monthLabel_isYearDashMonth(text: String, label: String, first: String) {
        let day = LocalDay(string: text)!
        #expect(day.monthLabel == label)
        #expect(day.firstOfMonth.description == first)
    }

    @Test func firstOfNextAndPreviousMonth_wrapAroundTheYear() {
        #expect(LocalDay(string: "2026-12-15")!.firstOfNextMonth.description == "2027-01-01")
        #expect(LocalDay(string: "2026-01-31")!.firstOfNextMonth.description == "2026-02-01")
        #expect(LocalDay(string: "2026-01-15")!.firstOfPreviousMonth.description == "2025-12-01")
    }

    @Test(arguments: [
        (2026, 2, 28), (2024, 2, 29), (2000, 2, 29), (1900, 2, 28), (2026, 4, 30), (2026, 1, 31), (2026, 12, 31),
    ])
    func daysIn_followsTheGregorianLeapRule(year: Int, month: Int, days: Int) {
        #expect(LocalDay.daysIn(year: year, month: month) == days)
    }

    @Test func comparison_isChronological() {
        let days = ["2025-12-31", "2026-01-01", "2026-01-02", "2026-02-01", "2027-01-01"].map { LocalDay(string: $0)! }
        #expect(days == days.shuffled().sorted())
        #expect(days.map(\.daysSinceEpoch) == days.map(\.daysSinceEpoch).sorted())
    }
}
