import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The `/metrics` endpoint over HTTP/1.1 (`--metrics-listen`), as a swift-service-lifecycle
/// `Service`: `run()` binds, serves until its task is cancelled or a graceful shutdown begins,
/// then closes the listening channel. Connections that go quiet for `idleTimeout` are closed.
public struct MetricsServer: Service {
    public let address: ListenAddress
    private let group: any EventLoopGroup
    private let idleTimeout: TimeAmount
    private let exposition: @Sendable () -> [UInt8]
    private let onBound: @Sendable (Int) -> Void
    private let logger: Logger

    /// A request's headers at most: a scrape sends a few hundred bytes.
    public static let headerBytesMax = 8192

    /// - Parameters:
    ///   - exposition: the whole answer body, built on the connection's event loop per scrape.
    ///   - onBound: told the port bound (useful with port 0).
    public init(
        address: ListenAddress, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        idleTimeout: TimeAmount = .seconds(30), logger: Logger, onBound: @escaping @Sendable (Int) -> Void = { _ in },
        exposition: @escaping @Sendable () -> [UInt8]
    ) {
        precondition(idleTimeout > .zero)
        self.address = address
        self.group = group
        self.idleTimeout = idleTimeout
        self.logger = logger
        self.onBound = onBound
        self.exposition = exposition
    }

    public func run() async throws {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = Self.headerBytesMax
        limits.maxHeaderListSize = Self.headerBytesMax
        limits.maxHeaderFieldCount = 64
        let (idleTimeout, exposition, decoderLimits) = (self.idleTimeout, self.exposition, limits)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try pipeline.configureHTTPServerPipeline(
                        withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits)
                    try pipeline.addHandler(MetricsHTTPHandler(exposition: exposition))
                }
            }
            .bind(host: address.host, port: address.port).get()
        let port = channel.localAddress?.port ?? address.port
        logger.info(
            "metrics serving",
            metadata: ["metrics.host": "\(address.host)", "metrics.port": "\(port)", "metrics.path": "/metrics"])
        onBound(port)
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
        logger.debug("metrics stopped")
    }
}
