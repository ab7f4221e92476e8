import Logging
import NIOCore
import Synchronization

/// The request bytes buffered across every connection, held under one cap
/// (`--max-buffered-input-mib`): unfinished lines, gathered lines and batches in flight. While the
/// cap is reached no connection reads; the bytes already in drain through the writer, so this
/// only delays. It bounds what hostile clients can make the daemon hold, whatever their number.
public final class InputBudget: Sendable {
    public let capBytes: Int
    private let used = Atomic<Int>(0)

    public init(capBytes: Int) {
        precondition(capBytes > 0, "capBytes must be positive")
        self.capBytes = capBytes
    }

    public var usedBytes: Int { self.used.load(ordering: .relaxed) }
    var isSpent: Bool { self.usedBytes >= self.capBytes }

    func add(_ bytes: Int) {
        if bytes != 0 { self.used.add(bytes, ordering: .relaxed) }
    }
}

/// What a connection's two handlers share on its event loop: whether it only waits for its peer
/// (nothing gathered, nothing in flight, no stream). Only its slow peers are timed out.
final class ConnectionActivity {
    var waitingForPeer = true
    /// The connection's gathered and in-flight request bytes (its unfinished line not included).
    var bufferedBytes = 0
}

/// First in a connection's pipeline, before the line decoder:
/// - counts the bytes of the unfinished line against the `InputBudget` (at most `lineBytesMax + 1`,
///   what the decoder keeps), and holds `read()` while the budget is spent, unless the connection
///   holds less than `floorBytes`;
/// - closes a connection whose line is not finished within `lineTimeout` of its first byte, the
///   slowloris defence;
/// - closes a connection that sent nothing for `idleTimeout` while nothing of it was in flight
///   (also one that never sent anything: a gateway may open its pool ahead of its traffic).
/// A line's clock runs only while the connection waits for its peer: time the daemon spends not
/// reading (backpressure, the budget) is never held against the peer.
final class InputGuard: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How often a held `read()` looks at the budget again.
    static let budgetRecheck = TimeAmount.milliseconds(5)
    /// A connection holding less than this may always read, budget or not: a peer that stops
    /// reading its answers keeps its lines, and must not starve every other connection. So the
    /// input held is at most the cap plus, per connection, this floor and one read.
    static let floorBytes = 16 << 10

    private let budget: InputBudget
    private let activity: ConnectionActivity
    private let lineBytesMax: Int
    private let lineTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private let logger: Logger

    private var partialBytes = 0
    /// When the unfinished line's clock started; nil when the last byte read was a `\n`.
    private var lineStarted: NIODeadline?
    private var lastHeard: NIODeadline = .now()
    private var readHeld = false
    private var ticker: RepeatedTask?
    private var context: ChannelHandlerContext?

    init(
        budget: InputBudget, activity: ConnectionActivity, lineBytesMax: Int, lineTimeout: TimeAmount,
        idleTimeout: TimeAmount, logger: Logger
    ) {
        self.budget = budget
        self.activity = activity
        self.lineBytesMax = lineBytesMax
        self.lineTimeout = lineTimeout
        self.idleTimeout = idleTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.lastHeard = .now()
        let tick = Self.tick(lineTimeout: self.lineTimeout, idleTimeout: self.idleTimeout)
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.ticker = context.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
            this.value.check()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.release()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.release()
        context.fireChannelInactive()
    }

    /// A quarter of the shorter timeout, between 10 ms and 1 s: a slow peer is closed within
    /// about a quarter more than its timeout.
    static func tick(lineTimeout: TimeAmount, idleTimeout: TimeAmount) -> TimeAmount {
        let quarter = min(lineTimeout, idleTimeout).nanoseconds / 4
        return .nanoseconds(
            max(TimeAmount.milliseconds(10).nanoseconds, min(TimeAmount.seconds(1).nanoseconds, quarter)))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        let now = NIODeadline.now()
        self.lastHeard = now
        let view = buffer.readableBytesView
        let partial: Int
        if let newline = view.lastIndex(of: UInt8(ascii: "\n")) {
            partial = view.endIndex - newline - 1
            self.lineStarted = partial > 0 ? now : nil
        } else {
            partial = self.partialBytes + view.count
            if self.lineStarted == nil { self.lineStarted = now }
        }
        let kept = min(partial, self.lineBytesMax + 1)
        self.budget.add(kept - self.partialBytes)
        self.partialBytes = kept
        context.fireChannelRead(data)
    }

    private var mayRead: Bool {
        !self.budget.isSpent || self.activity.bufferedBytes + self.partialBytes < Self.floorBytes
    }

    func read(context: ChannelHandlerContext) {
        guard !self.mayRead else {
            context.read()
            return
        }
        guard !self.readHeld else { return }
        self.readHeld = true
        self.scheduleRecheck(context: context)
    }

    private func scheduleRecheck(context: ChannelHandlerContext) {
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: Self.budgetRecheck) {
            let guardian = this.value
            guard let context = guardian.context, guardian.readHeld else { return }
            if !guardian.mayRead {
                guardian.scheduleRecheck(context: context)
            } else {
                guardian.readHeld = false
                context.read()
            }
        }
    }

    private func check() {
        guard let context = self.context, context.channel.isActive else { return }
        let now = NIODeadline.now()
        guard self.activity.waitingForPeer && !self.readHeld else {
            // Busy or held by the daemon: the peer is not slow, so its clocks start again.
            if self.lineStarted != nil { self.lineStarted = now }
            self.lastHeard = now
            return
        }
        if let started = self.lineStarted, now - started > self.lineTimeout {
            self.logger.notice(
                "closing a slow connection: line not finished in time",
                metadata: [
                    "line.timeout_s": "\(Double(self.lineTimeout.nanoseconds) / 1e9)",
                    "line.bytes": "\(self.partialBytes)",
                ])
            context.close(promise: nil)
        } else if self.lineStarted == nil, now - self.lastHeard > self.idleTimeout {
            self.logger.info(
                "closing an idle connection",
                metadata: ["idle.timeout_s": "\(Double(self.idleTimeout.nanoseconds) / 1e9)"])
            context.close(promise: nil)
        }
    }

    private func release() {
        self.ticker?.cancel()
        self.ticker = nil
        self.readHeld = false
        self.budget.add(-self.partialBytes)
        self.partialBytes = 0
    }
}
