import LedgerJSON
import Testing

@testable import LedgerCore

/// The byte writers of the hot paths against the generic RFC 8785 serialisation.
@Suite struct CanonicalWriterTests {
    @Test(arguments: [0, 1, -1, 9, 10, -10, 99, 100, 1_234_567_890_123, Int64.max, Int64.min, Int64.max - 1])
    func int_whenInteger_writesItsDigits(v: Int64) {
        var w = CanonicalWriter(capacity: 1)
        w.beginArray()
        w.int(v)
        w.uint(v.magnitude)
        w.endArray()
        #expect(w.bytes == Array("[\(v),\(v.magnitude)]".utf8))
    }

    @Test func writer_whenNestedObjectsAndArrays_equalsTheGenericSerialisation() {
        var w = CanonicalWriter(capacity: 16)
        w.beginObject()
        w.key("a"); w.beginArray(); w.int(1); w.beginObject(); w.key("x"); w.bool(false); w.endObject();
        w.string("s\"\u{1}"); w.endArray()
        w.key("b"); w.beginArray(); w.endArray()
        w.key("c"); w.beginObject(); w.endObject()
        w.key("d"); w.instant(Instant(ms: 1_700_000_000_123))
        w.key("e"); w.day(LocalDay(year: 2026, month: 1, day: 5)!)
        w.key("f"); w.value(.null)
        w.key("g"); w.uint(UInt64.max)
        w.key("h"); w.string("plain")
        w.endObject()
        let tree: JSON = .object([
            "a": .array([.int(1), .object(["x": .bool(false)]), .string("s\"\u{1}")]),
            "b": .array([]), "c": .object([:]), "d": .string(Instant(ms: 1_700_000_000_123).rfc3339),
            "e": .string("2026-01-05"), "f": .null, "g": .number(JSONNumber(lexeme: String(UInt64.max))),
            "h": .string("plain"),
        ])
        #expect(w.bytes == CanonicalJSON.bytes(tree))
    }

    static let ids: [JSON?] = [
        nil, .int(7), .int(-3), .number(JSONNumber(lexeme: "-0")),
        .number(JSONNumber(lexeme: "123456789012345678901234567890")), .string("r-1"), .string("a\"b\\c"),
        .string("caf\u{E9} \u{1F600}"),
    ]

    static let standings: [Views.Standing] = {
        var plain = Views.Standing(team: Self.team(), user: ID(trusted: "nobody"))
        plain.available = -1
        var busy = plain
        busy.status = .yellow
        busy.nearDailyLimit = true
        busy.overdraft = true
        busy.user = Views.UserFigures(
            user: ID(trusted: "\u{FC}\"q\\"), allocationLeft: -1, consumedToday: 12, dailyLimit: 100)
        var red = busy
        red.status = .red
        red.available = 0
        return [plain, busy, red]
    }()

    static func team() -> TeamState {
        TeamState(
            id: ID(trusted: "t"), plan: ID(trusted: "pro"), timezone: "UTC", zone: .utc, dailyLimit: -1,
            cycleAnchor: 1, cycleStart: Instant(ms: 0), cycleEnd: Instant(ms: 0),
            today: LocalDay(year: 2026, month: 1, day: 1)!)
    }

    /// The answer lines with an id equal the RFC 8785 form of the same answer without it, plus it.
    @Test(arguments: CanonicalWriterTests.ids)
    func line_whenIdGiven_equalsTheAnswerSerialisedWithIt(id: JSON?) throws {
        var answers: [Answer] = []
        for s in Self.standings {
            answers.append(.consume(Views.ConsumeFigures(seq: 9, cost: 3, duplicate: false, standing: s)))
            answers.append(.consume(Views.ConsumeFigures(seq: 9, cost: 0, duplicate: true, standing: s)))
            answers.append(
                .check(
                    Views.CheckFigures(
                        cost: 5, refusal: nil, dailyLimit: -1, resetsAt: Instant(ms: 86_400_000), standing: s)))
            answers.append(
                .check(
                    Views.CheckFigures(
                        cost: 5,
                        refusal: Rejection(.dailyLimitExceeded, "user \"\u{FC}\" would pass", scope: .userDaily),
                        dailyLimit: 10, resetsAt: Instant(ms: 86_400_000), standing: s)))
        }
        for answer in answers {
            let bare = try #require(answer.line(id: nil))
            guard case .object(var o) = try JSONParser.parse(bare) else {
                Issue.record("not an object")
                continue
            }
            #expect(bare == CanonicalJSON.bytes(.object(o)), "not canonical: \(String(decoding: bare, as: UTF8.self))")
            #expect(o["ok"] == .bool(true))
            if let id { o["id"] = id }
            let line = try #require(answer.line(id: id))
            #expect(line == CanonicalJSON.bytes(.object(o)), "\(String(decoding: line, as: UTF8.self))")
        }
    }
}
