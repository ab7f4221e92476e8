import Foundation
import LedgerClient
import LedgerJSON

/// Collects the lines a test exchanged with the daemon into an NDJSON file of
/// `{"kind":"request|invalid_request|response|event","op":..,"line":..}` for the schema check.
///
/// - `request`: a line the test means to be valid; it must match `schemas/requests/<op>.json`.
/// - `invalid_request`: an object the contract rejects; the op's request schema must reject it too.
/// - `response`: matched against `schemas/responses/<op>.json`, or `error.json` when `ok` is false.
/// - `event`: each event of an `audit` answer or a subscription, matched against
///   `schemas/events/<type>.json`.
/// - `event_line`: a line of a `subscribe` stream, matched against `schemas/stream/event_line.json`
///   (or `error.json` when `ok` is false).
///
/// Thread-safe: the kill-9 tests record from several client threads.
public final class TrafficRecorder: @unchecked Sendable {
    public let path: String
    private let lock = NSLock()
    private var buffer = ""
    private var counts: [String: Int] = [:]

    public init(path: String) {
        self.path = path
        // Best effort here: a file that cannot be made fails the schema check that reads it.
        _ = FileManager.default.createFile(atPath: path, contents: nil)
    }

    public func record(kind: String, op: String?, line: String) {
        let entry: JSON = ["kind": .string(kind), "op": op.map { .string($0) } ?? .null, "line": .string(line)]
        lock.lock()
        defer { lock.unlock() }
        buffer += entry.line + "\n"
        counts[kind, default: 0] += 1
        if buffer.utf8.count > 1 << 16 { flushLocked() }
    }

    /// Records a response and, for `audit`, each event in it.
    public func recordResponse(op: String?, line: String, parsed: JSON?) {
        record(kind: "response", op: op, line: line)
        if op == "audit", let events = parsed?["events"]?.array {
            for event in events { record(kind: "event", op: event["type"]?.string, line: event.line) }
        }
    }

    /// Records one line of a `subscribe` stream and the event in it.
    public func recordStreamLine(_ line: String, parsed: JSON?) {
        record(kind: "event_line", op: "subscribe", line: line)
        if let event = parsed?["event"], event.has("type") {
            record(kind: "event", op: event["type"]?.string, line: event.line)
        }
    }

    /// Lines recorded so far, by kind.
    public var recordedCounts: [String: Int] {
        lock.lock()
        defer { lock.unlock() }
        return counts
    }

    /// Writes what is buffered to the file.
    public func flush() {
        lock.lock()
        defer { lock.unlock() }
        flushLocked()
    }

    private func flushLocked() {
        guard !buffer.isEmpty, let handle = FileHandle(forWritingAtPath: path) else { return }
        handle.seekToEndOfFile()
        handle.write(Data(buffer.utf8))
        handle.closeFile()
        buffer = ""
    }

    deinit { flushLocked() }
}

public struct LedgerConnectionError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One connection to the daemon that speaks `JSON`, keeps responses matched to the ops that
/// caused them (pipelining answers in order), and records both sides for the schema check.
/// Not thread-safe: one connection per thread.
public final class LedgerConnection: @unchecked Sendable {
    public let client: LineClient
    public let recorder: TrafficRecorder?
    /// Ops of requests sent and not yet answered, in order (`nil`: not a readable request).
    private var pendingOps: [String?] = []
    private var nextId = 1

    public init(client: LineClient, recorder: TrafficRecorder?) {
        self.client = client
        self.recorder = recorder
    }

    public convenience init(socketPath: String, recorder: TrafficRecorder?, timeoutSeconds: Double = 30) throws {
        self.init(client: try LineClient(socketPath: socketPath, timeoutSeconds: timeoutSeconds), recorder: recorder)
    }

    /// Requests sent whose answers were not read yet.
    public var pendingCount: Int { pendingOps.count }

    /// A fresh integer id for a request.
    public func makeId() -> JSON {
        defer { nextId += 1 }
        return .int(nextId)
    }

    /// Adds an integer `id` to `request` unless it has one.
    public func withId(_ request: JSON) -> JSON {
        request.has("id") ? request : request.setting("id", makeId())
    }

    /// Sends one request (an `id` is added when missing) and returns its answer.
    @discardableResult
    public func call(_ request: JSON) throws -> JSON {
        try send(withId(request))
        return try readResponse()
    }

    /// `call(JSON.request(op, fields))`.
    @discardableResult
    public func call(_ op: String, _ fields: KeyValuePairs<String, JSON> = [:]) throws -> JSON {
        try call(JSON.request(op, fields))
    }

    /// Sends requests as one write (one batch on the daemon's side) and reads every answer.
    public func pipeline(_ requests: [JSON]) throws -> [JSON] {
        let stamped = requests.map(withId)
        var bytes: [UInt8] = []
        for request in stamped {
            bytes += Array(request.line.utf8)
            bytes.append(UInt8(ascii: "\n"))
            recorder?.record(kind: "request", op: request["op"]?.string, line: request.line)
            pendingOps.append(request["op"]?.string)
        }
        try client.send(raw: bytes)
        return try stamped.map { _ in try readResponse() }
    }

    /// Sends valid requests as one write without reading their answers.
    public func sendBatch(_ requests: [JSON]) throws {
        var bytes: [UInt8] = []
        for request in requests {
            bytes += Array(request.line.utf8)
            bytes.append(UInt8(ascii: "\n"))
            recorder?.record(kind: "request", op: request["op"]?.string, line: request.line)
            pendingOps.append(request["op"]?.string)
        }
        try client.send(raw: bytes)
    }

    /// Sends one valid request without reading its answer.
    public func send(_ request: JSON) throws {
        recorder?.record(kind: "request", op: request["op"]?.string, line: request.line)
        pendingOps.append(request["op"]?.string)
        try client.send(raw: Array((request.line + "\n").utf8))
    }

    /// Sends bytes as they are. `expectedAnswers` lists the op (or `nil`) of each request in them
    /// that will be answered, so answers are matched to schemas; `invalid` records a JSON object
    /// the contract rejects, to check that the request schema rejects it too.
    public func sendRaw(_ bytes: [UInt8], expectedAnswers: [String?], invalid: JSON? = nil) throws {
        if let invalid, let op = invalid["op"]?.string {
            recorder?.record(kind: "invalid_request", op: op, line: invalid.line)
        }
        pendingOps += expectedAnswers
        try client.send(raw: bytes)
    }

    /// The next answer, parsed. Throws at end of stream or on a line that is not JSON.
    public func readResponse() throws -> JSON {
        guard let response = try readResponseOrEOF() else {
            throw LedgerConnectionError("the daemon closed the connection before answering")
        }
        return response
    }

    /// The next answer, or `nil` at end of stream.
    public func readResponseOrEOF() throws -> JSON? {
        guard let line = try client.readLine() else { return nil }
        let op = pendingOps.isEmpty ? nil : pendingOps.removeFirst()
        let parsed = try? JSON.parse(line)
        recorder?.recordResponse(op: op, line: line, parsed: parsed)
        guard let parsed else { throw LedgerConnectionError("the daemon answered a line that is not JSON: \(line)") }
        return parsed
    }

    /// The next line of a `subscribe` stream (after its answer), parsed; `nil` at end of stream.
    /// Only for a connection that streams: there are no answers left to match.
    public func readStreamLine() throws -> JSON? {
        precondition(pendingOps.isEmpty, "answers are still expected before the stream")
        guard let line = try client.readLine() else { return nil }
        let parsed = try? JSON.parse(line)
        recorder?.recordStreamLine(line, parsed: parsed)
        guard let parsed else { throw LedgerConnectionError("the daemon streamed a line that is not JSON: \(line)") }
        return parsed
    }

    public func close() { client.close() }

    deinit { client.close() }
}
