import Foundation
import LedgerClient
import LedgerJSON
import LedgerTestKit
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `stat` of a path, or `nil`.
private func fileStatus(_ path: String) -> stat? {
    var status = stat()
    return stat(path, &status) == 0 ? status : nil
}

private func isSocket(_ status: stat) -> Bool { Int(status.st_mode) & Int(S_IFMT) == Int(S_IFSOCK) }

/// Leaves a socket file at `path` that nobody listens on: what a killed daemon leaves behind.
private func makeStaleSocket(at path: String) throws {
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw LedgerTestError("socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
    guard bound == 0 else { throw LedgerTestError("bind(\(path)) failed: errno \(errno)") }
}

@Suite("Lifecycle")
struct LifecycleTests {
    @Test func socket_isCreatedWithMode0660() throws {
        try withLedger { ledger in
            let status = try #require(fileStatus(ledger.daemon.socketPath))
            #expect(isSocket(status))
            #expect(status.st_mode & 0o777 == 0o660, "mode is \(String(status.st_mode & 0o777, radix: 8))")
        }
    }

    @Test func staleSocketFromAKilledDaemon_isReplacedOnStart() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let seq = try ledger.seq()
            ledger.connection.close()
            ledger.daemon.kill9()
            #expect(fileStatus(ledger.daemon.socketPath).map(isSocket) == true, "kill -9 leaves the socket file")
            try ledger.restart()
            #expect(try ledger.seq() == seq)
        }
    }

    @Test func staleSocketFileLeftByAnotherProcess_isReplacedOnStart() throws {
        let directory = try TemporaryDirectory()
        let socketPath = directory.path + "/s.sock"
        try makeStaleSocket(at: socketPath)
        #expect(throws: (any Error).self, "nobody listens on the stale socket") {
            _ = try LineClient(socketPath: socketPath, timeoutSeconds: 2)
        }
        let daemon = try DaemonProcess(arguments: manualClock, socketPath: socketPath)
        let client = try LedgerConnection(socketPath: socketPath, recorder: nil)
        #expect(try client.call("ping")["ok"]?.bool == true)
        client.close()
        #expect(try daemon.stop() == .exited(0))
    }

    @Test func secondDaemonOnTheSameDataDirectory_exitsWithCode1AndSaysWhy() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let seq = try ledger.seq()
            let second = try DaemonProcess(
                arguments: manualClock, dataDirectory: ledger.daemon.dataDirectory, waitForPing: false)
            let termination = second.waitForExit(timeoutSeconds: 20)
            #expect(termination == .exited(1), "second daemon: \(termination.map { "\($0)" } ?? "still running")")
            #expect(
                !second.daemonStderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                "a message says why")
            second.kill9()
            #expect(try ledger.seq() == seq, "the first daemon is unaffected")
        }
    }

    @Test func secondDaemonOnTheSameSocket_exitsWithCode1AndLeavesTheLiveSocketAlone() throws {
        try withLedger { ledger in
            let seq = try ledger.seq()
            let second = try DaemonProcess(
                arguments: manualClock, socketPath: ledger.daemon.socketPath, waitForPing: false)
            let termination = second.waitForExit(timeoutSeconds: 20)
            #expect(termination == .exited(1), "second daemon: \(termination.map { "\($0)" } ?? "still running")")
            #expect(
                !second.daemonStderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                "a message says why")
            second.kill9()
            // A new connection still reaches the first daemon: its socket file was not replaced.
            let fresh = try ledger.connect()
            defer { fresh.close() }
            #expect(try fresh.call("ping")["seq"]?.int == seq)
        }
    }

    @Test func sigint_stopsTheDaemonWithExitCode0() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t")
            let seq = try ledger.seq()
            ledger.connection.close()
            ledger.daemon.signal(SIGINT)
            let termination = ledger.daemon.waitForExit(timeoutSeconds: 30)
            #expect(termination == .exited(0), "\(termination.map { "\($0)" } ?? "still running")")
            try ledger.restart()
            #expect(try ledger.seq() == seq)
        }
    }

    @Test func connectionOverTheLimit_getsOneUnavailableLineAndIsClosed() throws {
        try withLedger(manualClock + ["--max-connections", "2"]) { ledger in
            // The daemon may take a moment to notice that earlier connections closed (the start-up
            // probe's), so a connection counts as in only once it answered a ping.
            func servedConnection() throws -> LedgerConnection? {
                for _ in 0..<100 {
                    let connection = try ledger.connect()
                    try connection.send(JSON.request("ping").setting("id", 1))
                    if try connection.readResponseOrEOF()?["ok"]?.bool == true { return connection }
                    connection.close()
                    usleep(50_000)
                }
                return nil
            }
            #expect(try ledger.call("ping")["ok"]?.bool == true)
            let second = try #require(try servedConnection())
            let third = try ledger.connect()
            let refusal = try third.readResponse()
            expectError(refusal, code: "unavailable")
            #expect(try third.readResponseOrEOF() == nil, "closed after the one line")
            third.close()
            #expect(try ledger.call("ping")["ok"]?.bool == true, "the others are undisturbed")
            #expect(try second.call("ping")["ok"]?.bool == true)
            second.close()
            let next = try servedConnection()
            #expect(next != nil, "once one closes, a new connection is served")
            next?.close()
        }
    }

    @Test func maxLineFlag_limitsTheLineLength() throws {
        try withLedger(manualClock + ["--max-line", "100"]) { ledger in
            var fits = Array(#"{"op":"ping","id":1}"#.utf8)
            fits += [UInt8](repeating: 0x20, count: 100 - fits.count)
            try ledger.connection.sendRaw(fits + [0x0A], expectedAnswers: ["ping"])
            #expect(try ledger.connection.readResponse()["ok"]?.bool == true, "100 bytes fit")
            try ledger.connection.sendRaw(fits + [0x20, 0x0A], expectedAnswers: [nil])
            expectError(try ledger.connection.readResponse(), code: "line_too_long")
            #expect(try ledger.connection.readResponseOrEOF() == nil)
            try ledger.reconnect()
        }
    }

    @Test func help_listsEveryFlag() throws {
        let result = try runProcess(DaemonProcess.binaryPath, ["--help"], timeoutSeconds: 60)
        #expect(result.termination == .exited(0))
        let text = result.stdout + result.stderr
        for flag in [
            "--data", "--socket", "--socket-group", "--clock", "--catalog", "--role", "--default-daily-limit",
            "--key-retention-days", "--max-line", "--max-connections", "--read-wait-ms",
        ] {
            #expect(text.contains(flag), "--help mentions \(flag)")
        }
        for defaultValue in ["65536", "1024", "1000", "30"] {
            #expect(text.contains(defaultValue), "--help shows the default \(defaultValue)")
        }
    }

    @Test func restart_keepsBalancesSeqAndHash() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", dailyLimit: 10_000)
            try ledger.ok("price.set", ["model": "m", "kind": "text", "input_weight": 1.5, "output_weight": 3])
            try ledger.ok(
                "consume", ["team": "t", "user": "u", "model": "m", "input_tokens": 3, "output_tokens": 2, "key": "c1"])
            try ledger.ok("topup", ["team": "t", "amount": 250, "key": "p1"])
            let balance = try ledger.ok("balance", ["team": "t", "user": "u"]).removing("id")
            let seq = try ledger.seq()
            let hash = try ledger.ok("stats")["head_hash"]
            let events = try ledger.audit()

            try ledger.restart()
            #expect(try ledger.seq() == seq)
            #expect(try ledger.ok("stats")["head_hash"] == hash)
            #expect(try ledger.ok("balance", ["team": "t", "user": "u"]).removing("id") == balance)
            #expect(try ledger.audit() == events)
            #expect(try ledger.ok("verify")["checked"]?.int == seq)

            // `--clock manual` without a time starts at the last event's ts.
            try ledger.restart(arguments: ["--clock", "manual"])
            #expect(try ledger.ok("clock.advance", ["seconds": 0])["now"]?.string == startTime)
            #expect(try ledger.seq() == seq)
        }
    }

    @Test func sigterm_withPipelinedRequestsInFlight_answersOrRefusesEachAndExits0() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "enterprise")
            let stream = ConsumeStream(socketPath: ledger.daemon.socketPath, team: "t", user: "u")
            stream.start(connections: 3, recorder: ledger.traffic)
            #expect(stream.waitForAcks(200), "the stream got going")
            ledger.daemon.signal(SIGTERM)
            let termination = ledger.daemon.waitForExit(timeoutSeconds: 30)
            #expect(termination == .exited(0), "tokenledgerd \(termination.map { "\($0)" } ?? "still running")")
            #expect(stream.waitUntilFinished(), "clients see the end of the stream")
            #expect(stream.unexpectedAnswers.isEmpty, "only ok or unavailable: \(stream.unexpectedAnswers.prefix(5))")

            try ledger.restart()
            let logged = try ledger.audit(["team": "t", "types": ["consumed"]]).compactMap { $0["key"]?.string }
            let counts = Dictionary(logged.map { ($0, 1) }, uniquingKeysWith: +)
            let acked = stream.acked
            let lost = acked.filter { counts[$0] != 1 }
            #expect(lost.isEmpty, "\(lost.count) of \(acked.count) answered consumes are not in the log exactly once")
            let refusedButLogged = stream.unavailable.filter { counts[$0] != nil }
            #expect(refusedButLogged.isEmpty, "answered unavailable yet appended: \(refusedButLogged.prefix(5))")
            let sent = stream.sent
            #expect(counts.keys.allSatisfy { sent[$0] != nil })
            #expect(counts.values.allSatisfy { $0 == 1 })
        }
    }

    @Test func kill9_duringPipelinedConsumes_losesNoAcknowledgedKeyAndKeepsTheChain() throws {
        try withLedger { ledger in
            try ledger.makeTeam("t", plan: "enterprise")
            let stream = ConsumeStream(socketPath: ledger.daemon.socketPath, team: "t", user: "u")
            stream.start(connections: 3, recorder: ledger.traffic)
            #expect(stream.waitForAcks(300), "the stream got going")
            ledger.connection.close()
            ledger.daemon.kill9()
            #expect(stream.waitUntilFinished(), "clients see the end of the stream")
            #expect(stream.unexpectedAnswers.isEmpty, "\(stream.unexpectedAnswers.prefix(5))")

            try ledger.restart()
            let head = try ledger.seq()
            let all = try ledger.audit()
            #expect(all.compactMap { $0["seq"]?.int } == Array(1...head), "seq gap-free 1...head")
            let verify = try ledger.ok("verify")
            #expect(verify["checked"]?.int == head)
            #expect(verify["head_seq"]?.int == head)

            let logged = all.filter { $0["type"]?.string == "consumed" }.compactMap { $0["key"]?.string }
            let counts = Dictionary(logged.map { ($0, 1) }, uniquingKeysWith: +)
            let acked = stream.acked
            let lost = acked.filter { counts[$0] != 1 }
            #expect(lost.isEmpty, "\(lost.count) of \(acked.count) acknowledged keys not in the log exactly once")
            #expect(counts.values.allSatisfy { $0 == 1 }, "no key appended twice")
            let sent = stream.sent
            #expect(counts.keys.allSatisfy { sent[$0] != nil })

            // A client retrying everything it got no answer for ends with each key exactly once.
            let unanswered = sent.filter { !acked.contains($0.key) }.sorted { $0.key < $1.key }.map(\.value)
            for chunk in stride(from: 0, to: unanswered.count, by: 200) {
                let answers = try ledger.connection.pipeline(
                    Array(unanswered[chunk..<min(chunk + 200, unanswered.count)]))
                let failed = answers.filter { $0["ok"]?.bool != true }
                #expect(failed.isEmpty, "retries answer ok (new or duplicate): \(failed.prefix(3).map(\.line))")
            }
            let after = try ledger.audit(["types": ["consumed"]]).compactMap { $0["key"]?.string }
            #expect(after.count == sent.count && Set(after) == Set(sent.keys), "every key exactly once after retries")
        }
    }
}
