import Testing

@testable import LedgerJSON

/// RFC 8785 (JCS), the form the hash chain covers: members sorted by UTF-16 code units, no
/// whitespace, strings escaped as ECMAScript's JSON.stringify does.
@Suite struct CanonicalJSONTests {
    static func canonical(_ text: String) throws -> String {
        CanonicalJSON.string(try JSONParser.parse(Array(text.utf8)))
    }

    /// The sorting example of RFC 8785 §3.2.3, verbatim.
    @Test func members_whenRFC8785SortingExample_sortByUTF16CodeUnits() throws {
        let input = #"""
            {
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }
            """#
        let expected =
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\","
            + "\"\u{F6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20AC}\":\"Euro Sign\","
            + "\"\u{1F600}\":\"Emoji: Grinning Face\",\"\u{FB33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        #expect(try Self.canonical(input) == expected)
    }

    /// An emoji is a surrogate pair (0xD83D…) in UTF-16, so it sorts before a BMP character above
    /// U+E000, although its scalar value (U+1F600) and its UTF-8 bytes (F0…) are larger.
    @Test func members_whenEmojiAndPrivateUseKeys_sortEmojiFirstAsUTF16Does() {
        let o: JSONObject = [
            "\u{E000}": .int(1), "\u{1F600}": .int(2), "z": .int(3), "\u{E9}": .int(4), "\u{FFFD}": .int(5),
            "Z": .int(6), "a": .int(7), "aa": .int(8), "": .int(9),
        ]
        let expected =
            "{\"\":9,\"Z\":6,\"a\":7,\"aa\":8,\"z\":3,\"\u{E9}\":4,\"\u{1F600}\":2,\"\u{E000}\":1,\"\u{FFFD}\":5}"
        #expect(CanonicalJSON.string(.object(o)) == expected)
    }

    @Test func members_whenNested_sortAtEveryLevelAndArraysKeepTheirOrder() throws {
        let input = #"{ "b" : [ 3, {"y":1,"x":2}, 1 ], "a" : { "d" : null, "c" : true } , "ab": false}"#
        #expect(try Self.canonical(input) == #"{"a":{"c":true,"d":null},"ab":false,"b":[3,{"x":2,"y":1},1]}"#)
    }

    @Test(arguments: [
        ("\u{0}", #""\u0000""#),
        ("\u{1}", #""\u0001""#),
        ("\u{B}", #""\u000b""#),
        ("\u{E}", #""\u000e""#),
        ("\u{1A}", #""\u001a""#),
        ("\u{1F}", #""\u001f""#),
        ("\u{8}", #""\b""#),
        ("\u{9}", #""\t""#),
        ("\u{A}", #""\n""#),
        ("\u{C}", #""\f""#),
        ("\u{D}", #""\r""#),
        ("\"", #""\"""#),
        ("\\", #""\\""#),
        ("/", #""/""#),
        ("a/b", #""a/b""#),
        ("\u{7F}", "\"\u{7F}\""),
        ("caf\u{E9}", "\"caf\u{E9}\""),
        ("\u{20AC}", "\"\u{20AC}\""),
        ("\u{1F600}", "\"\u{1F600}\""),
        ("\u{2028}\u{2029}", "\"\u{2028}\u{2029}\""),
        ("e\u{301}", "\"e\u{301}\""),
    ])
    func string_isEscapedAsRFC8785(text: String, expected: String) {
        let out = CanonicalJSON.bytes(.string(text))
        #expect(out == Array(expected.utf8))
    }

    @Test func document_hasNoWhitespaceAndWritesLiterals() throws {
        #expect(try Self.canonical(" [ true , false , null , \"\" , [ ] , { } ] ") == #"[true,false,null,"",[],{}]"#)
    }

    @Test(arguments: [
        ("0", "0"), ("1", "1"), ("-1", "-1"), ("9007199254740991", "9007199254740991"),
        ("-9007199254740991", "-9007199254740991"), ("100", "100"),
    ])
    func integer_isWrittenAsItsDigits(text: String, expected: String) throws {
        #expect(try Self.canonical(text) == expected)
    }

    /// RFC 8785 §3.2.2.3 writes numbers as ECMAScript does: `-0` is `0`. The ledger accepts `-0`
    /// as an integer (e.g. inside `consume` params, which are stored in the `consumed` event), so
    /// writing the lexeme would hash bytes that an auditor's JCS library does not produce.
    @Test func integer_whenNegativeZero_isWrittenAsZero() throws {
        #expect(try Self.canonical("-0") == "0")
        #expect(try Self.canonical(#"{"steps":-0}"#) == #"{"steps":0}"#)
    }

    @Test func bytes_whenParsedBack_areAFixedPoint() throws {
        let input = #"{"z":[1,{"b":"\u00e9\n","a":"\ud83d\ude00"}],"\u00e9":-1,"a":{"":null}}"#
        let once = CanonicalJSON.bytes(try JSONParser.parse(Array(input.utf8)))
        let twice = CanonicalJSON.bytes(try JSONParser.parse(once))
        #expect(once == twice)
    }
}
