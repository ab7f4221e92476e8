import LedgerMetrics
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// The `/metrics` handler behind NIO's HTTP/1 server pipeline, on an `EmbeddedChannel`: raw
/// request bytes in, raw response bytes out, as a scraper would see them.
@Suite("Metrics HTTP handler")
struct MetricsHTTPHandlerTests {
    static let body = "# TYPE tokenledger_head_seq gauge\ntokenledger_head_seq 7\n"

    /// A channel with the server's pipeline (the same limits as `MetricsServer`).
    static func makeChannel(bodyBytesMax: Int = 4096) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = MetricsServer.headerBytesMax
        limits.maxHeaderListSize = MetricsServer.headerBytesMax
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
        try channel.pipeline.syncOperations.addHandler(
            MetricsHTTPHandler(bodyBytesMax: bodyBytesMax) { Array(Self.body.utf8) })
        // Active, as an accepted connection is, so that a close shows as `!isActive`.
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9464)).wait()
        #expect(channel.isActive)
        return channel
    }

    /// Sends `request` and returns everything written back.
    static func exchange(_ channel: EmbeddedChannel, _ request: String) throws -> String {
        try channel.writeInbound(channel.allocator.buffer(string: request))
        var out = ""
        while let part = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(var buffer) = part else {
                Issue.record("a file region in a response")
                continue
            }
            out += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return out
    }

    @Test func get_metrics_answersTheExpositionInTheTextFormat() throws {
        let channel = try Self.makeChannel()
        let response = try Self.exchange(channel, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(response)")
        #expect(response.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
        #expect(response.contains("Content-Length: \(Self.body.utf8.count)\r\n"))
        #expect(response.hasSuffix("\r\n\r\n" + Self.body))
        #expect(channel.isActive, "HTTP/1.1 keeps the connection for the next scrape")
        // A second scrape on the same connection, with a query string (ignored).
        let again = try Self.exchange(channel, "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(again.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(again)")
        _ = try channel.finish()
    }

    @Test(arguments: ["/", "/metric", "/metrics/", "/favicon.ico", "/metricsx"])
    func get_otherPath_answers404(path: String) throws {
        let channel = try Self.makeChannel()
        let response = try Self.exchange(channel, "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 404 Not Found\r\n"), "\(response)")
        #expect(!response.contains("tokenledger_head_seq"))
        _ = try channel.finish()
    }

    @Test(arguments: ["POST", "PUT", "DELETE", "HEAD", "OPTIONS"])
    func otherMethod_onMetrics_answers405WithAllow(method: String) throws {
        let channel = try Self.makeChannel()
        let response = try Self.exchange(channel, "\(method) /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"), "\(response)")
        #expect(response.contains("Allow: GET\r\n"))
        #expect(!response.contains("tokenledger_head_seq"))
        _ = try channel.finish()
    }

    @Test func body_overTheLimit_answers413AndCloses() throws {
        let channel = try Self.makeChannel(bodyBytesMax: 100)
        let request =
            "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n" + String(repeating: "a", count: 101)
        let response = try Self.exchange(channel, request)
        #expect(response.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"), "\(response)")
        #expect(response.contains("Connection: close\r\n"))
        #expect(!channel.isActive)
    }

    @Test func body_atTheLimit_isReadAndTheRequestAnswered() throws {
        let channel = try Self.makeChannel(bodyBytesMax: 100)
        let request =
            "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + String(repeating: "a", count: 100)
        let response = try Self.exchange(channel, request)
        #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(response)")
        _ = try channel.finish()
    }

    @Test func headers_overTheLimit_answer400AndClose() throws {
        let channel = try Self.makeChannel()
        let big = String(repeating: "b", count: MetricsServer.headerBytesMax + 1)
        let response = try? Self.exchange(channel, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: \(big)\r\n\r\n")
        // The decoder's error goes up the pipeline; NIO's error handler answers 400 and closes.
        var rest = ""
        while let part = try? channel.readOutbound(as: IOData.self), case .byteBuffer(var buffer) = part {
            rest += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        let all = (response ?? "") + rest
        #expect(all.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(all)")
        #expect(!all.contains("tokenledger_head_seq"))
        #expect(!channel.isActive)
    }

    @Test func http10_withoutKeepAlive_isClosedAfterTheAnswer() throws {
        let channel = try Self.makeChannel()
        let response = try Self.exchange(channel, "GET /metrics HTTP/1.0\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.0 200 OK\r\n"), "\(response)")
        #expect(response.hasSuffix(Self.body))
        #expect(!channel.isActive)
    }
}
