import LedgerCore
import LedgerJSON
import LedgerProtocol
import Testing

@testable import LedgerProjections
@testable import LedgerStore

/// `audit {team}` with the `audit_teams` block index answers exactly what a plain scan of the
/// log answers, page for page in content, while reading only the blocks that hold the team.
@Suite struct AuditIndexTests {
    @Test func indexedTeamAuditEqualsAScan() throws {
        let h = try EngineHarness(.memory)
        _ = h.run([
            #"{"op":"team.create","team":"big","plan":"enterprise"}"#, #"{"op":"user.add","team":"big","user":"u"}"#,
            #"{"op":"team.create","team":"rare","plan":"enterprise"}"#, #"{"op":"user.add","team":"rare","user":"u"}"#,
        ])
        var lines: [String] = []
        for i in 0..<6000 {
            let team = i % 1700 == 5 ? "rare" : "big"
            lines.append(#"{"op":"consume","team":"\#(team)","user":"u","model":"m","cost":1,"key":"k\#(i)"}"#)
            if lines.count == 500 {
                _ = h.run(lines)
                lines = []
            }
        }
        _ = h.run(lines)
        let head = try h.storage.head().seq
        let scratch = try ScratchDirectory()
        let store = try ViewStore(directory: scratch.path, mapSizeBytes: 1 << 22)
        _ = try ProjectionHub.rebuildOffline([.auditTeams], store: store, log: h.storage) { _, _ in }
        let queries = ViewQueries(store: store)

        var plain = LogReader(storage: h.storage)
        plain.auditScanMax = 700
        var indexed = LogReader(storage: h.storage) { team, from in queries.teamSeq(team: team, from: from) }
        indexed.auditScanMax = 700

        func all(_ r: LogReader, team: String, limit: Int) throws -> (events: [JSON], pages: Int) {
            var q = AuditQuery()
            q.team = ID(team)!
            q.limit = limit
            var events: [JSON] = []
            var pages = 0
            while true {
                let page = try r.audit(q, head: head)
                pages += 1
                events += page["events"]!.arrayValue!
                guard let next = page["next_after_seq"]?.numberValue?.int64 else { break }
                q.afterSeq = UInt64(next)
            }
            return (events, pages)
        }
        for (team, limit) in [("rare", 1000), ("rare", 1), ("big", 2500)] {
            let a = try all(plain, team: team, limit: limit)
            let b = try all(indexed, team: team, limit: limit)
            #expect(a.events == b.events, "\(team): the index changed what audit answers")
            #expect(!a.events.isEmpty)
            if team == "rare" && limit == 1000 {
                #expect(b.pages < a.pages, "the index should spare pages: \(b.pages) vs \(a.pages)")
            }
        }
    }
}
