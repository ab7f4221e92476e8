import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

/// The whole role × op matrix of PROTOCOL §5, from a client that really is another uid
/// (`setpriv` to 65534, see `OtherUser`): every op a role may use is never `forbidden`, every
/// other op is `forbidden`, appends nothing and is logged with the peer's uid and the op.
/// The expected sets are written out here from the protocol's text, not taken from the daemon.
@Suite(
    "Roles: every op for every role",
    .enabled(if: OtherUser.isAvailable, "needs root, setpriv, /usr/bin/python3 and nogroup"))
struct RoleMatrixTests {
    static let gatewayOps: Set<String> = [
        "consume", "hold", "hold.commit", "hold.release", "estimate", "check", "balance", "ping",
    ]
    static let auditorOps: Set<String> = [
        "balance", "usage", "report", "audit", "subscribe", "verify", "stats", "ping",
    ]

    /// One request per op, each valid enough that a permitted role gets past the role check
    /// (it may still meet `not_found` or similar; only `forbidden` is the role's answer).
    /// `subscribe` comes last: after it the connection only streams.
    static func requests(hold: Int, otherHold: Int, topup: Int, head: Int, now: JSON, backup: String) -> [JSON] {
        let list: [(String, JSON)] = [
            ("ping", [:]),
            ("estimate", ["model": "gpt-4o", "input_tokens": 10]),
            ("check", ["team": "t", "user": "u", "model": "m", "cost": 1]),
            ("balance", ["team": "t"]),
            ("audit", ["limit": 1]),
            ("verify", [:]),
            ("stats", [:]),
            ("usage", ["team": "t"]),
            ("report", ["team": "t", "period": "day"]),
            ("rebuild", ["projection": "daily"]),
            ("backup", ["dest": .string(backup)]),
            ("team.create", ["team": "x"]),
            ("team.configure", ["team": "t", "daily_limit": 100_000]),
            ("team.resume", ["team": "t"]),
            ("pod.resume", ["team": "t", "pod": "p"]),
            ("user.add", ["team": "t", "user": "v"]),
            ("user.assign", ["team": "t", "user": "u", "amount": 1000]),
            ("user.remove", ["team": "t", "user": "v"]),
            ("pod.create", ["team": "t", "pod": "q"]),
            ("pod.configure", ["team": "t", "pod": "p", "budget": 50_000]),
            ("pod.archive", ["team": "t", "pod": "q"]),
            ("plan.define", ["plan": "tiny", "monthly_tokens": 10, "max_pods": 1, "max_members": 1]),
            ("price.set", ["model": "m2", "kind": "text", "output_weight": 2]),
            ("topup", ["team": "t", "amount": 5, "key": "m-topup"]),
            ("bonus.grant", ["team": "t", "amount": 5, "reason": "gift", "key": "m-bonus"]),
            ("reset", ["team": "t"]),
            ("reverse", ["seq": JSON(topup), "reason": "refund", "amount": 1, "key": "m-reverse"]),
            ("consume", ["team": "t", "user": "u", "pod": "p", "model": "m", "cost": 1, "key": "m-consume"]),
            ("hold", ["team": "t", "user": "u", "model": "m", "amount": 1, "key": "m-hold"]),
            ("hold.commit", ["hold": JSON(hold), "cost": 1, "key": "m-commit"]),
            ("hold.release", ["hold": JSON(otherHold)]),
            ("clock.advance", ["seconds": 0]),
            ("clock.set", ["at": now]),
            ("subscribe", ["after_seq": JSON(head)]),
        ]
        return list.enumerated().map { i, pair in
            JSON.object(
                JSONObject(
                    [(key: "op", value: .string(pair.0)), (key: "id", value: JSON(i + 1))] + (pair.1.members ?? [])))
        }
    }

    /// Every op that has a request schema, so that a new op cannot slip past the matrix.
    @Test func theMatrix_coversEveryOp() throws {
        let ops = Set(
            Self.requests(hold: 1, otherHold: 2, topup: 3, head: 4, now: "x", backup: "/b").compactMap {
                $0["op"]?.string
            })
        let schemas = try FileManager.default.contentsOfDirectory(atPath: SchemaCheck.schemasDirectory + "/requests")
        #expect(ops == Set(schemas.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(".json".count)) }))
        #expect(Self.gatewayOps.isSubset(of: ops) && Self.auditorOps.isSubset(of: ops))
    }

    @Test(arguments: [
        (["admin=65534"], "admin"),
        (["gateway=65534"], "gateway"),
        (["auditor=65534"], "auditor"),
        ([], "none"),
        // The highest matching role wins, whether it comes by uid or by group.
        (["auditor=65534", "gateway=@nogroup"], "gateway"),
        (["gateway=@65534", "admin=65534,999"], "admin"),
        (["auditor=@nogroup", "gateway=1234"], "auditor"),
    ])
    func everyOp_isAllowedExactlyAsTheRoleSays(roles: [String], role: String) throws {
        let flags = roles.flatMap { ["--role", $0] }
        try withLedger(manualClock + ["--socket-group", OtherUser.groupName] + flags) { ledger in
            chmod(ledger.daemon.directory.path, 0o755)
            try ledger.makeTeam("t", plan: "pro", users: ["u"])
            try ledger.ok("pod.create", ["team": "t", "pod": "p"])
            let hold = try ledger.ok("hold", ["team": "t", "user": "u", "model": "m", "amount": 3, "key": "h1"])[
                "hold"]!
            let other = try ledger.ok("hold", ["team": "t", "user": "u", "model": "m", "amount": 3, "key": "h2"])[
                "hold"]!
            let topup = try ledger.ok("topup", ["team": "t", "amount": 50, "key": "t1"])["seq"]!
            let now = try ledger.ok("clock.advance", ["seconds": 0])["now"]!
            let head = try ledger.seq()
            let requests = Self.requests(
                hold: hold.int!, otherHold: other.int!, topup: topup.int!, head: head, now: now,
                backup: ledger.daemon.directory.path + "/backup")

            let answers = try OtherUser.call(ledger, requests)
            for (request, answer) in zip(requests, answers) {
                let op = request["op"]!.string!
                let allowed =
                    switch role {
                    case "admin": true
                    case "gateway": Self.gatewayOps.contains(op)
                    case "auditor": Self.auditorOps.contains(op)
                    default: false
                    }
                #expect(answer["id"] == request["id"], "\(op): \(answer.line)")
                if allowed {
                    #expect(answer["error"]?["code"]?.string != "forbidden", "\(role) may use \(op): \(answer.line)")
                } else {
                    expectError(answer, code: "forbidden")
                    #expect(
                        answer["error"]?["message"]?.string?.contains(op) == true,
                        "the refusal names the op: \(answer.line)")
                }
            }
            if role != "admin" {
                // A gateway's four usage writes append one event each; nothing refused appends.
                #expect(try ledger.seq() == head + (role == "gateway" ? 4 : 0))
            } else {
                #expect(try ledger.seq() > head)
            }

            // Each refusal is logged with the peer's uid and the op.
            let log = ledger.daemon.stderr
            for request in requests {
                let op = request["op"]!.string!
                let refused = answers.first { $0["id"] == request["id"] }?["error"]?["code"]?.string == "forbidden"
                guard refused else { continue }
                let line = log.split(separator: "\n").first {
                    $0.contains("request refused: role") && $0.contains("peer.uid=65534")
                        && ($0.contains("request.op=\(op) ") || $0.hasSuffix("request.op=\(op)"))
                }
                #expect(line != nil, "no log line with uid 65534 and op \(op)")
            }
        }
    }

    /// A malformed request for an op the role may not use is `forbidden` too (the peer is not
    /// told what else is wrong); for an op it may use, the real error. A peer without a role
    /// gets `forbidden` even for a line that is not JSON.
    @Test func malformedRequests_areForbiddenUnlessTheRoleMayUseTheOp() throws {
        try withLedger(manualClock + ["--socket-group", OtherUser.groupName, "--role", "auditor=65534"]) { ledger in
            chmod(ledger.daemon.directory.path, 0o755)
            let seq = try ledger.seq()
            let answers = try OtherUser.callInvalid(
                ledger,
                [
                    #"{"op":"consume","id":1,"team":"t","cost":"x"}"#,
                    #"{"op":"audit","id":2,"limit":"x"}"#,
                    #"{"op":"topup","id":3}"#,
                ])
            expectError(answers[0], code: "forbidden")
            expectError(answers[1], code: "bad_request")
            expectError(answers[2], code: "forbidden")
            #expect(answers.map { $0["id"]?.int } == [1, 2, 3])
            #expect(try ledger.seq() == seq)
        }
        try withLedger(manualClock + ["--socket-group", OtherUser.groupName]) { ledger in
            chmod(ledger.daemon.directory.path, 0o755)
            let answers = try OtherUser.callInvalid(ledger, ["not json", #"{"op":"audit","id":7,"limit":"x"}"#])
            expectError(answers[0], code: "forbidden")
            expectError(answers[1], code: "forbidden")
            #expect(answers[1]["id"]?.int == 7)
        }
    }

    /// PROTOCOL §2's order for a peer with a role: `unknown_op` → `forbidden` → `bad_request`.
    /// Without `--clock manual` the clock ops are unknown, so a gateway's clock op (well formed
    /// or not) is `unknown_op`, not `forbidden`.
    @Test func errorOrder_unknownOpComesBeforeForbiddenBeforeBadRequest() throws {
        try withLedger(
            ["--clock", "system", "--socket-group", OtherUser.groupName, "--role", "gateway=65534"], checkSchemas: false
        ) { ledger in
            chmod(ledger.daemon.directory.path, 0o755)
            let answers = try OtherUser.callInvalid(
                ledger,
                [
                    #"{"op":"no.such.op","id":1,"junk":true}"#,
                    #"{"op":"clock.set","id":2}"#,
                    #"{"op":"clock.advance","id":3,"seconds":1}"#,
                    #"{"op":"topup","id":4,"amount":"x"}"#,
                    #"{"op":"consume","id":5,"team":"t"}"#,
                    #"{"id":6}"#,
                ])
            expectError(answers[0], code: "unknown_op")
            expectError(answers[1], code: "unknown_op")
            expectError(answers[2], code: "unknown_op")
            expectError(answers[3], code: "forbidden")
            expectError(answers[4], code: "bad_request")
            expectError(answers[5], code: "bad_request")
        }
    }
}
