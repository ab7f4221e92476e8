import Testing

@testable import LedgerCore

/// The byte writers of the hot paths against the generic RFC 8785 serialisation.
@Suite struct CanonicalWriterTests {
    @Test(arguments: [0, 1, -1, 9, 10, -10, 99, 100, 1_234_567_890_123, Int64.max, Int64.min, Int64.max - 1])
    func appendDecimal_whenInteger_writesItsDigits(v: Int64) {
        var out: [UInt8] = [0x41]
        CanonicalWriter.appendDecimal(v, to: &out)
        #expect(out == [0x41] + Array(String(v).utf8))
        var u: [UInt8] = []
        CanonicalWriter.appendDecimal(v.magnitude, to: &u)
        #expect(u == Array(String(v.magnitude).utf8))
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

    @Test(arguments: CanonicalWriterTests.ids)
    func line_whenIdSpliced_equalsTheAnswerSerialisedWithIt(id: JSON?) {
        // Members before "id"…
        var w = CanonicalWriter(capacity: 64)
        w.beginObject()
        w.key("available"); w.int(5)
        w.key("cost"); w.int(1)
        let idAt = w.bytes.count
        w.key("ok"); w.bool(true)
        w.key("seq"); w.int(9)
        w.key("warnings"); w.beginArray(); w.endArray()
        w.endObject()
        // …and none.
        var v = CanonicalWriter(capacity: 64)
        v.beginObject()
        v.key("ok"); v.bool(true)
        v.key("seq"); v.int(9)
        v.endObject()
        let cases: [(CanonicalAnswer, JSONObject)] = [
            (
                CanonicalAnswer(bytes: w.bytes, idAt: idAt),
                ["available": .int(5), "cost": .int(1), "ok": .bool(true), "seq": .int(9), "warnings": .array([])]
            ),
            (CanonicalAnswer(bytes: v.bytes, idAt: 1), ["ok": .bool(true), "seq": .int(9)]),
        ]
        for (answer, fields) in cases {
            #expect(answer.bytes == CanonicalJSON.bytes(.object(fields)))
            var expected = fields
            if let id { expected["id"] = id }
            #expect(
                answer.line(id: id) == CanonicalJSON.bytes(.object(expected)),
                "\(String(decoding: answer.line(id: id), as: UTF8.self))")
            #expect(
                Answer.canonical(answer).object
                    == {
                        var o = fields
                        o["ok"] = nil
                        return o
                    }())
        }
    }
}
