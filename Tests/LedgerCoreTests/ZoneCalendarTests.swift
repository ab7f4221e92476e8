import Testing

@testable import LedgerCore

/// Expected values are facts read from this machine's tzdata (2025b) through Foundation:
/// - America/New_York 2026: EST→EDT at 2026-03-08T07:00:00Z (02:00 → 03:00 local); EDT→EST at
///   2026-11-01T06:00:00Z (02:00 → 01:00 local). Mar 8 lasts 23h, Nov 1 lasts 25h.
/// - America/Havana 2026: -05→-04 at 2026-03-08T05:00:00Z (00:00 → 01:00, midnight skipped);
///   -04→-05 at 2026-11-01T05:00:00Z (01:00 → 00:00, midnight repeated at 04:00Z and 05:00Z).
/// - America/Santiago 2026: -03→-04 at 2026-04-05T03:00:00Z (24:00 → 23:00 on Apr 4);
///   -04→-03 at 2026-09-06T04:00:00Z (00:00 → 01:00, midnight skipped).
/// - Asia/Kathmandu: +05:45 (20700 s) since 1986-01-01 (+05:30 before).
/// - Pacific/Apia skipped 2011-12-30 entirely: 2011-12-30T10:00:00Z is 2011-12-29 24:00 -10 = 2011-12-31 00:00 +14.
/// - America/St_Johns 2010-11-07: NDT→NST at 02:31:00Z (00:01 → 23:01 on Nov 6), so the local day goes from
///   Nov 7 back to Nov 6 for an hour; Nov 7 00:00 occurs at 02:30:00Z and again at 03:30:00Z.
@Suite struct ZoneCalendarTests {
    private static func zone(_ identifier: String) -> ZoneCalendar {
        ZoneCalendar(identifier: identifier)!
    }

    private static func at(_ text: String) -> Instant {
        Instant(rfc3339: text)!
    }

    private static func day(_ text: String) -> LocalDay {
        LocalDay(string: text)!
    }

    // MARK: - Names

    @Test(arguments: [
        "UTC", "America/New_York", "America/Havana", "America/Santiago", "Asia/Kathmandu", "Etc/UTC", "Etc/GMT+5",
        "US/Eastern", "GMT", "Europe/London", "America/Argentina/ComodRivadavia",
    ])
    func init_whenIANAName_keepsTheNameAsGiven(identifier: String) {
        #expect(ZoneCalendar(identifier: identifier)?.identifier == identifier)
    }

    @Test(arguments: [
        "", "utc", "Utc", "america/new_york", "America/New_York ", " UTC", "GMT+5", "GMT-03:00", "UTC+1", "GMT+0500",
        "Z", "+05:00", "Foo/Bar", "../etc/passwd", "/usr/share/zoneinfo/UTC", "America/New York", "posixrules",
        "America/Nëw_York", String(repeating: "A", count: 65),
    ])
    func init_whenNotAnIANAName_returnsNil(identifier: String) {
        #expect(ZoneCalendar(identifier: identifier) == nil)
    }

    @Test func equality_isByIdentifier() {
        #expect(ZoneCalendar(identifier: "UTC") == ZoneCalendar.utc)
        #expect(Self.zone("Asia/Kathmandu") == Self.zone("Asia/Kathmandu"))
        #expect(Self.zone("Asia/Kathmandu").hashValue == Self.zone("Asia/Kathmandu").hashValue)
        #expect(Self.zone("Etc/UTC") != ZoneCalendar.utc)  // same offsets, different names
        #expect(Set([Self.zone("America/Havana"), Self.zone("America/Havana"), .utc]).count == 2)
    }

    // MARK: - Offsets and local days

    @Test(
        arguments: [
            ("UTC", "2026-07-01T00:00:00.000Z", 0),
            ("America/New_York", "2026-03-08T06:59:59.999Z", -18_000),
            ("America/New_York", "2026-03-08T07:00:00.000Z", -14_400),
            ("America/New_York", "2026-11-01T05:59:59.999Z", -14_400),
            ("America/New_York", "2026-11-01T06:00:00.000Z", -18_000),
            ("America/Havana", "2026-11-01T04:59:59.999Z", -14_400),
            ("America/Havana", "2026-11-01T05:00:00.000Z", -18_000),
            ("America/Santiago", "2026-09-06T03:59:59.999Z", -14_400),
            ("America/Santiago", "2026-09-06T04:00:00.000Z", -10_800),
            ("Asia/Kathmandu", "2026-01-01T00:00:00.000Z", 20_700),
            ("Asia/Kathmandu", "1985-06-01T00:00:00.000Z", 19_800),
            ("Etc/GMT+5", "2026-01-01T00:00:00.000Z", -18_000),  // POSIX sign: GMT+5 is five hours behind
        ] as [(String, String, Int)])
    func offsetSeconds_switchesExactlyAtTheTransition(identifier: String, at: String, offset: Int) {
        #expect(Self.zone(identifier).offsetSeconds(at: Self.at(at)) == offset)
    }

    @Test(arguments: [
        ("UTC", "1969-12-31T23:59:59.999Z", "1969-12-31"),
        ("UTC", "1970-01-01T00:00:00.000Z", "1970-01-01"),
        ("America/New_York", "2026-03-09T03:59:59.999Z", "2026-03-08"),
        ("America/New_York", "2026-03-09T04:00:00.000Z", "2026-03-09"),
        ("America/Havana", "2026-11-01T03:59:59.999Z", "2026-10-31"),
        ("America/Havana", "2026-11-01T04:00:00.000Z", "2026-11-01"),
        ("America/Havana", "2026-11-01T05:00:00.000Z", "2026-11-01"),  // the second midnight: still Nov 1
        ("America/Santiago", "2026-09-06T03:59:59.999Z", "2026-09-05"),
        ("America/Santiago", "2026-09-06T04:00:00.000Z", "2026-09-06"),
        ("Asia/Kathmandu", "2026-01-01T18:14:59.999Z", "2026-01-01"),
        ("Asia/Kathmandu", "2026-01-01T18:15:00.000Z", "2026-01-02"),
        ("Pacific/Apia", "2011-12-30T09:59:59.999Z", "2011-12-29"),
        ("Pacific/Apia", "2011-12-30T10:00:00.000Z", "2011-12-31"),
        ("America/St_Johns", "2010-11-07T02:30:00.000Z", "2010-11-07"),
        ("America/St_Johns", "2010-11-07T02:31:00.000Z", "2010-11-06"),  // clock set back across midnight
    ])
    func dayOf_isTheLocalDate(identifier: String, at: String, day: String) {
        #expect(Self.zone(identifier).day(of: Self.at(at)).description == day)
    }

    // MARK: - Start of day

    @Test(arguments: [
        ("UTC", "2026-11-21", "2026-11-21T00:00:00.000Z"),
        ("America/New_York", "2026-03-08", "2026-03-08T05:00:00.000Z"),
        ("America/New_York", "2026-03-09", "2026-03-09T04:00:00.000Z"),
        ("America/New_York", "2026-11-01", "2026-11-01T04:00:00.000Z"),
        ("America/New_York", "2026-11-02", "2026-11-02T05:00:00.000Z"),
        ("Asia/Kathmandu", "2026-01-02", "2026-01-01T18:15:00.000Z"),
        ("America/Santiago", "2026-04-04", "2026-04-04T03:00:00.000Z"),
        ("America/Santiago", "2026-04-05", "2026-04-05T04:00:00.000Z"),
        ("Pacific/Apia", "2011-12-29", "2011-12-29T10:00:00.000Z"),
    ])
    func startOfDay_whenMidnightExistsOnce_isThatMidnight(identifier: String, day: String, start: String) {
        #expect(Self.zone(identifier).startOfDay(Self.day(day)) == Self.at(start))
    }

    @Test(arguments: [
        ("America/Havana", "2026-11-01", "2026-11-01T04:00:00.000Z"),  // not the 05:00Z repeat
        ("America/St_Johns", "2010-11-07", "2010-11-07T02:30:00.000Z"),  // not the 03:30Z repeat
    ])
    func startOfDay_whenMidnightRepeats_countsTheFirst(identifier: String, day: String, start: String) {
        #expect(Self.zone(identifier).startOfDay(Self.day(day)) == Self.at(start))
    }

    @Test(arguments: [
        ("America/Santiago", "2026-09-06", "2026-09-06T04:00:00.000Z", "01:00 local"),
        ("America/Havana", "2026-03-08", "2026-03-08T05:00:00.000Z", "01:00 local"),
        ("Pacific/Apia", "2011-12-30", "2011-12-30T10:00:00.000Z", "the whole day is skipped: Dec 31 00:00"),
        ("Pacific/Apia", "2011-12-31", "2011-12-30T10:00:00.000Z", "Dec 31 00:00"),
    ])
    func startOfDay_whenMidnightIsSkipped_startsAtTheTransition(
        identifier: String, day: String, start: String, localTime: String
    ) {
        #expect(Self.zone(identifier).startOfDay(Self.day(day)) == Self.at(start), "\(localTime)")
    }

    @Test(
        arguments: [
            ("America/New_York", "2026-03-08", 23), ("America/New_York", "2026-11-01", 25),
            ("America/New_York", "2026-07-01", 24), ("America/Havana", "2026-11-01", 25),
            ("America/Havana", "2026-03-08", 23), ("America/Santiago", "2026-09-06", 23),
            ("America/Santiago", "2026-09-05", 24), ("America/Santiago", "2026-04-04", 25),
            ("Asia/Kathmandu", "2026-01-01", 24),
            ("UTC", "2026-02-28", 24),
        ] as [(String, String, Int64)])
    func dayLength_acrossDST_isStartToNextStart(identifier: String, day: String, hours: Int64) {
        let zone = Self.zone(identifier)
        let d = Self.day(day)
        let length = zone.startOfDay(d.adding(days: 1)).ms - zone.startOfDay(d).ms
        #expect(length == hours * 3_600_000)
    }

    // MARK: - Next day start

    @Test func nextDayStart_whenMidnightRepeats_yieldsOneInstantForTheDay() {
        let havana = Self.zone("America/Havana")
        let evening = Self.at("2026-11-01T02:00:00.000Z")  // 2026-10-31 22:00 local
        #expect(havana.day(of: evening).description == "2026-10-31")
        let first = havana.nextDayStart(after: evening)
        #expect(first == Self.at("2026-11-01T04:00:00.000Z"))
        let second = havana.nextDayStart(after: first)
        #expect(second == Self.at("2026-11-02T05:00:00.000Z"))
        // From just before the repeated midnight too: the repeat is not a day start.
        #expect(havana.nextDayStart(after: Self.at("2026-11-01T04:59:59.999Z")) == second)
    }

    @Test func nextDayStart_whenClockGoesBackAcrossMidnight_neverReturnsAnEarlierStart() {
        let stJohns = Self.zone("America/St_Johns")
        let inTheRepeatedHour = Self.at("2010-11-07T02:45:00.000Z")  // 2010-11-06 23:15 local, second time
        #expect(stJohns.day(of: inTheRepeatedHour).description == "2010-11-06")
        #expect(stJohns.nextDayStart(after: inTheRepeatedHour) == Self.at("2010-11-08T03:30:00.000Z"))
        #expect(stJohns.nextDayStart(after: Self.at("2010-11-06T12:00:00.000Z")) == Self.at("2010-11-07T02:30:00.000Z"))
    }

    @Test(arguments: [
        ("UTC", "2026-11-21T00:00:00.000Z", "2026-11-22T00:00:00.000Z"),
        ("UTC", "2026-11-21T23:59:59.999Z", "2026-11-22T00:00:00.000Z"),
        ("America/New_York", "2026-03-08T05:00:00.000Z", "2026-03-09T04:00:00.000Z"),
        ("America/Santiago", "2026-09-05T20:00:00.000Z", "2026-09-06T04:00:00.000Z"),
        ("Pacific/Apia", "2011-12-29T12:00:00.000Z", "2011-12-30T10:00:00.000Z"),
        ("Pacific/Apia", "2011-12-30T10:00:00.000Z", "2011-12-31T10:00:00.000Z"),
    ])
    func nextDayStart_isStrictlyAfterAndStartsADay(identifier: String, after: String, next: String) {
        #expect(Self.zone(identifier).nextDayStart(after: Self.at(after)) == Self.at(next))
    }

    /// Zones with odd offsets or transitions: half-hour and 45-minute offsets, 30-minute DST (Lord Howe),
    /// the date line (Kiritimati +14, Niue -11), southern DST, midnight transitions.
    static let walkedZones = [
        "UTC", "America/New_York", "America/Havana", "America/Santiago", "Asia/Kathmandu", "America/St_Johns",
        "Australia/Lord_Howe", "Pacific/Chatham", "Pacific/Kiritimati", "Pacific/Niue", "Europe/London",
        "Asia/Tehran", "Africa/Casablanca", "Asia/Gaza",
    ]

    @Test(arguments: walkedZones)
    func startOfDay_forEveryDayOf2025To2027_isTheFirstInstantOfThatDay(identifier: String) {
        let zone = Self.zone(identifier)
        var d = Self.day("2025-01-01")
        var previousStart = zone.startOfDay(d.adding(days: -1))
        while d < Self.day("2028-01-01") {
            let start = zone.startOfDay(d)
            #expect(start > previousStart, "\(identifier) \(d)")
            #expect(zone.day(of: start) == d, "\(identifier) \(d)")
            #expect(zone.day(of: start.adding(ms: -1)) < d, "\(identifier) \(d)")
            // No earlier instant within 18 hours is already on day d (sampled every 10 minutes).
            var probe = start.adding(seconds: -18 * 3600)
            while probe < start {
                #expect(zone.day(of: probe) < d, "\(identifier) \(d) \(probe)")
                probe = probe.adding(seconds: 600)
            }
            previousStart = start
            d = d.adding(days: 1)
        }
    }

    @Test(arguments: walkedZones)
    func nextDayStart_whenChainedThroughAYear_visitsEachDayOnce(identifier: String) {
        let zone = Self.zone(identifier)
        var t = zone.startOfDay(Self.day("2026-01-01"))
        var days = [zone.day(of: t)]
        while t < zone.startOfDay(Self.day("2027-01-01")) {
            let next = zone.nextDayStart(after: t)
            #expect(next > t)
            t = next
            days.append(zone.day(of: t))
        }
        #expect(days.count == 366)
        #expect(days.first?.description == "2026-01-01")
        #expect(days.last?.description == "2027-01-01")
        #expect(zip(days, days.dropFirst()).allSatisfy { $0.adding(days: 1) == $1 })
    }

    // MARK: - Billing cycles

    @Test(arguments: [
        (31, 2026, 1, "2026-01-31"), (31, 2026, 2, "2026-02-28"), (31, 2028, 2, "2028-02-29"),
        (31, 2000, 2, "2000-02-29"), (31, 2100, 2, "2100-02-28"), (31, 2026, 4, "2026-04-30"),
        (30, 2026, 2, "2026-02-28"), (29, 2024, 2, "2024-02-29"), (29, 2026, 2, "2026-02-28"),
        (1, 2026, 2, "2026-02-01"), (1, 2026, 12, "2026-12-01"), (15, 2026, 6, "2026-06-15"),
    ])
    func cycleStartDay_whenMonthIsShorterThanAnchor_usesItsLastDay(anchor: Int, year: Int, month: Int, day: String) {
        #expect(ZoneCalendar.utc.cycleStartDay(anchor: anchor, year: year, month: month).description == day)
    }

    @Test(
        arguments: [
            ("UTC", 31, "2026-01-30T23:59:59.999Z", "2026-01-31T00:00:00.000Z"),
            ("UTC", 31, "2026-01-31T00:00:00.000Z", "2026-02-28T00:00:00.000Z"),  // at a start: the following one
            ("UTC", 31, "2026-02-28T00:00:00.000Z", "2026-03-31T00:00:00.000Z"),
            ("UTC", 31, "2028-02-01T00:00:00.000Z", "2028-02-29T00:00:00.000Z"),
            ("UTC", 31, "2026-03-31T00:00:00.000Z", "2026-04-30T00:00:00.000Z"),
            ("UTC", 1, "2026-12-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"),
            ("UTC", 1, "2026-12-31T23:59:59.999Z", "2027-01-01T00:00:00.000Z"),
            ("America/New_York", 8, "2026-02-08T05:00:00.000Z", "2026-03-08T05:00:00.000Z"),
            ("America/New_York", 1, "2026-11-01T03:59:59.999Z", "2026-11-01T04:00:00.000Z"),
            ("America/Havana", 1, "2026-10-01T04:00:00.000Z", "2026-11-01T04:00:00.000Z"),
            ("America/Havana", 1, "2026-11-01T04:00:00.000Z", "2026-12-01T05:00:00.000Z"),
            ("America/Santiago", 6, "2026-08-06T04:00:00.000Z", "2026-09-06T04:00:00.000Z"),
            ("Asia/Kathmandu", 31, "2026-01-31T00:00:00.000Z", "2026-02-27T18:15:00.000Z"),
        ] as [(String, Int, String, String)])
    func nextCycleStart_isTheFirstCycleStartStrictlyAfter(identifier: String, anchor: Int, after: String, next: String)
    {
        #expect(Self.zone(identifier).nextCycleStart(after: Self.at(after), anchor: anchor) == Self.at(next))
    }

    @Test(arguments: [1, 15, 28, 29, 30, 31])
    func nextCycleStart_whenChainedForThreeYears_givesOneStartPerMonth(anchor: Int) {
        let zone = Self.zone("America/Santiago")
        var t = zone.startOfDay(Self.day("2025-12-31")).adding(seconds: 3600)  // after any December start
        for monthIndex in 0..<36 {
            let next = zone.nextCycleStart(after: t, anchor: anchor)
            let day = zone.day(of: next)
            let expected = zone.cycleStartDay(anchor: anchor, year: 2026 + monthIndex / 12, month: monthIndex % 12 + 1)
            #expect(day == expected, "anchor \(anchor) step \(monthIndex)")
            #expect(next == zone.startOfDay(day))
            #expect(zone.cycleStart(atOrBefore: next, anchor: anchor) == next)
            #expect(zone.cycleStart(atOrBefore: next.adding(ms: -1), anchor: anchor) <= t)
            t = next
        }
    }

    @Test func cycleStartDay_whenAnchorOutOfRange_stopsTheProcess() async {
        // Exit-test bodies cannot capture values, so each anchor is spelled out.
        await #expect(processExitsWith: .failure) {
            _ = ZoneCalendar.utc.cycleStartDay(anchor: 0, year: 2026, month: 1)
        }
        await #expect(processExitsWith: .failure) {
            _ = ZoneCalendar.utc.cycleStartDay(anchor: 32, year: 2026, month: 1)
        }
    }
}
