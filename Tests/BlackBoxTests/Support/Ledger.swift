import Foundation
import LedgerClient
import LedgerJSON
import LedgerTestKit
import Testing

/// The manual clock most tests start on: a Thursday, day 15 (so the billing anchor is 15).
let startTime = "2026-01-15T10:00:00.000Z"
let manualClock = ["--clock", "manual=\(startTime)"]

/// A running daemon plus a recorded default connection: what most tests talk to.
///
/// Every test goes through `withLedger`, which always stops the daemon (expecting exit 0 on
/// SIGTERM) and checks all recorded traffic against `schemas/`, even when the test body threw.
final class Ledger: @unchecked Sendable {
    let daemon: DaemonProcess
    let traffic: TrafficRecorder
    private(set) var connection: LedgerConnection

    init(arguments: [String], dataDirectory: String? = nil) throws {
        daemon = try DaemonProcess(arguments: arguments, dataDirectory: dataDirectory)
        traffic = TrafficRecorder(path: daemon.directory.path + "/traffic.ndjson")
        connection = try LedgerConnection(socketPath: daemon.socketPath, recorder: traffic)
    }

    /// A new recorded connection.
    func connect(timeoutSeconds: Double = 30) throws -> LedgerConnection {
        try LedgerConnection(socketPath: daemon.socketPath, recorder: traffic, timeoutSeconds: timeoutSeconds)
    }

    /// Restarts the daemon on the same data (SIGTERM first if running) and reconnects.
    func restart(arguments: [String]? = nil) throws {
        connection.close()
        try daemon.restart(arguments: arguments)
        connection = try connect()
    }

    /// Reconnects the default connection (after the daemon was killed and started by hand).
    func reconnect() throws {
        connection.close()
        connection = try connect()
    }

    // MARK: Calls on the default connection

    @discardableResult
    func call(_ op: String, _ fields: KeyValuePairs<String, JSON> = [:]) throws -> JSON {
        try connection.call(op, fields)
    }

    /// Calls and requires `ok:true`; returns the answer.
    @discardableResult
    func ok(
        _ op: String, _ fields: KeyValuePairs<String, JSON> = [:], sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> JSON {
        let response = try connection.call(op, fields)
        guard response["ok"]?.bool == true else {
            throw LedgerTestError(
                "\(op) \(JSON.request(op, fields).line) should succeed; the daemon answered \(response.line)",
                sourceLocation)
        }
        return response
    }

    /// Calls and expects `ok:false` with `code` (and `scope` when given); returns the answer.
    /// `schemaRejects`: the request is malformed in a way its request schema must also reject
    /// (recorded as `invalid_request`), rather than well-formed but refused.
    @discardableResult
    func fails(
        _ op: String, _ fields: KeyValuePairs<String, JSON> = [:], code: String, scope: String? = nil,
        schemaRejects: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> JSON {
        let request = connection.withId(JSON.request(op, fields))
        let response: JSON
        if schemaRejects {
            try connection.sendRaw(Array((request.line + "\n").utf8), expectedAnswers: [op], invalid: request)
            response = try connection.readResponse()
        } else {
            response = try connection.call(request)
        }
        expectError(response, code: code, scope: scope, request: request, sourceLocation: sourceLocation)
        return response
    }

    /// The last committed seq (`ping`).
    func seq(sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let response = try ok("ping", sourceLocation: sourceLocation)
        guard let seq = response["seq"]?.int else {
            throw LedgerTestError("ping answered without an integer seq: \(response.line)", sourceLocation)
        }
        return seq
    }

    /// Every event matching `filters`, following `next_after_seq` to the head.
    func audit(_ filters: KeyValuePairs<String, JSON> = [:], after: Int = 0, pageLimit: Int = 10_000) throws -> [JSON] {
        var events: [JSON] = []
        var afterSeq = after
        for _ in 0..<10_000 {
            var request = JSON.request("audit", filters)
            request = request.setting("after_seq", JSON(afterSeq)).setting("limit", JSON(pageLimit))
            let response = try connection.call(request)
            guard response["ok"]?.bool == true, let page = response["events"]?.array else {
                throw LedgerTestError("audit \(request.line) failed: \(response.line)")
            }
            events += page
            guard let next = response["next_after_seq"], !next.isNull else { return events }
            guard let nextSeq = next.int, nextSeq > afterSeq else {
                throw LedgerTestError("audit next_after_seq does not move forward: \(response.line)")
            }
            afterSeq = nextSeq
        }
        throw LedgerTestError("audit did not reach the head after 10000 pages")
    }

    /// `team.create` and `user.add` with the defaults most tests want.
    func makeTeam(
        _ team: String, plan: String = "solo", timezone: String = "UTC", dailyLimit: Int? = nil,
        users: [String] = ["u"]
    ) throws {
        var request = JSON.request(
            "team.create", ["team": .string(team), "plan": .string(plan), "timezone": .string(timezone)])
        if let dailyLimit { request = request.setting("daily_limit", JSON(dailyLimit)) }
        let response = try connection.call(request)
        guard response["ok"]?.bool == true else {
            throw LedgerTestError("team.create \(request.line) failed: \(response.line)")
        }
        for user in users { try ok("user.add", ["team": .string(team), "user": .string(user)]) }
    }

    /// `consume` with a `cost`, a fresh key unless given.
    @discardableResult
    func consume(
        team: String = "t", user: String = "u", cost: Int, key: String? = nil, model: String = "m"
    ) throws -> JSON {
        try call(
            "consume",
            [
                "team": .string(team), "user": .string(user), "model": .string(model), "cost": JSON(cost),
                "key": .string(key ?? Self.freshKey()),
            ])
    }

    static func freshKey() -> String { "k-" + UUID().uuidString.lowercased() }
}

struct LedgerTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String, _ sourceLocation: SourceLocation? = nil) {
        if let sourceLocation {
            self.description = "\(sourceLocation): \(description)"
        } else {
            self.description = description
        }
    }
}

/// Expects `response` to be `ok:false` with `code` (and `scope`), recording an issue otherwise.
func expectError(
    _ response: JSON, code: String, scope: String? = nil, request: JSON? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let sent = request.map { " for \($0.line)" } ?? ""
    #expect(
        response["ok"]?.bool == false, "expected ok:false\(sent), got \(response.line)", sourceLocation: sourceLocation)
    #expect(
        response["error"]?["code"]?.string == code, "expected error code \(code)\(sent), got \(response.line)",
        sourceLocation: sourceLocation)
    if let scope {
        #expect(
            response["error"]?["scope"]?.string == scope, "expected scope \(scope)\(sent), got \(response.line)",
            sourceLocation: sourceLocation)
    }
}

/// Runs `body` against a fresh daemon; then stops it (SIGTERM must give exit 0) and checks the
/// recorded traffic against the schemas. The daemon is killed whatever happens.
func withLedger(
    _ arguments: [String] = manualClock, dataDirectory: String? = nil, checkSchemas: Bool = true,
    expectCleanExit: Bool = true, sourceLocation: SourceLocation = #_sourceLocation, _ body: (Ledger) throws -> Void
) throws {
    let ledger = try Ledger(arguments: arguments, dataDirectory: dataDirectory)
    var bodyError: (any Error)?
    do {
        try body(ledger)
    } catch {
        bodyError = error
    }
    ledger.connection.close()
    if ledger.daemon.isRunning {
        do {
            let termination = try ledger.daemon.stop()
            if expectCleanExit {
                #expect(
                    termination == .exited(0),
                    "tokenledgerd \(termination) on SIGTERM; stderr:\n\(ledger.daemon.stderr)",
                    sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record(error, sourceLocation: sourceLocation)
        }
    }
    if checkSchemas { SchemaCheck.run(ledger.traffic, sourceLocation: sourceLocation) }
    if let bodyError {
        Issue.record(
            bodyError, "daemon stderr (tail):\n\(String(ledger.daemon.stderr.suffix(3000)))",
            sourceLocation: sourceLocation)
    }
}
