import LedgerJSON
import Testing

@testable import LedgerCore

/// The hash chain of PROTOCOL §6 against a vector computed outside Swift (python3: hashlib.sha256
/// over the previous 32 bytes and json.dumps(sort_keys=True, separators=(",", ":"),
/// ensure_ascii=False) of the event without `hash`; all keys here are ASCII, where that sort is
/// RFC 8785's).
@Suite struct HashChainTests {
    static let t0 = Instant(rfc3339: "2026-03-10T09:00:00.000Z")!
    static let t1 = Instant(rfc3339: "2026-03-10T09:05:00.250Z")!

    static let events: [Event] = [
        Event(
            seq: 1, ts: t0, key: "k1",
            body: .teamCreated(team: ID("acme")!, plan: ID("solo")!, timezone: "UTC", dailyLimit: -1, cycleAnchor: 10)),
        Event(
            seq: 2, ts: t0, key: "k1",
            body: .cycleStarted(
                team: ID("acme")!, plan: ID("solo")!, allowance: 500_000, cycleStart: t0,
                cycleEnd: Instant(rfc3339: "2026-04-10T00:00:00.000Z")!, lapsed: 0)),
        Event(
            seq: 3, ts: t1, key: "c1",
            body: .consumed(
                Consumption(
                    tags: UsageTags(
                        team: ID("acme")!, user: ID("ana")!, model: ID("gpt-4o")!, operation: "r\u{E9}sum\u{E9}"),
                    inputTokens: 1000, outputTokens: 200, params: nil, cost: 1600, day: LocalDay(string: "2026-03-10")!,
                    draws: [Draw(bucketSeq: 2, amount: 1600)], overdraft: 0, record: false))),
    ]

    static let expectedHashes = [
        "3acc929f906af672610241ad0f37f88706256ef7acc8e4d703f358061174cec9",
        "a0eafba07c1c806656584cd65e9d70e36eb1c6a80ec81327507df75c4eb1d6be",
        "9ab8e6d8ef8129999301f8b186cf16b402a36a7e90f988054ebaf47115f1a667",
    ]

    static let expectedStored = [
        #"{"cycle_anchor":10,"daily_limit":-1,"hash":"3acc929f906af672610241ad0f37f88706256ef7acc8e4d703f358061174cec9","key":"k1","plan":"solo","seq":1,"team":"acme","timezone":"UTC","ts":"2026-03-10T09:00:00.000Z","type":"team_created","v":1}"#,
        #"{"allowance":500000,"cycle_end":"2026-04-10T00:00:00.000Z","cycle_start":"2026-03-10T09:00:00.000Z","hash":"a0eafba07c1c806656584cd65e9d70e36eb1c6a80ec81327507df75c4eb1d6be","key":"k1","lapsed":0,"plan":"solo","seq":2,"team":"acme","ts":"2026-03-10T09:00:00.000Z","type":"cycle_started","v":1}"#,
        #"{"cost":1600,"day":"2026-03-10","draws":[{"amount":1600,"bucket_seq":2}],"hash":"9ab8e6d8ef8129999301f8b186cf16b402a36a7e90f988054ebaf47115f1a667","input_tokens":1000,"key":"c1","model":"gpt-4o","operation":"résumé","output_tokens":200,"overdraft":0,"record":false,"seq":3,"team":"acme","ts":"2026-03-10T09:05:00.250Z","type":"consumed","user":"ana","v":1}"#,
    ]

    /// Seals the fixed events in order from the genesis hash.
    static func sealed() -> [(stored: [UInt8], hash: [UInt8])] {
        var prev = HashChain.genesis
        return events.map { e in
            let s = HashChain.seal(e, previous: prev)
            prev = s.hash
            return s
        }
    }

    @Test func seal_whenFixedEvents_matchesTheExternallyComputedChain() {
        let chain = Self.sealed()
        #expect(chain.map { HashChain.hex($0.hash) } == Self.expectedHashes)
        #expect(chain.map { String(decoding: $0.stored, as: UTF8.self) } == Self.expectedStored)
    }

    @Test func genesis_isThirtyTwoZeroBytes() {
        #expect(HashChain.genesis == [UInt8](repeating: 0, count: 32))
    }

    @Test func check_whenChainIntact_returnsEachSeqAndHash() throws {
        var prev = HashChain.genesis
        for (i, line) in Self.expectedStored.enumerated() {
            let r = try HashChain.check(line: Array(line.utf8), previous: prev, expectedSeq: UInt64(i + 1))
            #expect(r.seq == UInt64(i + 1))
            #expect(HashChain.hex(r.hash) == Self.expectedHashes[i])
            prev = r.hash
        }
    }

    @Test func open_whenChainIntact_returnsTheOriginalEvents() throws {
        var prev = HashChain.genesis
        for (i, line) in Self.expectedStored.enumerated() {
            let r = try HashChain.open(stored: Array(line.utf8), previous: prev, expectedSeq: UInt64(i + 1))
            #expect(r.event == Self.events[i])
            prev = r.hash
        }
    }

    @Test func check_whenOneByteFlipped_reportsWrongHash() throws {
        let prev = try #require(HashChain.unhex(Self.expectedHashes[1]))
        var line = Array(Self.expectedStored[2].utf8)
        // Flip one bit of the team id: "acme" becomes "acle", still valid JSON.
        let at = try #require(Self.indexOf(Array(#""team":"acme""#.utf8), in: line)) + 10
        #expect(line[at] == UInt8(ascii: "m"))
        line[at] ^= 0x01
        #expect(throws: HashChain.Failure.self) { try HashChain.check(line: line, previous: prev, expectedSeq: 3) }
        do {
            _ = try HashChain.check(line: line, previous: prev, expectedSeq: 3)
        } catch {
            guard case .wrongHash(_, let stored) = error else {
                Issue.record("expected wrongHash, got \(error)")
                return
            }
            #expect(stored == Self.expectedHashes[2])
        }
        #expect(throws: HashChain.Failure.self) { try HashChain.open(stored: line, previous: prev, expectedSeq: 3) }
    }

    @Test func check_whenPreviousHashDiffers_reportsWrongHash() {
        // The right line after the wrong predecessor: the chain covers the previous hash.
        let line = Array(Self.expectedStored[2].utf8)
        #expect(throws: HashChain.Failure.self) {
            try HashChain.check(line: line, previous: HashChain.genesis, expectedSeq: 3)
        }
    }

    @Test func check_whenSeqIsNotTheExpectedOne_reportsWrongSeq() throws {
        let prev = try #require(HashChain.unhex(Self.expectedHashes[0]))
        let line = Array(Self.expectedStored[1].utf8)
        do {
            _ = try HashChain.check(line: line, previous: prev, expectedSeq: 5)
            Issue.record("a seq 2 line passed as seq 5")
        } catch {
            #expect(error == .wrongSeq(expected: 5, found: 2))
        }
        do {
            _ = try HashChain.open(stored: line, previous: prev, expectedSeq: 3)
            Issue.record("a seq 2 line opened as seq 3")
        } catch {
            #expect(error == .wrongSeq(expected: 3, found: 2))
        }
    }

    @Test(arguments: ["", "[]", "{\"seq\":1}", "{\"hash\":\"00\"}", "not json"])
    func check_whenLineUnreadable_reportsUnreadable(line: String) {
        do {
            _ = try HashChain.check(line: Array(line.utf8), previous: HashChain.genesis)
            Issue.record("accepted \(line)")
        } catch {
            guard case .unreadable = error else {
                Issue.record("expected unreadable, got \(error)")
                return
            }
        }
    }

    @Test func hex_roundTripsAndUnhexRefusesUpperCaseAndOddLength() {
        let bytes: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xAB, 0xFF]
        #expect(HashChain.hex(bytes) == "00017f80abff")
        #expect(HashChain.unhex("00017f80abff") == bytes)
        #expect(HashChain.unhex("ABFF") == nil)
        #expect(HashChain.unhex("abf") == nil)
        #expect(HashChain.unhex("zz") == nil)
        #expect(HashChain.unhex("") == [])
    }

    static func indexOf(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard needle.count <= hay.count else { return nil }
        for i in 0...(hay.count - needle.count) where Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }
}
