import LedgerCore
import Testing

@testable import LedgerProjections

/// The scanner looks for the end of a string eight bytes at a time: wherever the quote or an
/// escape falls in the word, it must read what the full parser reads.
@Suite struct FactScannerTests {
    static func event(team: String, user: String) -> [UInt8] {
        Array(
            (#"{"cost":3,"day":"2026-01-02","hash":"00ff","model":"m","seq":5,"team":"# + team
                + #","type":"consumed","user":"#
                + user + "}").utf8)
    }

    static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    @Test(arguments: 0...19)
    func idsOfEveryLength_andEscapesAtEveryOffset_readAsTheParserReadsThem(length: Int) throws {
        let plain = String(repeating: "a", count: length)
        let cases = [
            plain, plain + "é", "é" + plain, plain + "\"", "\"" + plain, plain + "\\" + plain, plain + "\u{7F}x",
            String(repeating: "\u{22}\u{5C}", count: length % 3) + plain,
        ]
        for team in cases {
            for user in ["u", plain + "zz", "\\" + plain] {
                let bytes = Self.event(team: Self.quoted(team), user: Self.quoted(user))
                let fast = try FactScanner.facts(bytes, seq: 5)
                let slow = try FactScanner.slow(bytes, seq: 5)
                #expect(fast == slow, "team \(team.debugDescription), user \(user.debugDescription)")
                #expect(fast.team == Array(team.utf8))
                #expect(fast.user == Array(user.utf8))
                #expect(fast.cost == 3 && fast.kind == .consumed)
            }
        }
    }
}
