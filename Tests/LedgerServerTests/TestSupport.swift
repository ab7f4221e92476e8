import Foundation
import Glibc
import LedgerServer
import LedgerStore
import Logging

/// Runs blocking work on its own thread: a blocking `read` on Swift's 2-thread cooperative pool
/// would starve the very service tasks it waits for.
@discardableResult
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

struct ClientError: Error, CustomStringConvertible {
    var description: String
    init(_ what: String, errno code: Int32 = errno) {
        self.description = "\(what): \(String(cString: strerror(code))) (errno \(code))"
    }
}

/// A plain POSIX client, blocking, with a receive timeout so a broken server fails a test, not hangs it.
final class TestClient: @unchecked Sendable {
    let fd: Int32
    private var buffered: [UInt8] = []

    init(path: String, receiveTimeoutSeconds: Int = 20) throws {
        self.fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard self.fd >= 0 else { throw ClientError("socket") }
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard status == 0 else {
            let code = errno
            close(self.fd)
            throw ClientError("connect \(path)", errno: code)
        }
    }

    deinit { close(self.fd) }

    /// Sends everything; `false` when the server closed first (EPIPE/ECONNRESET).
    @discardableResult
    func send(_ text: String) throws -> Bool {
        try self.send(Array(text.utf8))
    }

    @discardableResult
    func send(_ bytes: [UInt8]) throws -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE || errno == ECONNRESET { return false }
                throw ClientError("send")
            }
            offset += sent
        }
        return true
    }

    func shutdownWriting() {
        Glibc.shutdown(self.fd, Int32(SHUT_WR))
    }

    /// The next line without `\n`; `nil` at EOF (or a reset after the server closed).
    func readLine() throws -> String? {
        while true {
            if let newline = self.buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: self.buffered[..<newline], as: UTF8.self)
                self.buffered.removeSubrange(...newline)
                return line
            }
            guard try self.fill() else { return nil }
        }
    }

    func readLines(_ count: Int) throws -> [String] {
        var lines: [String] = []
        lines.reserveCapacity(count)
        while lines.count < count, let line = try self.readLine() { lines.append(line) }
        return lines
    }

    /// Everything until EOF, as text.
    func readToEnd() throws -> String {
        while try self.fill() {}
        defer { self.buffered = [] }
        return String(decoding: self.buffered, as: UTF8.self)
    }

    /// Reads once into the buffer; `false` at EOF or reset.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(self.fd, $0.baseAddress, $0.count) }
            if count > 0 {
                self.buffered.append(contentsOf: chunk[..<count])
                return true
            }
            if count == 0 { return false }
            if errno == EINTR { continue }
            if errno == ECONNRESET { return false }
            throw ClientError("read")
        }
    }
}

/// A socket path short enough for `sun_path`, unique per test.
func temporarySocketPath() -> String {
    "/tmp/tl-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
}

let quietLogger = Logger(label: "test.server") { _ in SwiftLogNoOpLogHandler() }

/// Answers each line `L` with `{"ok":true,"echo":"L"}` after `delayMs`, and watches that a connection
/// never has two batches in flight (lines are `client:index`, so the prefix names the connection).
final class EchoService: RequestBatchHandler {
    struct Record {
        var batchSizes: [Int] = []
        var inFlightByClient: [Substring: Int] = [:]
        var overlapSeen = false
        var linesReceived = 0
        var peers: [PeerCredentials] = []
    }

    let delayMs: Int
    let record = Locked(Record())
    /// Resumed (once each) when a batch starts, for tests that act while one is in flight.
    let batchStarted: AsyncStream<Int>
    private let batchStartedContinuation: AsyncStream<Int>.Continuation

    init(delayMs: Int = 1) {
        self.delayMs = delayMs
        (self.batchStarted, self.batchStartedContinuation) = AsyncStream.makeStream(of: Int.self)
    }

    func handle(_ lines: [[UInt8]], from peer: PeerCredentials) async -> BatchAnswer {
        let client = String(decoding: lines[0], as: UTF8.self).split(separator: ":").first ?? ""
        self.record.withLock { record in
            record.batchSizes.append(lines.count)
            record.linesReceived += lines.count
            record.peers.append(peer)
            record.inFlightByClient[client, default: 0] += 1
            if record.inFlightByClient[client]! > 1 { record.overlapSeen = true }
        }
        self.batchStartedContinuation.yield(lines.count)
        if self.delayMs > 0 { try? await Task.sleep(for: .milliseconds(self.delayMs)) }
        self.record.withLock { $0.inFlightByClient[client]! -= 1 }
        return BatchAnswer(
            lines: lines.map { Array(#"{"ok":true,"echo":"\#(String(decoding: $0, as: UTF8.self))"}"#.utf8) })
    }

    static func answer(_ line: String) -> String { #"{"ok":true,"echo":"\#(line)"}"# }
}

/// Polls `condition` (for effects the server reports asynchronously, such as a closed connection).
func eventually(timeoutSeconds: Double = 10, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(timeoutSeconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}
