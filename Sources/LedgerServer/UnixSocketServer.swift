import LedgerStore
import Logging
import NIOCore
import NIOPosix

/// Where and how the server listens, and the limits it keeps.
public struct ServerConfig: Sendable {
    public var socketPath: String
    /// Group owning the socket file (a name or a number); `nil` keeps the daemon's group.
    public var socketGroup: String?
    /// Longest request line in bytes, without its `\n` or `\r\n` (`--max-line`).
    public var lineBytesMax: Int
    /// Concurrent connections; the next one gets one `unavailable` line (`--max-connections`).
    public var connectionsMax: Int
    /// Most lines sent to the service in one batch.
    public var batchLinesMax: Int
    /// Lines a connection may gather while its batch is in flight before reading stops.
    public var pendingLinesPerConnectionMax: Int
    public var eventLoopThreads: Int
    /// How long `shutdown()` waits for connections to answer what they read before closing them anyway.
    public var shutdownGracePeriod: Duration
    /// A line must be finished within this of its first byte, or the connection is closed (`--line-timeout-seconds`).
    public var lineTimeout: Duration
    /// A connection with nothing in flight that sends nothing for this long is closed (`--idle-timeout-seconds`).
    public var idleTimeout: Duration
    /// Request bytes buffered across all connections before they all stop reading (`--max-buffered-input-mib`).
    public var bufferedInputBytesMax: Int
    /// Request bytes one connection may gather while its batch is in flight before it stops reading.
    public var pendingBytesPerConnectionMax: Int

    public init(
        socketPath: String,
        socketGroup: String? = nil,
        lineBytesMax: Int = 65536,
        connectionsMax: Int = 1024,
        batchLinesMax: Int = 256,
        pendingLinesPerConnectionMax: Int = 4096,
        eventLoopThreads: Int = System.coreCount,
        shutdownGracePeriod: Duration = .seconds(10),
        lineTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(600),
        bufferedInputBytesMax: Int = 32 << 20,
        pendingBytesPerConnectionMax: Int = 4 << 20
    ) {
        self.socketPath = socketPath
        self.socketGroup = socketGroup
        self.lineBytesMax = lineBytesMax
        self.connectionsMax = connectionsMax
        self.batchLinesMax = batchLinesMax
        self.pendingLinesPerConnectionMax = pendingLinesPerConnectionMax
        self.eventLoopThreads = eventLoopThreads
        self.shutdownGracePeriod = shutdownGracePeriod
        self.lineTimeout = lineTimeout
        self.idleTimeout = idleTimeout
        self.bufferedInputBytesMax = bufferedInputBytesMax
        self.pendingBytesPerConnectionMax = pendingBytesPerConnectionMax
    }

    /// The relations between the limits; `start()` refuses a config that breaks one.
    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw ServerError.invalidConfig(what) }
        }
        try check(self.lineBytesMax > 0, "lineBytesMax must be positive")
        try check(self.connectionsMax > 0, "connectionsMax must be positive")
        try check(self.batchLinesMax > 0, "batchLinesMax must be positive")
        try check(
            self.pendingLinesPerConnectionMax >= self.batchLinesMax,
            "pendingLinesPerConnectionMax must be at least batchLinesMax"
        )
        try check(self.eventLoopThreads > 0, "eventLoopThreads must be positive")
        try check(self.lineTimeout > .zero && self.idleTimeout > .zero, "timeouts must be positive")
        try check(
            self.pendingBytesPerConnectionMax > self.lineBytesMax,
            "pendingBytesPerConnectionMax must be above lineBytesMax")
        try check(
            self.bufferedInputBytesMax >= self.pendingBytesPerConnectionMax,
            "bufferedInputBytesMax must be at least pendingBytesPerConnectionMax")
        try check(!self.socketPath.isEmpty, "socketPath must not be empty")
    }
}

public enum ServerError: Error, Equatable, CustomStringConvertible {
    /// Another live process listens on the socket (a second daemon): exit 1 with this message.
    case socketInUse(String)
    /// The socket path exists and is not a socket; it is never removed.
    case notASocket(String)
    case unknownGroup(String)
    case socketSetup(path: String, operation: String, errno: Int32)
    case invalidConfig(String)
    case alreadyStarted

    public var description: String {
        switch self {
        case .socketInUse(let path):
            return "socket \(path) is in use by a running daemon"
        case .notASocket(let path):
            return "\(path) exists and is not a socket; not replacing it"
        case .unknownGroup(let group):
            return "socket group \(group) does not exist"
        case .socketSetup(let path, let operation, let code):
            return "socket \(path): \(operation) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .invalidConfig(let what):
            return "invalid server config: \(what)"
        case .alreadyStarted:
            return "the server was already started"
        }
    }
}

/// The NDJSON server on a Unix socket: framing, limits, ordering and backpressure per connection;
/// what the lines mean is the `RequestBatchHandler`'s business.
public final class UnixSocketServer: Sendable {
    private enum Phase {
        case idle
        case starting
        case running(MultiThreadedEventLoopGroup, any Channel)
        case stopping
        case stopped
    }

    private struct State {
        var phase = Phase.idle
        var connections: [UInt64: any Channel] = [:]
        var nextConnectionID: UInt64 = 1
        var refusals = RefusalLog()
    }

    private let config: ServerConfig
    private let handler: any RequestBatchHandler
    private let logger: Logger
    private let state = Locked(State())
    /// Request bytes buffered across every connection (`stats.buffered_input_bytes`).
    public let inputBudget: InputBudget
    /// The most one socket read takes in.
    public static let readBytesMax = 16 << 10

    public init(config: ServerConfig, handler: any RequestBatchHandler, logger: Logger) {
        self.config = config
        self.handler = handler
        self.inputBudget = InputBudget(capBytes: max(1, config.bufferedInputBytesMax))
        self.logger = logger
    }

    /// Open connections (refused ones never count). Safe from any thread.
    public var connectionCount: Int {
        self.state.withLock { $0.connections.count }
    }

    /// Binds the socket (replacing a stale one) and starts accepting.
    /// Throws `ServerError.socketInUse` when a live daemon answers on the path.
    public func start() async throws {
        try self.config.validate()
        try self.state.withLock { state in
            guard case .idle = state.phase else { throw ServerError.alreadyStarted }
            state.phase = .starting
        }
        let path = self.config.socketPath
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.config.eventLoopThreads)
        do {
            let gid = try self.config.socketGroup.map(SocketFile.resolveGroup)
            try SocketFile.clearStale(at: path)
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                // One socket read of at most 16 KiB per read(): the input budget and each
                // connection's pending bound are checked between reads, so what one read brings is
                // all they can be overshot by (1,024 connections × 16 KiB at worst).
                .childChannelOption(.maxMessagesPerRead, value: 1)
                .childChannelOption(
                    .recvAllocator,
                    value: AdaptiveRecvByteBufferAllocator(
                        minimum: 512, initial: 4096, maximum: UnixSocketServer.readBytesMax)
                )
                .childChannelInitializer { [self] channel in self.initializeConnection(channel) }
            // umask is process-wide: tighten it only around bind, so the file is never wider than 0600.
            let oldMask = umask(0o177)
            let channel: any Channel
            do {
                channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
                umask(oldMask)
            } catch {
                umask(oldMask)
                throw error
            }
            do {
                try SocketFile.setPermissions(at: path, group: gid)
            } catch {
                try? await channel.close()
                unlink(path)
                throw error
            }
            self.state.withLock { $0.phase = .running(group, channel) }
            self.logger.info(
                "listening",
                metadata: ["socket.path": "\(path)", "connections.max": "\(self.config.connectionsMax)"]
            )
        } catch {
            self.state.withLock { $0.phase = .idle }
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Stops accepting, lets every connection answer the lines it has read (batches in flight
    /// finish and are written), closes them, removes the socket file. Connections still open after
    /// `shutdownGracePeriod` (a peer that does not read) are closed anyway.
    public func shutdown() async {
        let running: (MultiThreadedEventLoopGroup, any Channel)? = self.state.withLock { state in
            guard case .running(let group, let channel) = state.phase else { return nil }
            state.phase = .stopping
            return (group, channel)
        }
        guard let (group, serverChannel) = running else { return }
        try? await serverChannel.close()
        unlink(self.config.socketPath)

        let connections = self.state.withLock { Array($0.connections.values) }
        self.logger.info("shutting down", metadata: ["connections": "\(connections.count)"])
        for connection in connections {
            connection.pipeline.fireUserInboundEventTriggered(ServerShutdownEvent())
        }
        let grace = TimeAmount(self.config.shutdownGracePeriod)
        let logger = self.logger
        let deadline = group.next().scheduleTask(in: grace) {
            let left = connections.filter { $0.isActive }
            if !left.isEmpty {
                logger.notice("grace period over, closing connections", metadata: ["connections": "\(left.count)"])
            }
            for connection in left { connection.close(promise: nil) }
        }
        for connection in connections {
            try? await connection.closeFuture.get()
        }
        deadline.cancel()
        try? await group.shutdownGracefully()
        self.state.withLock { $0.phase = .stopped }
    }

    // MARK: Connections

    private func initializeConnection(_ channel: any Channel) -> EventLoopFuture<Void> {
        PeerCredentialsReader.read(from: channel).flatMap { peer in
            self.admit(channel, peer: peer)
        }.flatMapError { error in
            self.logger.notice("cannot read peer credentials, closing", metadata: ["error": "\(error)"])
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    private func admit(_ channel: any Channel, peer: PeerCredentials) -> EventLoopFuture<Void> {
        enum Admission { case admitted(UInt64), full(logCount: Int?), stopping }
        let admission: Admission = self.state.withLock { state in
            switch state.phase {
            case .starting, .running: break
            case .idle, .stopping, .stopped: return .stopping
            }
            guard state.connections.count < self.config.connectionsMax else {
                return .full(logCount: state.refusals.refused(now: .now()))
            }
            let id = state.nextConnectionID
            state.nextConnectionID += 1
            state.connections[id] = channel
            return .admitted(id)
        }
        let peerMetadata: Logger.Metadata = ["peer.uid": "\(peer.uid)", "peer.pid": "\(peer.pid)"]
        switch admission {
        case .stopping:
            // Accepted while the listener was closing: no answer can be promised, so none is given
            // (a failed initializer makes the bootstrap close the channel).
            return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        case .full(let logCount):
            if let logCount {
                self.logger.notice(
                    "connections refused: limit reached",
                    metadata: peerMetadata.merging([
                        "connections.max": "\(self.config.connectionsMax)", "connections.refused": "\(logCount)",
                    ]) { $1 }
                )
            }
            let line =
                #"{"ok":false,"error":{"code":"unavailable","message":"connection limit (\#(self.config.connectionsMax)) reached"}}"#
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(RefuseConnectionHandler(line: line))
            }
        case .admitted(let id):
            var logger = self.logger
            logger[metadataKey: "connection.id"] = "\(id)"
            logger.debug("connection opened", metadata: peerMetadata.merging(["peer.gid": "\(peer.gid)"]) { $1 })
            channel.closeFuture.whenComplete { [self, logger] _ in
                self.state.withLock { _ = $0.connections.removeValue(forKey: id) }
                logger.debug("connection closed")
            }
            let config = self.config
            let service = self.handler
            let budget = self.inputBudget
            return channel.eventLoop.makeCompletedFuture {
                let activity = ConnectionActivity()
                try channel.pipeline.syncOperations.addHandlers(
                    InputGuard(
                        budget: budget, activity: activity, lineBytesMax: config.lineBytesMax,
                        lineTimeout: TimeAmount(config.lineTimeout), idleTimeout: TimeAmount(config.idleTimeout),
                        logger: logger),
                    // The bound is the decoder's own promise, kept as a net: breaking it closes the connection.
                    ByteToMessageHandler(
                        LineFrameDecoder(lineBytesMax: config.lineBytesMax),
                        maximumBufferSize: config.lineBytesMax + 1
                    ),
                    ConnectionHandler(
                        service: service,
                        peer: peer,
                        lineBytesMax: config.lineBytesMax,
                        batchLinesMax: config.batchLinesMax,
                        pendingLinesMax: config.pendingLinesPerConnectionMax,
                        pendingBytesMax: config.pendingBytesPerConnectionMax,
                        budget: budget,
                        activity: activity,
                        logger: logger
                    )
                )
            }
        }
    }
}

/// Writes one line to a connection over the limit, then closes it.
private final class RefuseConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let line: String

    init(line: String) {
        self.line = line
    }

    func channelActive(context: ChannelHandlerContext) {
        let buffer = context.channel.allocator.buffer(string: self.line + "\n")
        let channel = context.channel
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in channel.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}  // not a request: nothing is read
}
