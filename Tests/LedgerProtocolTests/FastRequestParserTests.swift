import Testing

@testable import LedgerCore
@testable import LedgerProtocol

/// The fast path for `consume`, `check` and `hold` must answer exactly what the general parser
/// answers (the same id, op, key, body and payload digest) whenever it answers at all, and must
/// answer the plain requests gateways send. Generated lines are seeded: a failure names its seed.
@Suite struct FastRequestParserTests {
    /// Fails the test when the fast path took `line` and disagrees with the general parser.
    /// Returns whether the fast path took it.
    @discardableResult
    static func agree(_ line: [UInt8], _ context: @autoclosure () -> String = "") -> Bool {
        let text = String(decoding: line, as: UTF8.self)
        guard let fast = FastRequestParser.parse(line) else {
            // Not taken: `parse` is then the general parser itself.
            return false
        }
        guard case .success(let general) = RequestParser.parseGeneral(line) else {
            Issue.record("\(context()) fast path accepted what the general parser refuses: \(text)")
            return true
        }
        #expect(fast.id == general.id, "\(context()) id: \(text)")
        #expect(fast.op == general.op, "\(context()) op: \(text)")
        #expect(fast.key == general.key, "\(context()) key: \(text)")
        #expect(fast.body == general.body, "\(context()) body: \(text)")
        #expect(fast.payloadDigest == general.payloadDigest, "\(context()) digest: \(text)")
        if case .success(let viaParse) = RequestParser.parse(line) {
            #expect(viaParse.payloadDigest == general.payloadDigest && viaParse.body == general.body)
        } else {
            Issue.record("\(context()) parse refused: \(text)")
        }
        return true
    }

    // MARK: - Edge cases, one by one

    struct Case: Sendable, CustomTestStringConvertible {
        var line: String
        /// Whether the fast path should take it (false: it must leave it to the general parser).
        var fast: Bool
        var testDescription: String { line }
    }

    static let consume = #""op":"consume","team":"t","user":"u","model":"m","key":"k""#
    static let hold = #""op":"hold","team":"t","user":"u","model":"m","key":"k""#
    static let check = #""op":"check","team":"t","user":"u","model":"m""#

    static let cases: [Case] = [
        // Taken.
        Case(line: "{\(consume),\"cost\":1}", fast: true),
        Case(line: "{\(consume)}", fast: true),
        Case(line: "{\(consume),\"cost\":0,\"record\":true}", fast: true),
        Case(line: "{\(consume),\"cost\":9007199254740991,\"record\":false}", fast: true),
        Case(line: "{\(consume),\"input_tokens\":5,\"output_tokens\":0}", fast: true),
        Case(line: "{\(consume),\"pod\":\"p\",\"task\":\"x\",\"operation\":\"image\",\"cost\":3}", fast: true),
        Case(line: "{\"id\":7,\(consume),\"cost\":1}", fast: true),
        Case(line: "{\"id\":-3,\(consume),\"cost\":1}", fast: true),
        Case(line: "{\"id\":-0,\(consume),\"cost\":1}", fast: true),
        Case(line: "{\"id\":123456789012345678901234567890,\(consume),\"cost\":1}", fast: true),
        Case(line: "{\"id\":\"r-1\",\(consume),\"cost\":1}", fast: true),
        Case(line: "{\"id\":\"caf\u{E9}\",\(consume),\"cost\":1}", fast: true),
        Case(line: #"{"cost":1,"key":"k","model":"m","user":"u","team":"t","op":"consume"}"#, fast: true),
        Case(
            line: " \t\r\n{ \"op\" : \"consume\" , \"team\":\"t\",\"user\":\"u\",\"model\":\"m\",\"key\":\"k\" } \n",
            fast: true),
        Case(
            line:
                "{\"op\":\"consume\",\"team\":\"\u{E9}quipe \u{1F600}\",\"user\":\"u\",\"model\":\"m\",\"key\":\"k\"}",
            fast: true),
        Case(
            line:
                "{\"op\":\"consume\",\"team\":\"\(String(repeating: "a", count: 128))\",\"user\":\"u\",\"model\":\"m\",\"key\":\"k\"}",
            fast: true),
        Case(line: "{\(check),\"cost\":3}", fast: true),
        Case(line: "{\(check),\"input_tokens\":3}", fast: true),
        Case(line: "{\(hold),\"amount\":10}", fast: true),
        Case(line: "{\(hold),\"amount\":10,\"ttl_seconds\":1}", fast: true),
        Case(line: "{\(hold),\"input_tokens\":10,\"ttl_seconds\":2592000}", fast: true),
        // Left to the general parser (which accepts or refuses them).
        Case(line: "{\(consume),\"cost\":1.0}", fast: false),
        Case(line: "{\(consume),\"cost\":1e2}", fast: false),
        Case(line: "{\(consume),\"cost\":-0}", fast: false),
        Case(line: "{\(consume),\"cost\":-1}", fast: false),
        Case(line: "{\(consume),\"cost\":01}", fast: false),
        Case(line: "{\(consume),\"cost\":9007199254740992}", fast: false),
        Case(line: "{\(consume),\"cost\":18446744073709551616}", fast: false),
        Case(line: "{\(consume),\"cost\":\"1\"}", fast: false),
        Case(line: "{\(consume),\"cost\":null}", fast: false),
        Case(line: "{\(consume),\"cost\":true}", fast: false),
        Case(line: "{\(consume),\"cost\":1,\"cost\":1}", fast: false),
        Case(line: "{\(consume),\"cost\":1,\"colour\":\"red\"}", fast: false),
        Case(line: "{\(consume),\"cost\":1,\"amount\":1}", fast: false),
        Case(line: "{\(consume),\"record\":1}", fast: false),
        Case(line: "{\(consume),\"record\":null}", fast: false),
        Case(line: "{\(consume),\"params\":{\"steps\":5}}", fast: false),
        Case(line: "{\(consume),\"params\":{}}", fast: false),
        Case(line: "{\(consume),\"task\":\"x\"}", fast: true),
        Case(line: "{\(consume),\"task\":\"x\",\"cost\":3}", fast: true),
        Case(line: #"{"op":"consume","team":"t","user":"u","model":"m"}"#, fast: false),
        Case(line: #"{"op":"consume","team":"t","user":"u","key":"k"}"#, fast: false),
        Case(line: #"{"op":"consume","team":"t","user":"u","model":"m","key":""}"#, fast: false),
        Case(line: #"{"op":"consume","team":"t","user":"u","model":"m","key":5}"#, fast: false),
        Case(line: #"{"op":"consume","team":"t\u0041","user":"u","model":"m","key":"k"}"#, fast: false),
        Case(line: #"{"op":"consume","team":"t\"","user":"u","model":"m","key":"k"}"#, fast: false),
        Case(line: #"{"op":"consume","team":"t\/","user":"u","model":"m","key":"k"}"#, fast: false),
        Case(
            line: "{\"op\":\"consume\",\"team\":\"a\u{7F}b\",\"user\":\"u\",\"model\":\"m\",\"key\":\"k\"}", fast: false
        ),
        Case(
            line: "{\"op\":\"consume\",\"team\":\"a\u{85}b\",\"user\":\"u\",\"model\":\"m\",\"key\":\"k\"}", fast: false
        ),
        Case(
            line:
                "{\"op\":\"consume\",\"team\":\"\(String(repeating: "a", count: 129))\",\"user\":\"u\",\"model\":\"m\",\"key\":\"k\"}",
            fast: false),
        Case(
            line:
                "{\"op\":\"consume\",\"team\":\"\(String(repeating: "\u{E9}", count: 65))\",\"user\":\"u\",\"model\":\"m\",\"key\":\"k\"}",
            fast: false),
        Case(line: #"{"op":"consume","team":null,"user":"u","model":"m","key":"k"}"#, fast: false),
        Case(line: #"{"op":"consume","team":["t"],"user":"u","model":"m","key":"k"}"#, fast: false),
        Case(line: "{\"id\":1.5,\(consume)}", fast: false),
        Case(line: "{\"id\":\"\",\(consume)}", fast: false),
        Case(line: "{\"id\":true,\(consume)}", fast: false),
        Case(line: "{\"id\":null,\(consume)}", fast: false),
        Case(line: "{\"id\":\"\(String(repeating: "9", count: 70))\",\(consume)}", fast: true),
        Case(line: "{\"id\":\(String(repeating: "9", count: 70)),\(consume)}", fast: false),
        Case(line: "{\"Op\":\"consume\",\"team\":\"t\",\"user\":\"u\",\"model\":\"m\",\"key\":\"k\"}", fast: false),
        Case(line: #"{"op":"Consume","team":"t","user":"u","model":"m","key":"k"}"#, fast: false),
        Case(line: #"{"op":"topup","team":"t","amount":1,"key":"k"}"#, fast: false),
        Case(line: #"{"op":"ping"}"#, fast: false),
        Case(line: "{\(consume),}", fast: false),
        Case(line: "{\(consume)} x", fast: false),
        Case(line: "{\(consume)", fast: false),
        Case(line: "[{\(consume)}]", fast: false),
        Case(line: "{}", fast: false),
        Case(line: "", fast: false),
        Case(line: "{\(check),\"key\":\"k\"}", fast: false),
        Case(line: "{\(check),\"record\":true}", fast: false),
        Case(line: "{\(hold)}", fast: false),
        Case(line: "{\(hold),\"amount\":10,\"input_tokens\":3}", fast: false),
        Case(line: "{\(hold),\"amount\":10,\"cost\":3}", fast: false),
        Case(line: "{\(hold),\"amount\":10,\"ttl_seconds\":0}", fast: false),
        Case(line: "{\(hold),\"amount\":10,\"ttl_seconds\":2592001}", fast: false),
        Case(line: "{\(hold),\"amount\":10,\"ttl_seconds\":99999999}", fast: false),
    ]

    @Test(arguments: FastRequestParserTests.cases)
    func parse_whenEdgeCase_fastPathAgreesWithTheGeneralParser(_ c: Case) {
        let taken = Self.agree(Array(c.line.utf8))
        #expect(taken == c.fast, "fast path \(taken ? "took" : "left") it")
    }

    @Test func parse_whenStringHoldsInvalidUTF8_leavesItToTheGeneralParser() {
        var line = Array(#"{"op":"consume","team":"t"#.utf8)
        line.append(0xFF)
        line += Array(#"","user":"u","model":"m","key":"k"}"#.utf8)
        #expect(!Self.agree(line))
        guard case .failure(let f) = RequestParser.parse(line) else {
            Issue.record("accepted invalid UTF-8")
            return
        }
        #expect(f.rejection.code == .badRequest)
    }

    @Test func parse_whenLineIsLong_leavesItToTheGeneralParser() {
        let padding = String(repeating: " ", count: FastRequestParser.lineBytesMax)
        #expect(!Self.agree(Array("{\(Self.consume)\(padding)}".utf8)))
    }

    // MARK: - Generated lines

    @Test(arguments: UInt64(1)...40)
    func parse_whenLineIsGenerated_fastPathAgreesWithTheGeneralParser(seed: UInt64) {
        var gen = RequestLineGenerator(seed: seed)
        var taken = 0
        let count = 400
        for n in 0..<count {
            let line = gen.line(wellFormed: false)
            if Self.agree(line, "seed \(seed) line \(n):") { taken += 1 }
        }
        // The generator makes most lines plain enough for the fast path: the property is not vacuous.
        #expect(taken >= count / 10, "seed \(seed): the fast path took only \(taken) of \(count)")
    }

    @Test(arguments: UInt64(101)...120)
    func parse_whenLineIsPlain_takesTheFastPath(seed: UInt64) {
        var gen = RequestLineGenerator(seed: seed)
        for n in 0..<200 {
            let line = gen.line(wellFormed: true)
            #expect(
                Self.agree(line, "seed \(seed) line \(n):"),
                "seed \(seed) line \(n) left to the general parser: \(String(decoding: line, as: UTF8.self))")
        }
    }
}

/// Request lines for `consume`, `check` and `hold` (and a few other ops), with members in any
/// order and whitespace anywhere. `wellFormed`: only values the fast path takes; otherwise one
/// in ten members gets an odd value (escapes, unicode, big or signed or fractional numbers,
/// wrong types, nesting), and members are sometimes dropped, repeated or unknown.
struct RequestLineGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 }

    /// SplitMix64.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(next() % UInt64(r.count)) }
    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }

    static let plainIDs = [
        #""t""#, #""u1""#, #""bench""#, #""ccc-000000001""#, "\"\(String(repeating: "x", count: 128))\"",
        #""a b""#, #""caf\#u{E9}""#, #""\#u{65E5}\#u{672C}""#, #""\#u{1F600}""#, #""~!@#$%^&*()""#,
    ]
    static let oddStrings = [
        #""""#, #""a\u0041""#, #""a\"b""#, #""a\\b""#, #""a\/b""#, #""a\nb""#, #""\u00e9""#,
        #""\ud83d\ude00""#, "\"a\u{7F}b\"", "\"a\u{85}b\"", "\"\(String(repeating: "x", count: 129))\"",
        "\"\(String(repeating: "\u{E9}", count: 65))\"", #""\ud800""#,
    ]
    static let plainAmounts = ["0", "1", "40", "1000000", "9007199254740991"]
    static let oddNumbers = [
        "-0", "-1", "1.0", "1e2", "1E2", "0.5", "-1.5e-3", "9007199254740992",
        "18446744073709551616", "123456789012345678901234567890", "01", "00", "-", "1.", ".5", "+1",
    ]
    static let oddValues = ["null", "true", "false", "[]", "[1]", "{}", #"{"a":1}"#, #""5""#, "nul", "tru"]

    mutating func odd() -> String {
        switch int(0...2) {
        case 0: return pick(Self.oddStrings)
        case 1: return pick(Self.oddNumbers)
        default: return pick(Self.oddValues)
        }
    }

    mutating func space() -> String {
        guard chance(15) else { return "" }
        return pick([" ", "  ", "\t", "\n", "\r\n", " \t "])
    }

    mutating func line(wellFormed: Bool) -> [UInt8] {
        let op =
            wellFormed
            ? pick(["consume", "consume", "check", "hold"])
            : pick(["consume", "consume", "check", "hold", "hold", "topup", "ping"])
        var members: [(String, String)] = [("op", "\"\(op)\"")]
        func id() -> String { pick(Self.plainIDs) }
        func amount() -> String { pick(Self.plainAmounts) }
        if chance(70) {
            members.append(
                ("id", pick(["7", "-3", "0", "-0", "123456789012345678901234567890", #""r-1""#, #""caf\#u{E9}""#])))
        }
        members += [("team", id()), ("user", id()), ("model", id())]
        if op != "check" { members.append(("key", id())) }
        if chance(30) {
            members.append(("pod", id()))
            if chance(50) { members.append(("task", id())) }
        } else if chance(10) {
            members.append(("task", id()))  // a task of the team, without a pod
        }
        if chance(20) { members.append(("operation", id())) }
        switch op {
        case "consume", "check":
            if chance(60) {
                members.append(("cost", amount()))
            } else {
                if chance(70) { members.append(("input_tokens", amount())) }
                if chance(50) { members.append(("output_tokens", amount())) }
            }
            if op == "consume" && chance(20) { members.append(("record", pick(["true", "false"]))) }
        case "hold":
            if chance(50) {
                members.append(("amount", amount()))
            } else {
                members.append(("input_tokens", amount()))
                if chance(50) { members.append(("output_tokens", amount())) }
            }
            if chance(30) { members.append(("ttl_seconds", pick(["1", "600", "2592000"]))) }
        default:
            members.append(("amount", amount()))
        }
        if !wellFormed {
            for i in members.indices where i > 0 && chance(10) { members[i].1 = odd() }
            if chance(10) { members.remove(at: int(0...(members.count - 1))) }
            if chance(10), let m = members.randomElement(using: &self) { members.append(m) }
            if chance(8) {
                members.append(
                    pick([
                        ("colour", #""red""#), ("params", #"{"steps":5}"#), ("amount", "1"), ("record", "true"),
                        ("cost", "2"), ("key", #""k2""#),
                    ]))
            }
        }
        for i in stride(from: members.count - 1, to: 0, by: -1) { members.swapAt(i, int(0...i)) }
        var text = space() + "{"
        for (i, m) in members.enumerated() {
            if i > 0 { text += space() + "," }
            text += space() + "\"\(m.0)\"" + space() + ":" + space() + m.1 + space()
        }
        text += "}" + space()
        if !wellFormed && chance(3) { text += pick(["x", ",", "}", "{}"]) }
        if !wellFormed && chance(3) { text = String(text.dropLast(int(1...3))) }
        return Array(text.utf8)
    }
}

extension RequestLineGenerator: RandomNumberGenerator {}
