import Foundation
import LedgerTestKit
import Testing

/// The schemas themselves: valid draft 2020-12, one per op / event type of the contract, and
/// they accept the PROTOCOL's own examples and reject what the contract rejects. Needs no daemon.
@Suite("Schemas")
struct SchemaTests {
    static let ops = [
        "team.create", "team.configure", "team.resume", "pod.resume", "user.add", "user.remove", "user.assign",
        "pod.create", "pod.configure", "pod.archive", "plan.define", "price.set", "topup", "bonus.grant", "reset",
        "reverse", "consume", "hold", "hold.commit", "hold.release", "ping", "estimate", "check", "balance", "usage",
        "report", "audit", "subscribe", "verify", "stats", "rebuild", "clock.set", "clock.advance",
        "backup",
    ]
    static let eventTypes = [
        "team_created", "team_configured", "team_resumed", "pod_resumed", "user_added", "user_removed",
        "user_assigned", "pod_created", "pod_configured", "pod_archived", "plan_defined", "price_set", "topup",
        "bonus_granted", "cycle_started", "daily_reset", "bonus_expired", "consumed", "hold_placed", "hold_committed",
        "hold_released", "hold_expired", "budget_alert", "reversed",
    ]

    @Test func everyOpAndEventTypeOfTheContractHasASchema() {
        let root = SchemaCheck.schemasDirectory
        for op in Self.ops {
            #expect(FileManager.default.fileExists(atPath: "\(root)/requests/\(op).json"), "requests/\(op).json")
            #expect(FileManager.default.fileExists(atPath: "\(root)/responses/\(op).json"), "responses/\(op).json")
        }
        #expect(FileManager.default.fileExists(atPath: "\(root)/responses/error.json"))
        for type in Self.eventTypes {
            #expect(FileManager.default.fileExists(atPath: "\(root)/events/\(type).json"), "events/\(type).json")
        }
    }

    private static let hash = String(repeating: "0123456789abcdef", count: 4)

    /// (kind, op, line): lines the schemas must accept.
    static let conforming: [(String, String, String)] = [
        ("request", "ping", #"{"op":"ping","id":1}"#),
        (
            "request", "team.create",
            #"{"op":"team.create","id":"a","team":"acme","plan":"pro","timezone":"Asia/Kathmandu","daily_limit":-1}"#
        ),
        ("request", "price.set", #"{"op":"price.set","model":"m","kind":"text","input_weight":1.5,"output_weight":3}"#),
        (
            "request", "price.set",
            #"{"op":"price.set","model":"img","kind":"image","base":10,"factors":{"resolution":{"1024x1024":1.5}},"per_steps":25}"#
        ),
        (
            "request", "consume",
            #"{"op":"consume","id":2,"team":"acme","user":"u","model":"m","input_tokens":3,"output_tokens":2,"params":{"steps":50,"resolution":"1024x1024"},"key":"k1"}"#
        ),
        ("request", "hold", #"{"op":"hold","team":"acme","user":"u","model":"m","amount":5,"key":"h"}"#),
        (
            "request", "audit",
            #"{"op":"audit","team":"acme","types":["consumed","daily_reset"],"after_seq":0,"limit":10000}"#
        ),
        ("request", "clock.set", #"{"op":"clock.set","at":"2026-11-21T14:32:05.123Z"}"#),
        ("request", "clock.advance", #"{"op":"clock.advance","seconds":3600}"#),
        (
            "request", "plan.define",
            #"{"op":"plan.define","plan":"huge","monthly_tokens":9007199254740991,"max_pods":-1,"max_members":-1}"#
        ),
        ("response", "ping", #"{"id":1,"ok":true,"seq":12}"#),
        (
            "response", "consume",
            #"{"id":2,"ok":true,"seq":13,"cost":11,"available":499989,"consumed_today":11,"status":"green","warnings":[],"user":{"user":"u","allocation_left":-1,"consumed_today":11,"daily_limit":-1},"unknown_extra":1}"#
        ),
        (
            "response", "consume",
            #"{"id":2,"ok":false,"error":{"code":"daily_limit_exceeded","message":"team daily limit","scope":"team_daily"}}"#
        ),
        ("response", "verify", "{\"ok\":true,\"checked\":13,\"head_seq\":13,\"head_hash\":\"\(hash)\"}"),
        ("response", "clock.advance", #"{"ok":true,"now":"2026-01-02T00:00:00.000Z","appended":1}"#),
        ("response", "audit", #"{"ok":true,"events":[],"next_after_seq":null}"#),
        (
            "request", "report",
            #"{"op":"report","team":"acme","period":"week","from":"2026-01-01","by":"model","limit":10000}"#
        ),
        ("request", "rebuild", #"{"op":"rebuild","projection":"audit_teams"}"#),
        (
            "response", "usage",
            #"{"ok":true,"pods":[{"pod":"web","used":5,"budget":-1,"remaining":-1,"paused":false,"by_model":[{"model":"m","tokens":5,"input_tokens":0,"output_tokens":0}],"by_task":[],"daily":[{"day":"2026-01-15","tokens":5}]}],"team":{"used":5,"cycle_first_day":null,"by_model":[],"by_user":[{"user":"u","tokens":5}],"daily":[]}}"#
        ),
        (
            "response", "report",
            #"{"ok":true,"rows":[{"bucket":"2026-W03","tokens":0,"input_tokens":0,"output_tokens":0,"events":1,"share_pct":null,"change_pct":null},{"bucket":"2026-01","key":"m","tokens":5,"input_tokens":1,"output_tokens":2,"events":1,"share_pct":100,"change_pct":-33.33}],"truncated":false}"#
        ),
        ("response", "rebuild", #"{"ok":true,"rebuilt":["daily","pods"],"events":0,"seconds":0.001}"#),
        (
            "response", "stats",
            "{\"ok\":true,\"seq\":3,\"head_hash\":\"\(hash)\",\"events\":3,\"projections\":{\"daily\":{\"seq\":3,\"lag\":0},\"pods\":{\"seq\":2,\"lag\":1},\"reports\":{\"seq\":3,\"lag\":0},\"audit_teams\":{\"seq\":0,\"lag\":3}},\"connections\":1,\"uptime_s\":0,\"map_size\":1048576,\"map_used\":4096}"
        ),
        (
            "response", "balance",
            #"{"ok":true,"available":500000,"overdraft":0,"buckets":[{"seq":3,"source":"allowance","amount":500000,"expires_at":"2026-02-15T00:00:00.000Z"},{"seq":9,"source":"topup","amount":5,"expires_at":null}],"held":0,"consumed_today":0,"daily_limit":-1,"resets_at":"2026-01-16T00:00:00.000Z","consumed_cycle":0,"cycle_start":"2026-01-15T00:00:00.000Z","cycle_end":"2026-02-15T00:00:00.000Z","monthly_budget":-1,"budget_used":0,"paused":false,"status":"green","warnings":[],"plan":"solo","next_plan":null}"#
        ),
        (
            "event", "cycle_started",
            "{\"seq\":3,\"ts\":\"2026-01-15T10:00:00.000Z\",\"type\":\"cycle_started\",\"v\":1,\"hash\":\"\(hash)\",\"team\":\"acme\",\"plan\":\"solo\",\"allowance\":500000,\"cycle_start\":\"2026-01-15T00:00:00.000Z\",\"cycle_end\":\"2026-02-15T00:00:00.000Z\",\"lapsed\":0}"
        ),
        (
            "event", "consumed",
            "{\"seq\":4,\"ts\":\"2026-01-15T10:00:00.000Z\",\"type\":\"consumed\",\"v\":1,\"key\":\"k1\",\"hash\":\"\(hash)\",\"team\":\"acme\",\"user\":\"u\",\"model\":\"m\",\"cost\":11,\"day\":\"2026-01-15\",\"draws\":[{\"bucket_seq\":3,\"amount\":11}],\"overdraft\":0,\"record\":false}"
        ),
        ("response", "subscribe", #"{"id":7,"ok":true,"subscribed":true}"#),
        (
            "event_line", "subscribe",
            "{\"event\":{\"seq\":5,\"ts\":\"2026-01-15T18:15:00.000Z\",\"type\":\"daily_reset\",\"v\":1,\"hash\":\"\(hash)\",\"team\":\"acme\",\"day\":\"2026-01-16\",\"manual\":false}}"
        ),
        (
            "event_line", "subscribe",
            #"{"ok":false,"error":{"code":"integrity","message":"event 9 is unreadable","seq":9}}"#
        ),
        (
            "event", "daily_reset",
            "{\"seq\":5,\"ts\":\"2026-01-15T18:15:00.000Z\",\"type\":\"daily_reset\",\"v\":1,\"hash\":\"\(hash)\",\"team\":\"acme\",\"day\":\"2026-01-16\",\"manual\":false}"
        ),
    ]

    /// (op, line): requests the contract rejects, which the request schemas must reject too.
    static let rejected: [(String, String)] = [
        ("topup", #"{"op":"topup","team":"t","amount":100.0,"key":"k"}"#),
        ("topup", #"{"op":"topup","team":"t","amount":-5,"key":"k"}"#),
        ("topup", #"{"op":"topup","team":"t","amount":18446744073709551616,"key":"k"}"#),
        ("topup", #"{"op":"topup","team":"t","amount":9007199254740992,"key":"k"}"#),
        ("topup", #"{"op":"topup","team":"t","amount":5}"#),
        ("ping", #"{"op":"ping","bogus":1}"#),
        ("hold", #"{"op":"hold","team":"acme","user":"u","model":"m","amount":5,"input_tokens":3,"key":"h"}"#),
        ("price.set", #"{"op":"price.set","model":"m","kind":"text","base":3}"#),
        ("team.create", "{\"op\":\"team.create\",\"team\":\"\(String(repeating: "a", count: 129))\"}"),
        ("audit", #"{"op":"audit","limit":10001}"#),
        ("subscribe", #"{"op":"subscribe","after_seq":-1}"#),
        ("subscribe", #"{"op":"subscribe","types":["nope"]}"#),
        ("subscribe", #"{"op":"subscribe","limit":5}"#),
        ("report", #"{"op":"report","team":"acme","period":"week","limit":10001}"#),
        ("report", #"{"op":"report","team":"acme","period":"year"}"#),
        ("rebuild", #"{"op":"rebuild","projection":"nope"}"#),
        ("backup", #"{"op":"backup"}"#),
        ("backup", #"{"op":"backup","dest":"backups/today"}"#),
        ("backup", #"{"op":"backup","dest":"/var/backups/tl","compact":false}"#),
        ("usage", #"{"op":"usage"}"#),
        ("clock.set", #"{"op":"clock.set","at":"2026-11-21T14:32:05Z"}"#),
    ]

    /// Lines the schemas must flag (a broken response, a broken event).
    static let violating: [(String, String, String)] = [
        ("response", "ping", #"{"id":1,"ok":true}"#),
        ("event_line", "subscribe", #"{"event":{"seq":0,"type":"consumed"}}"#),
        (
            "event_line", "subscribe",
            "{\"event\":{\"seq\":5,\"ts\":\"2026-01-15T18:15:00.000Z\",\"type\":\"daily_reset\",\"v\":1,\"hash\":\"\(String(repeating: "0", count: 64))\"},\"extra\":1}"
        ),
        ("response", "rebuild", #"{"ok":true,"rebuilt":["nope"],"events":1,"seconds":0.1}"#),
        (
            "response", "report",
            #"{"ok":true,"rows":[{"bucket":"2026-W03","tokens":5,"input_tokens":0,"output_tokens":0,"events":1,"share_pct":120}]}"#
        ),
        (
            "event", "consumed",
            #"{"seq":4,"ts":"2026-01-15T10:00:00Z","type":"consumed","v":1,"hash":"ABC","team":"acme","user":"u","model":"m","cost":1.5,"day":"2026-01-15","draws":[],"overdraft":0,"record":false}"#
        ),
    ]

    private func check(_ records: [(String, String?, String)]) throws -> ProcessResult {
        guard case .success(let python) = SchemaCheck.python else { throw LedgerTestError("no python") }
        let directory = try TemporaryDirectory(prefix: "tl-schema-")
        let recorder = TrafficRecorder(path: directory.path + "/traffic.ndjson")
        for (kind, op, line) in records { recorder.record(kind: kind, op: op, line: line) }
        recorder.flush()
        return try SchemaCheck.validate(trafficPath: recorder.path, python: python)
    }

    @Test(.enabled(if: SchemaCheck.isAvailable, "needs python3 with jsonschema"))
    func schemas_acceptTheProtocolsExamplesAndRejectWhatItRejects() throws {
        let records =
            Self.conforming.map { ($0.0, Optional($0.1), $0.2) }
            + Self.rejected.map { ("invalid_request", Optional($0.0), $0.1) }
        let result = try check(records)
        #expect(result.termination == .exited(0), "\(result.stdout)\(result.stderr)")
    }

    @Test(.enabled(if: SchemaCheck.isAvailable, "needs python3 with jsonschema"))
    func schemaCheck_flagsNonConformingLines() throws {
        for (kind, op, line) in Self.violating {
            let result = try check([(kind, op, line)])
            #expect(result.termination == .exited(1), "\(line) should violate: \(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("VIOLATION"))
        }
    }
}
