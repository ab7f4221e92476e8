import Testing

@testable import LedgerJSON

/// The JSON parser the protocol rests on: exact numbers (lexemes kept), strict UTF-8, no
/// duplicate names, bounded nesting.
@Suite struct JSONTests {
    static func parse(_ text: String) throws(JSONParseError) -> JSON { try JSONParser.parse(Array(text.utf8)) }

    // MARK: - Numbers

    struct NumberCase: Sendable, CustomTestStringConvertible {
        var text: String
        var isInteger: Bool
        var int64: Int64?
        var testDescription: String { text }
    }

    @Test(arguments: [
        NumberCase(text: "100", isInteger: true, int64: 100),
        NumberCase(text: "100.0", isInteger: false, int64: nil),
        NumberCase(text: "0", isInteger: true, int64: 0),
        NumberCase(text: "-0", isInteger: true, int64: 0),
        NumberCase(text: "-1", isInteger: true, int64: -1),
        NumberCase(text: "1e2", isInteger: false, int64: nil),
        NumberCase(text: "1E2", isInteger: false, int64: nil),
        NumberCase(text: "1e-2", isInteger: false, int64: nil),
        NumberCase(text: "0.5", isInteger: false, int64: nil),
        NumberCase(text: "9007199254740991", isInteger: true, int64: 9_007_199_254_740_991),
        NumberCase(text: "9007199254740992", isInteger: true, int64: 9_007_199_254_740_992),
        NumberCase(text: "9223372036854775807", isInteger: true, int64: Int64.max),
        NumberCase(text: "-9223372036854775808", isInteger: true, int64: Int64.min),
        NumberCase(text: "9223372036854775808", isInteger: true, int64: nil),
        NumberCase(text: "18446744073709551616", isInteger: true, int64: nil),
        NumberCase(text: "-18446744073709551616", isInteger: true, int64: nil),
    ])
    func parse_whenNumber_keepsLexemeAndTellsIntegersApart(_ c: NumberCase) throws {
        let value = try Self.parse(c.text)
        guard case .number(let n) = value else {
            Issue.record("\(c.text) did not parse as a number: \(value)")
            return
        }
        #expect(n.lexeme == c.text)
        #expect(n.isIntegerLexeme == c.isInteger)
        #expect(n.int64 == c.int64)
    }

    @Test(
        arguments: [
            ("1.5", 1500),
            ("0.001", 1),
            ("1.5000", 1500),
            ("1", 1000),
            ("0", 0),
            ("3", 3000),
            ("0.75", 750),
            ("12.345", 12345),
            ("1.0010", 1001),
            ("-1.5", -1500),
        ] as [(String, Int64)])
    func milli_whenAtMostThreeSignificantPlaces_isExactThousandths(text: String, milli: Int64) {
        #expect(JSONNumber(lexeme: text).milli == milli)
    }

    @Test(arguments: ["1.0001", "0.0005", "1.00010", "1e2", "1E-3", "9223372036854775807", "9223372036854775.808"])
    func milli_whenMorePlacesOrExponentOrOverflow_isNil(text: String) {
        #expect(JSONNumber(lexeme: text).milli == nil)
    }

    // MARK: - Accepted and refused documents

    @Test(arguments: [
        "{}", "[]", "\"\"", "true", "false", "null", "0", "-0", "[1,2,3]",
        " \t\r\n{ \"a\" : [ 1 , true , false , null , \"x\" ] } \n",
        "{\"a\":{\"b\":{\"c\":[]}}}",
        "\"\\ud83d\\ude00\"",
        "\"\\u00e9\\u20ac\"",
        "\"\u{7F}\"",  // DEL is not a JSON control character
        "{\"\u{E9}\":1,\"e\u{301}\":2}",  // canonically equivalent names are still different bytes
    ])
    func parse_whenValidJSON_accepts(text: String) {
        #expect(throws: Never.self) { try Self.parse(text) }
    }

    @Test(arguments: [
        "", " ", "01", "-01", "1.", ".5", "+1", "-", "1e", "1e+", "--1", "0x10", "NaN", "Infinity", "-Infinity",
        "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{1:2}", "{\"a\":}", "[", "{", "]",
        "tru", "nul", "True", "1 2", "{}x", "\"abc", "'a'",
        "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\U0041\"", "\"\\",
        "\u{0C}1",  // form feed is not JSON whitespace
        "\u{A0}1",  // nor is a no-break space
        "1234567890123456789012345678901234567890123456789012345678901234567890",  // over the 64-byte lexeme bound
    ])
    func parse_whenNotJSON_refuses(text: String) {
        #expect(throws: JSONParseError.self) { try Self.parse(text) }
    }

    @Test func parse_whenDuplicateMemberName_refuses() {
        #expect(throws: JSONParseError.self) { try Self.parse(#"{"a":1,"a":1}"#) }
        #expect(throws: JSONParseError.self) { try Self.parse(#"{"a":1,"b":2,"a":3}"#) }
        // The same name spelled with an escape is the same name.
        #expect(throws: JSONParseError.self) { try Self.parse(#"{"a":1,"\u0061":2}"#) }
        // Nested objects have their own names.
        #expect(throws: Never.self) { try Self.parse(#"{"a":{"a":1}}"#) }
    }

    @Test func parse_whenNestedAtTheDepthBound_acceptsAndOneDeeperRefuses() {
        let n = JSONParser.depthMax
        let atBound = String(repeating: "[", count: n) + String(repeating: "]", count: n)
        let over = String(repeating: "[", count: n + 1) + String(repeating: "]", count: n + 1)
        #expect(throws: Never.self) { try Self.parse(atBound) }
        #expect(throws: JSONParseError.self) { try Self.parse(over) }
        let objects = String(repeating: "{\"a\":", count: n + 1) + "1" + String(repeating: "}", count: n + 1)
        #expect(throws: JSONParseError.self) { try Self.parse(objects) }
        // Far deeper input is refused, not a stack overflow.
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: JSONParseError.self) { try Self.parse(deep) }
    }

    @Test(
        arguments: [
            [0x22, 0xFF, 0x22],  // never valid in UTF-8
            [0x22, 0xC0, 0xAF, 0x22],  // overlong "/"
            [0x22, 0xE0, 0x80, 0xAF, 0x22],  // overlong, three bytes
            [0x22, 0xED, 0xA0, 0x80, 0x22],  // a surrogate encoded in UTF-8
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
            [0x22, 0xC3, 0x22],  // truncated sequence
            [0x22, 0x80, 0x22],  // lone continuation byte
            [0x22, 0x5C, 0x6E, 0xFF, 0x22],  // invalid after an escape (slow path)
            [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D],  // in a member name
            [0xFF],  // outside any string
            [0xEF, 0xBB, 0xBF, 0x7B, 0x7D],  // a byte order mark is not JSON
        ] as [[UInt8]])
    func parse_whenInvalidUTF8_refuses(bytes: [UInt8]) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(bytes) }
    }

    @Test(arguments: [
        #""\ud800""#, #""\udc00""#, #""\udfff""#, #""\ud800\u0041""#, #""\ud800x""#, #""\ud800\ud800""#,
        #""\ude00\ud83d""#, #""a\ud83d""#,
    ])
    func parse_whenLoneSurrogateEscape_refuses(text: String) {
        #expect(throws: JSONParseError.self) { try Self.parse(text) }
    }

    @Test(arguments: [0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1F] as [UInt8])
    func parse_whenRawControlCharacterInString_refuses(byte: UInt8) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0x61, byte, 0x22]) }
        // Also after an escape, where the parser takes its slow path.
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0x5C, 0x6E, byte, 0x22]) }
    }

    @Test func parse_whenEscapes_decodesEveryForm() throws {
        let text = #""\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00\u0000""#
        #expect(try Self.parse(text) == .string("\"\\/\u{8}\u{C}\n\r\tA\u{E9}\u{20AC}\u{1F600}\u{0}"))
    }

    @Test(arguments: [
        "", "plain", "quote \" backslash \\ slash /", "\u{0}\u{1}\u{8}\u{9}\u{A}\u{C}\u{D}\u{1F}\u{7F}",
        "caf\u{E9} \u{20AC} \u{1F600} \u{E000} \u{FFFF}", "e\u{301}", "\u{2028}\u{2029}",
    ])
    func canonicalString_thenParse_roundTripsTheSameBytes(text: String) throws {
        let bytes = CanonicalJSON.bytes(.string(text))
        guard case .string(let back) = try JSONParser.parse(bytes) else {
            Issue.record("not a string")
            return
        }
        #expect(Array(back.utf8) == Array(text.utf8))
    }

    @Test func object_keepsMemberOrderAndComparesAsParsedJSON() throws {
        let a = try Self.parse(#"{"b":1,"a":[true,null]}"#)
        let b = try Self.parse(#"{ "a" : [true, null], "b" : 1 }"#)
        #expect(a == b)
        #expect(a.objectValue?.keys == ["b", "a"])
        #expect(try Self.parse(#"{"a":1}"#) != Self.parse(#"{"a":1.0}"#))
        #expect(try Self.parse(#"{"a":1}"#) != Self.parse(#"{"a":1,"b":2}"#))
    }

    @Test func objectSubscript_comparesNamesByteForByte() throws {
        let o = try #require(try Self.parse("{\"\u{E9}\":1,\"e\u{301}\":2}").objectValue)
        #expect(o.count == 2)
        #expect(o["\u{E9}"] == .int(1))
        #expect(o["e\u{301}"] == .int(2))
    }
}
