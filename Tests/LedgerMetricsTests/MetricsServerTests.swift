import Foundation
import LedgerMetrics
import Logging
import ServiceLifecycle
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `MetricsServer` as a `Service` on a real loopback socket: it serves once bound, and `run()`
/// returns, with the port closed, when its task is cancelled or its group shuts down gracefully.
@Suite("Metrics server")
struct MetricsServerTests {
    static let logger = Logger(label: "test.metrics") { _ in SwiftLogNoOpLogHandler() }

    /// A server on an ephemeral port and the port, once bound.
    static func makeServer() -> (MetricsServer, AsyncStream<Int>) {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = MetricsServer(
            address: ListenAddress(host: "127.0.0.1", port: 0), logger: logger,
            onBound: { port in
                continuation.yield(port)
                continuation.finish()
            }
        ) { Array("tokenledger_head_seq 1.0\n".utf8) }
        return (server, ports)
    }

    @Test func run_servesOnceBound_andReturnsWhenCancelled() async throws {
        let (server, ports) = Self.makeServer()
        let returned = Flag()
        let task = Task {
            try await server.run()
            returned.set()
        }
        let port = try #require(await ports.first { _ in true })
        let response = try await Self.onThread { try Self.exchange(port: port, "GET /metrics HTTP/1.0\r\n\r\n") }
        #expect(response.hasPrefix("HTTP/1.0 200 OK\r\n"), "\(response)")
        #expect(response.hasSuffix("\r\n\r\ntokenledger_head_seq 1.0\n"))
        task.cancel()
        #expect(await returned.wait(seconds: 10), "run() returns once cancelled")
        #expect(throws: TransportError.self, "the listening socket is closed") {
            _ = try Self.exchange(port: port, "GET /metrics HTTP/1.0\r\n\r\n")
        }
    }

    @Test func run_returnsOnTheGroupsGracefulShutdown() async throws {
        let (server, ports) = Self.makeServer()
        let group = ServiceGroup(services: [server], logger: Self.logger)
        let returned = Flag()
        Task {
            try await group.run()
            returned.set()
        }
        let port = try #require(await ports.first { _ in true })
        let response = try await Self.onThread { try Self.exchange(port: port, "GET /nope HTTP/1.0\r\n\r\n") }
        #expect(response.hasPrefix("HTTP/1.0 404 Not Found\r\n"), "\(response)")
        await group.triggerGracefulShutdown()
        #expect(await returned.wait(seconds: 10), "run() returns on the graceful shutdown")
        #expect(throws: TransportError.self) { _ = try Self.exchange(port: port, "GET /metrics HTTP/1.0\r\n\r\n") }
    }

    /// Set once; a test waits for it with a deadline, so that a `run()` that never returns
    /// fails the test instead of hanging it.
    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var isSet = false

        func set() { lock.withLock { isSet = true } }

        func wait(seconds: Double) async -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if lock.withLock({ isSet }) { return true }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return lock.withLock { isSet }
        }
    }

    struct TransportError: Error, CustomStringConvertible {
        var description: String
    }

    /// Blocking work on a thread of its own, off the cooperative pool the server's tasks need.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Connects to 127.0.0.1:`port`, sends `request`, reads until the server closes (HTTP/1.0).
    static func exchange(port: Int, _ request: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TransportError(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw TransportError(description: "connect: errno \(errno)") }
        let bytes = Array(request.utf8)
        guard send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
            throw TransportError(description: "send: errno \(errno)")
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { break }
            guard n > 0 else { throw TransportError(description: "recv: errno \(errno)") }
            received += buffer[..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }
}
