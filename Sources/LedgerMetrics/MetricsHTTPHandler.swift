import NIOCore
import NIOHTTP1

/// Answers `GET /metrics` with the Prometheus text format; 404 for any other path, 405 for
/// another method on `/metrics`, 413 (then close) for a request body over
/// `bodyBytesMax`. Headers are bounded by the decoder (`MetricsServer`). One request at a
/// time: `HTTPServerPipelineHandler` in front holds back pipelined ones.
public final class MetricsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias OutboundOut = HTTPServerResponsePart

    /// Version 0.0.4 is the text format every Prometheus reads.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    public static let path = "/metrics"

    private enum State {
        case idle
        case receiving(HTTPRequestHead, bodyBytes: Int)
        /// The body was too long: answered 413, the rest is dropped until the channel closes.
        case refused
    }

    private let exposition: @Sendable () -> [UInt8]
    private let bodyBytesMax: Int
    private var state = State.idle

    public init(bodyBytesMax: Int = 4096, exposition: @escaping @Sendable () -> [UInt8]) {
        precondition(bodyBytesMax >= 0)
        self.bodyBytesMax = bodyBytesMax
        self.exposition = exposition
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (_, .refused):
            return
        case (.head(let head), .idle):
            state = .receiving(head, bodyBytes: 0)
        case (.body(let bytes), .receiving(let head, let bodyBytes)):
            let total = bodyBytes + bytes.readableBytes
            guard total <= bodyBytesMax else {
                state = .refused
                respond(context: context, head: head, status: .payloadTooLarge, body: [], keepAlive: false)
                return
            }
            state = .receiving(head, bodyBytes: total)
        case (.end, .receiving(let head, _)):
            state = .idle
            let (status, body) = answer(head)
            respond(context: context, head: head, status: status, body: body, keepAlive: head.isKeepAlive)
        case (.head, .receiving), (.body, .idle), (.end, .idle):
            preconditionFailure("HTTPDecoder delivers head, body*, end in order")
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A scraper that goes quiet (or a client that never finishes its request) is dropped.
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A request NIO could not parse (answered 400 by its error handler in front), a reset: the
    /// connection is done.
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// The status and body for a complete request.
    private func answer(_ head: HTTPRequestHead) -> (HTTPResponseStatus, [UInt8]) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard path == Self.path else { return (.notFound, Array("not found; try GET /metrics\n".utf8)) }
        guard head.method == .GET else { return (.methodNotAllowed, Array("only GET\n".utf8)) }
        return (.ok, exposition())
    }

    private func respond(
        context: ChannelHandlerContext, head request: HTTPRequestHead, status: HTTPResponseStatus, body: [UInt8],
        keepAlive: Bool
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: status == .ok ? Self.contentType : "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(body.count)")
        if status == .methodNotAllowed { headers.add(name: "Allow", value: "GET") }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: request.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !body.isEmpty {
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
