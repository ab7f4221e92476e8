import LedgerCore
import LedgerJSON
import LedgerProtocol
import Testing

@testable import LedgerProjections
@testable import LedgerStore

/// `report` and `usage` against figures worked out by hand, for a team in New York (UTC−5)
/// whose history spans ISO weeks 5 and 6 and the January/February month boundary. One
/// consumption at 2026-02-01T03:00Z is still January 31st there.
///
///     seq  local day    model user pod task op     cost  in  out
///     c1   2026-01-26   a     u1   p1  t1   chat   100   -   -     later reversed 40 (partial)
///     c2   2026-01-26   b     u2   -   -    image   50   -   -
///     c3   2026-01-31   a     u1   p1  t2   chat    30   -   -     (2026-02-01T03:00Z)
///     c4   2026-02-02   a     u1   p1  t1   -       60  10  25     (priced: 10×1 + 25×2)
///     c5   2026-02-02   b     u2   -   -    image  100   -   -     later reversed in full
///
/// Month by model: 2026-01 a 100−40+30 = 90 (2 events), b 50 (1); total 140, shares
/// 64.29 / 35.71. 2026-02: a 60 (1), share 100, change (60−90)/90 = −33.33; b's only event
/// is reversed in full, so it has no row.
@Suite struct ReportTests {
    final class Fixture {
        let h: EngineHarness
        let queries: ViewQueries
        let scratch: ScratchDirectory

        init() throws {
            let h = try EngineHarness(.memory, start: "2026-01-26T15:00:00.000Z")
            self.h = h
            @discardableResult func ok(_ line: String) -> EngineAnswer {
                let a = h.one(line)
                precondition(a.code == nil, "\(line) → \(a)")
                return a
            }
            ok(#"{"op":"price.set","model":"a","kind":"text","input_weight":1,"output_weight":2}"#)
            ok(#"{"op":"price.set","model":"b","kind":"text"}"#)
            ok(#"{"op":"team.create","team":"r","plan":"pro","timezone":"America/New_York"}"#)
            ok(#"{"op":"user.add","team":"r","user":"u1"}"#)
            ok(#"{"op":"user.add","team":"r","user":"u2"}"#)
            ok(#"{"op":"pod.create","team":"r","pod":"p1","budget":1000}"#)
            let c1 = ok(
                #"{"op":"consume","key":"c1","team":"r","user":"u1","pod":"p1","task":"t1","model":"a","operation":"chat","cost":100}"#
            ).seq!
            ok(#"{"op":"consume","key":"c2","team":"r","user":"u2","model":"b","operation":"image","cost":50}"#)
            ok(#"{"op":"clock.set","at":"2026-02-01T03:00:00.000Z"}"#)
            ok(
                #"{"op":"consume","key":"c3","team":"r","user":"u1","pod":"p1","task":"t2","model":"a","operation":"chat","cost":30}"#
            )
            ok(#"{"op":"clock.set","at":"2026-02-02T15:00:00.000Z"}"#)
            ok(
                #"{"op":"consume","key":"c4","team":"r","user":"u1","pod":"p1","task":"t1","model":"a","input_tokens":10,"output_tokens":25}"#
            )
            let c5 = ok(
                #"{"op":"consume","key":"c5","team":"r","user":"u2","model":"b","operation":"image","cost":100}"#
            ).seq!
            ok(#"{"op":"reverse","key":"r1","seq":\#(c1),"reason":"refund","amount":40}"#)
            ok(#"{"op":"reverse","key":"r2","seq":\#(c5),"reason":"refund"}"#)
            scratch = try ScratchDirectory()
            let store = try ViewStore(directory: scratch.path, mapSizeBytes: 1 << 22)
            _ = try ProjectionHub.rebuildOffline([], store: store, log: h.storage) { _, _ in }
            queries = ViewQueries(store: store)
        }

        func rows(_ period: ReportPeriod, by: ReportDimension? = nil, from: String? = nil, to: String? = nil) throws
            -> [String]
        {
            var q = ReportQuery(team: ID("r")!, period: period)
            q.by = by
            q.from = from.flatMap(LocalDay.init(string:))
            q.to = to.flatMap(LocalDay.init(string:))
            return try queries.report(q)["rows"]!.arrayValue!.map { CanonicalJSON.string($0) }
        }
    }

    @Test func monthByModel() throws {
        let f = try Fixture()
        #expect(
            try f.rows(.month, by: .model) == [
                #"{"bucket":"2026-01","change_pct":null,"events":2,"input_tokens":0,"key":"a","output_tokens":0,"share_pct":64.29,"tokens":90}"#,
                #"{"bucket":"2026-01","change_pct":null,"events":1,"input_tokens":0,"key":"b","output_tokens":0,"share_pct":35.71,"tokens":50}"#,
                #"{"bucket":"2026-02","change_pct":-33.33,"events":1,"input_tokens":10,"key":"a","output_tokens":25,"share_pct":100,"tokens":60}"#,
            ])
    }

    @Test func weekByModelSplitsAtMonday() throws {
        let f = try Fixture()
        #expect(
            try f.rows(.week, by: .model) == [
                #"{"bucket":"2026-W05","change_pct":null,"events":2,"input_tokens":0,"key":"a","output_tokens":0,"share_pct":64.29,"tokens":90}"#,
                #"{"bucket":"2026-W05","change_pct":null,"events":1,"input_tokens":0,"key":"b","output_tokens":0,"share_pct":35.71,"tokens":50}"#,
                #"{"bucket":"2026-W06","change_pct":-33.33,"events":1,"input_tokens":10,"key":"a","output_tokens":25,"share_pct":100,"tokens":60}"#,
            ])
    }

    @Test func dayWithoutByBucketsByLocalDay() throws {
        let f = try Fixture()
        // 2026-02-01T03:00Z is January 31st in New York; day rows carry no change_pct.
        #expect(
            try f.rows(.day) == [
                #"{"bucket":"2026-01-26","events":2,"input_tokens":0,"output_tokens":0,"share_pct":100,"tokens":110}"#,
                #"{"bucket":"2026-01-31","events":1,"input_tokens":0,"output_tokens":0,"share_pct":100,"tokens":30}"#,
                #"{"bucket":"2026-02-02","events":1,"input_tokens":10,"output_tokens":25,"share_pct":100,"tokens":60}"#,
            ])
    }

    @Test func absentKeysSortLast() throws {
        let f = try Fixture()
        #expect(
            try f.rows(.month, by: .pod) == [
                #"{"bucket":"2026-01","change_pct":null,"events":2,"input_tokens":0,"key":"p1","output_tokens":0,"share_pct":64.29,"tokens":90}"#,
                #"{"bucket":"2026-01","change_pct":null,"events":1,"input_tokens":0,"output_tokens":0,"share_pct":35.71,"tokens":50}"#,
                #"{"bucket":"2026-02","change_pct":-33.33,"events":1,"input_tokens":10,"key":"p1","output_tokens":25,"share_pct":100,"tokens":60}"#,
            ])
        #expect(
            try f.rows(.month, by: .operation) == [
                #"{"bucket":"2026-01","change_pct":null,"events":2,"input_tokens":0,"key":"chat","output_tokens":0,"share_pct":64.29,"tokens":90}"#,
                #"{"bucket":"2026-01","change_pct":null,"events":1,"input_tokens":0,"key":"image","output_tokens":0,"share_pct":35.71,"tokens":50}"#,
                #"{"bucket":"2026-02","change_pct":null,"events":1,"input_tokens":10,"output_tokens":25,"share_pct":100,"tokens":60}"#,
            ])
    }

    @Test func fromAndToSelectWholeBuckets_changeReadsTheBucketBefore() throws {
        let f = try Fixture()
        #expect(
            try f.rows(.week, by: .user, from: "2026-02-03", to: "2026-02-03") == [
                #"{"bucket":"2026-W06","change_pct":-33.33,"events":1,"input_tokens":10,"key":"u1","output_tokens":25,"share_pct":100,"tokens":60}"#
            ])
        #expect(try f.rows(.day, from: "2026-01-27", to: "2026-01-30") == [])
        #expect(try f.rows(.month, by: .task, from: "2026-01-31", to: "2026-01-31").count == 3)
    }

    @Test func usageForTheCurrentCycle() throws {
        let f = try Fixture()
        let u = try f.queries.usage(team: ID("r")!, pod: nil)
        // The cycle began 2026-01-26 (team.create): every consumption above is in it.
        #expect(
            CanonicalJSON.string(u["pods"]!)
                == #"[{"budget":1000,"by_model":[{"input_tokens":10,"model":"a","output_tokens":25,"tokens":150}],"by_task":[{"task":"t1","tokens":120},{"task":"t2","tokens":30}],"daily":[{"day":"2026-01-26","tokens":60},{"day":"2026-01-31","tokens":30},{"day":"2026-02-02","tokens":60}],"paused":false,"pod":"p1","remaining":850,"used":150}]"#
        )
        #expect(u["team"]?.objectValue?["used"] == .int(200))
        #expect(f.h.team("r").budget.used == 200)
        #expect(throws: Rejection.self) { try f.queries.usage(team: ID("r")!, pod: ID("nope")!) }
        #expect(throws: Rejection.self) { try f.queries.usage(team: ID("zz")!, pod: nil) }
    }
}
