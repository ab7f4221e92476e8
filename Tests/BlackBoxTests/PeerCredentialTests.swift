import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Roles come from the peer's Unix credentials (§5). A client of another uid is run with
/// `setpriv` (util-linux) as uid/gid 65534 (`nobody`/`nogroup`), executing a small python3 client;
/// this needs root, setpriv, a python3 outside /root, and a group `nogroup` with gid 65534.
enum OtherUser {
    static let uid = 65_534
    static let groupName = "nogroup"

    static let setpriv = findExecutable("setpriv")
    /// A python3 that uid 65534 can execute (pyenv's shims live under /root, which it cannot enter).
    static let python = ["/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static let isAvailable: Bool = {
        guard getuid() == 0, setpriv != nil, python != nil else { return false }
        return readFile("/etc/group").split(separator: "\n").contains { $0.hasPrefix("\(groupName):x:\(uid):") }
    }()

    private static let client = #"""
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(sys.argv[1])
        f = s.makefile("rwb")
        for line in sys.argv[2:]:
            f.write(line.encode() + b"\n")
            f.flush()
            answer = f.readline()
            if not answer:
                print("EOF")
                break
            sys.stdout.write(answer.decode())
            sys.stdout.flush()
        """#

    /// Sends each request on one connection as uid/gid 65534 and returns the answers.
    static func call(_ ledger: Ledger, _ requests: [JSON]) throws -> [JSON] {
        try call(ledger, lines: requests.map(\.line), invalid: false)
    }

    /// Sends lines the contract rejects (recorded as invalid requests for the schema check).
    static func callInvalid(_ ledger: Ledger, _ lines: [String]) throws -> [JSON] {
        try call(ledger, lines: lines, invalid: true)
    }

    private static func call(_ ledger: Ledger, lines: [String], invalid: Bool) throws -> [JSON] {
        let (setpriv, python) = (setpriv!, python!)
        let requests = lines.map { (try? JSON.parse($0)) ?? .null }
        let result = try runProcess(
            setpriv,
            ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", python, "-c", client, ledger.daemon.socketPath]
                + lines,
            timeoutSeconds: 60)
        guard result.termination == .exited(0) else {
            throw LedgerTestError("client as uid \(uid) \(result.termination): \(result.stderr)")
        }
        let answers = result.stdout.split(separator: "\n").map(String.init)
        var parsed: [JSON] = []
        for (request, answer) in zip(requests, answers) {
            if request["op"] != nil {
                ledger.traffic.record(
                    kind: invalid ? "invalid_request" : "request", op: request["op"]?.string, line: request.line)
            }
            let value = try? JSON.parse(answer)
            ledger.traffic.recordResponse(op: request["op"]?.string, line: answer, parsed: value)
            guard let value else { throw LedgerTestError("uid \(uid) got a line that is not JSON: \(answer)") }
            parsed.append(value)
        }
        guard parsed.count == requests.count else {
            throw LedgerTestError(
                "uid \(uid) got \(parsed.count) answers to \(requests.count) requests: \(result.stdout)")
        }
        return parsed
    }
}

@Suite("Peer credentials", .enabled(if: OtherUser.isAvailable, "needs root, setpriv, /usr/bin/python3 and nogroup"))
struct PeerCredentialTests {
    private static func start(_ extra: [String], _ body: (Ledger) throws -> Void) throws {
        try withLedger(manualClock + ["--socket-group", OtherUser.groupName] + extra) { ledger in
            // The other uid must be able to reach the socket: the temp dir is 0700 by default.
            chmod(ledger.daemon.directory.path, 0o755)
            var status = stat()
            #expect(stat(ledger.daemon.socketPath, &status) == 0)
            #expect(Int(status.st_gid) == OtherUser.uid, "the socket's group is --socket-group")
            try ledger.makeTeam("t", plan: "pro")
            try body(ledger)
        }
    }

    @Test func peerOfAnotherUidWithoutARole_isForbiddenOnEveryOp() throws {
        try Self.start([]) { ledger in
            let seq = try ledger.seq()
            let answers = try OtherUser.call(
                ledger,
                [
                    ["op": "ping", "id": 1],
                    ["op": "balance", "id": 2, "team": "t"],
                    ["op": "team.create", "id": 3, "team": "x"],
                ])
            for answer in answers { expectError(answer, code: "forbidden") }
            #expect(answers.map { $0["id"]?.int } == [1, 2, 3])
            #expect(try ledger.seq() == seq)
        }
    }

    @Test func auditorRole_mayReadButNotWrite() throws {
        try Self.start(["--role", "auditor=\(OtherUser.uid)"]) { ledger in
            let seq = try ledger.seq()
            let answers = try OtherUser.call(
                ledger,
                [
                    ["op": "ping", "id": 1],
                    ["op": "balance", "id": 2, "team": "t"],
                    ["op": "verify", "id": 3],
                    ["op": "topup", "id": 4, "team": "t", "amount": 5, "key": "a-topup"],
                    ["op": "consume", "id": 5, "team": "t", "user": "u", "model": "m", "cost": 1, "key": "a-c"],
                    ["op": "team.create", "id": 6, "team": "x"],
                ])
            #expect(answers[0]["ok"]?.bool == true && answers[0]["seq"]?.int == seq, "\(answers[0].line)")
            #expect(answers[1]["ok"]?.bool == true, "\(answers[1].line)")
            #expect(answers[2]["ok"]?.bool == true, "\(answers[2].line)")
            for answer in answers[3...] { expectError(answer, code: "forbidden") }
            #expect(try ledger.seq() == seq)
        }
    }

    @Test func gatewayRoleByGroup_mayConsumeButNotTopUp() throws {
        try Self.start(["--role", "gateway=@\(OtherUser.groupName)"]) { ledger in
            let seq = try ledger.seq()
            let answers = try OtherUser.call(
                ledger,
                [
                    ["op": "consume", "id": 1, "team": "t", "user": "u", "model": "m", "cost": 3, "key": "g-c"],
                    ["op": "topup", "id": 2, "team": "t", "amount": 5, "key": "g-topup"],
                    ["op": "audit", "id": 3],
                ])
            #expect(answers[0]["ok"]?.bool == true, "\(answers[0].line)")
            expectError(answers[1], code: "forbidden")
            expectError(answers[2], code: "forbidden")
            #expect(try ledger.seq() == seq + 1)
        }
    }
}
