import Logging
import NIOCore

/// Sent down a connection's pipeline when the server stops: answer what was read, then close.
struct ServerShutdownEvent: Sendable {}

/// Carries out `ConnectionStateMachine`'s actions on one connection: sends batches to the service
/// (one at a time, in a `Task`, answers hopping back to the event loop), writes answers in order,
/// holds back `read()` for backpressure and pumps a subscription's event stream.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = LineFrame
    typealias InboundOut = Never
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let service: any RequestBatchHandler
    private let peer: PeerCredentials
    private let lineBytesMax: Int
    private let logger: Logger
    private let budget: InputBudget
    private let activity: ConnectionActivity
    /// The part of `budget` this connection's lines take, as last reported.
    private var budgetBytes = 0
    private var machine: ConnectionStateMachine
    private var context: ChannelHandlerContext?
    private var batchLineCount = 0
    private var stream: (any EventLineStream)?
    /// How long a stream's last lines may take to go out when the server stops.
    static let streamCloseWait = TimeAmount.seconds(1)
    /// The last answer write, so a close waits until the answers before it went out.
    private var lastWrite: EventLoopFuture<Void>?

    init(
        service: any RequestBatchHandler,
        peer: PeerCredentials,
        lineBytesMax: Int,
        batchLinesMax: Int,
        pendingLinesMax: Int,
        pendingBytesMax: Int = Int.max,
        budget: InputBudget = InputBudget(capBytes: Int.max),
        activity: ConnectionActivity = ConnectionActivity(),
        logger: Logger
    ) {
        self.service = service
        self.peer = peer
        self.lineBytesMax = lineBytesMax
        self.logger = logger
        self.budget = budget
        self.activity = activity
        self.machine = ConnectionStateMachine(
            batchLinesMax: batchLinesMax, pendingLinesMax: pendingLinesMax, pendingBytesMax: pendingBytesMax)
    }

    /// Tells the budget and the input guard what the state machine now holds.
    private func report() {
        let bytes = self.machine.bufferedBytes
        self.budget.add(bytes - self.budgetBytes)
        self.budgetBytes = bytes
        self.activity.bufferedBytes = bytes
        self.activity.waitingForPeer = self.machine.isIdle
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.closed()
        self.context = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .line(let line):
            self.machine.lineReceived(line)  // reported once per read, in channelReadComplete
        case .tooLong:
            self.logger.notice("line too long, closing", metadata: ["line.bytes.max": "\(self.lineBytesMax)"])
            self.perform(self.machine.lineTooLongReceived())
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.perform(self.machine.readComplete())
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.perform(self.machine.writabilityChanged(isWritable: context.channel.isWritable))
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed:
            self.perform(self.machine.inputClosed())
        case is ServerShutdownEvent:
            let streaming = self.machine.isStreaming
            let action = self.machine.shutdownRequested()
            self.perform(action)
            if streaming && action == .close {
                // A stream has no answer left to deliver: a reader gets the lines in flight, but a
                // subscriber that stopped reading must not hold the shutdown for the grace period.
                let channel = context.channel
                context.eventLoop.scheduleTask(in: Self.streamCloseWait) { channel.close(promise: nil) }
            }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.logger.debug("connection error, closing", metadata: ["error": "\(error)"])
        self.closed()
        context.close(promise: nil)
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if self.machine.readRequested() { context.read() }
    }

    // MARK: Actions

    private func perform(_ action: ConnectionStateMachine.Action) {
        defer { self.report() }
        guard let context = self.context else { return }
        switch action {
        case .none:
            break
        case .dispatch(let lines, let resumeReading):
            self.dispatch(lines, context: context)
            if resumeReading { context.read() }
        case .resumeReading:
            context.read()
        case .writeLineTooLongAndClose:
            let message =
                #"{"ok":false,"error":{"code":"line_too_long","message":"line exceeds \#(self.lineBytesMax) bytes"}}"#
            self.write([Array(message.utf8)], context: context)
            self.closeAfterWrites(context: context)
        case .close:
            self.closeAfterWrites(context: context)
        }
    }

    private func dispatch(_ lines: [[UInt8]], context: ChannelHandlerContext) {
        assert(!lines.isEmpty)
        self.batchLineCount = lines.count
        let service = self.service
        let peer = self.peer
        let promise = context.eventLoop.makePromise(of: BatchAnswer.self)
        promise.completeWithTask { await service.handle(lines, from: peer) }
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { this.value.answered($0) }
    }

    private func answered(_ answer: BatchAnswer) {
        defer { self.report() }
        guard let context = self.context, !self.machine.isClosed else {
            _ = self.machine.batchAnswered(startsStream: false)
            if let stream = answer.stream { Task { await stream.cancel() } }
            return
        }
        // The contract: one answer per request, in order; a stream may end the batch early.
        guard
            answer.lines.count == self.batchLineCount
                || (answer.stream != nil && answer.lines.count < self.batchLineCount)
        else {
            assertionFailure("service answered \(answer.lines.count) lines for \(self.batchLineCount)")
            self.logger.error(
                "service broke the one-answer-per-line contract, closing",
                metadata: ["batch.lines": "\(self.batchLineCount)", "answer.lines": "\(answer.lines.count)"]
            )
            if let stream = answer.stream { Task { await stream.cancel() } }
            _ = self.machine.batchAnswered(startsStream: false)
            self.closed()
            context.close(promise: nil)
            return
        }
        self.write(answer.lines, context: context)
        let action = self.machine.batchAnswered(startsStream: answer.stream != nil)
        if let stream = answer.stream {
            self.stream = stream
            self.pumpStream(stream)
        }
        self.perform(action)
    }

    /// next → write → wait until written → next: a slow reader holds the stream, not our memory.
    private func pumpStream(_ stream: any EventLineStream) {
        guard let context = self.context, !self.machine.isClosed else { return }
        let limit = self.machine.batchLinesMax
        let promise = context.eventLoop.makePromise(of: [[UInt8]]?.self)
        promise.completeWithTask { try await stream.next(limit: limit) }
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        promise.futureResult.whenComplete { result in
            let handler = this.value
            guard let context = handler.context, !handler.machine.isClosed else { return }
            switch result {
            case .success(let lines?):
                handler.write(lines, context: context)
                let written = handler.lastWrite ?? context.eventLoop.makeSucceededVoidFuture()
                written.whenSuccess { this.value.pumpStream(stream) }
            case .success(nil):
                handler.perform(handler.machine.streamEnded())
            case .failure(let error):
                handler.logger.debug("event stream failed, closing", metadata: ["error": "\(error)"])
                handler.perform(handler.machine.streamEnded())
            }
        }
    }

    /// Writes the lines as one buffer, each followed by `\n`, and flushes.
    private func write(_ lines: [[UInt8]], context: ChannelHandlerContext) {
        guard !lines.isEmpty else { return }
        var buffer = context.channel.allocator.buffer(capacity: lines.reduce(0) { $0 + $1.count + 1 })
        for line in lines {
            assert(!line.contains(UInt8(ascii: "\n")), "an answer line holds a newline")
            buffer.writeBytes(line)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: promise)
        self.lastWrite = promise.futureResult
    }

    private func closeAfterWrites(context: ChannelHandlerContext) {
        guard let lastWrite = self.lastWrite else {
            context.close(promise: nil)
            return
        }
        let channel = context.channel
        lastWrite.whenComplete { _ in channel.close(promise: nil) }
    }

    /// The connection is gone or going: drop what waits and let the stream go, exactly once.
    private func closed() {
        self.machine.channelClosed()
        self.report()
        if let stream = self.stream {
            self.stream = nil
            Task { await stream.cancel() }
        }
    }
}
