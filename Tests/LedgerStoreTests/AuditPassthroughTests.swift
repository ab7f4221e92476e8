import LedgerCore
import LedgerJSON
import LedgerProtocol
import Testing

@testable import LedgerStore

/// `audit` answers the events' stored bytes instead of parsing and encoding them again: the
/// answer must be the same bytes as before, and a damaged record must not break the line.
@Suite struct AuditPassthroughTests {
    @Test(arguments: UInt64(1)...12)
    func storedEvents_areTheirOwnCanonicalEncoding_soPassingThemThroughChangesNoAnswer(seed: UInt64) throws {
        var config = EngineConfig()
        config.keyRetentionDays = 100_000
        let h = try EngineHarness(.memory, config: config)
        var gen = MoneyHistoryGenerator(seed: seed)
        for line in MoneyHistoryGenerator.preamble { _ = h.one(line) }
        for _ in 0..<120 {
            var now = h.clock.now()
            let (op, line) = gen.nextLine(state: h.engine.state, now: &now)
            let answer = h.engine.execute([parsed(line)])[0]
            if answer.code == nil, let seq = answer.seq { gen.learn(op: op, seq: seq) }
        }
        let head = try h.storage.head().seq
        let stored = try h.storage.events(from: 1, limit: Int(head))
        #expect(stored.count == Int(head))
        for s in stored {
            let json = try #require(try? JSONParser.parse(s.bytes))
            #expect(CanonicalJSON.bytes(json) == s.bytes, "seed \(seed): event \(s.seq) is not stored in RFC 8785 form")
            #expect(LogReader.isFramedObject(s.bytes))
        }

        // The page line equals what the encoder made of the parsed fields.
        var q = AuditQuery()
        q.limit = 50
        q.afterSeq = UInt64(seed % 5)
        let reader = LogReader(storage: h.storage)
        let page = try reader.auditPage(q, head: head)
        let fields = try reader.audit(q, head: head)
        for id: JSON? in [nil, .string("r-\(seed)"), .int(Int64(seed))] {
            var o = JSONObject()
            if let id { o["id"] = id }
            o["ok"] = .bool(true)
            o.members.append(contentsOf: fields.members)
            #expect(page.line(id: id) == CanonicalJSON.bytes(.object(o)), "seed \(seed), id \(String(describing: id))")
        }
    }

    @Test(arguments: [
        ("{}", true), (#"{"a":1}"#, true), (#"{"a":"é"}"#, true), ("", false), ("{", false), ("[1]", false),
        ("{\"a\":\n1}", false), ("{\"a\":\"\t\"}", false), (" {}", false),
    ])
    func framedObject_isOneObjectOnOneLine(text: String, framed: Bool) {
        #expect(LogReader.isFramedObject(Array(text.utf8)) == framed)
    }

    @Test func emptyPage_atTheHead_saysSoWithNull() {
        let line = EventsPage(events: [], nextAfterSeq: nil).line(id: nil)
        #expect(String(decoding: line, as: UTF8.self) == #"{"events":[],"next_after_seq":null,"ok":true}"#)
        let more = EventsPage(events: [Array("{}".utf8), Array(#"{"b":2}"#.utf8)], nextAfterSeq: 7).line(id: .int(3))
        #expect(
            String(decoding: more, as: UTF8.self) == #"{"events":[{},{"b":2}],"id":3,"next_after_seq":7,"ok":true}"#)
    }
}
