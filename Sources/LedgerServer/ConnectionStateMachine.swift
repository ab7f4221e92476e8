import NIOCore

/// The per-connection protocol logic, free of I/O: which lines go to the service and when,
/// when to read, when to close. `ConnectionHandler` feeds it events and carries out its actions.
///
/// Rules: at most one batch in flight; lines that arrive meanwhile are gathered into the next
/// batch (at most `batchLinesMax`); reading stops while `pendingLinesMax` lines or
/// `pendingBytesMax` bytes wait or the channel is not writable; answers go out in request order
/// because batches do.
struct ConnectionStateMachine {
    enum Action: Equatable {
        case none
        /// Send these lines to the service; forward a held `read()` too when `resumeReading`.
        case dispatch([[UInt8]], resumeReading: Bool)
        /// Forward the `read()` that was held back.
        case resumeReading
        /// Every earlier line is answered: write the `line_too_long` answer, then close.
        case writeLineTooLongAndClose
        /// Every line is answered and no more will come (EOF or shutdown): close.
        case close
    }

    let batchLinesMax: Int
    let pendingLinesMax: Int
    let pendingBytesMax: Int

    private var pending = CircularBuffer<[UInt8]>()
    private var pendingBytes = 0
    private var inFlightBytes = 0
    private var batchInFlight = false
    private var streaming = false
    private var writable = true
    private var inputEnded = false
    private var lineTooLong = false
    private var shuttingDown = false
    private var closed = false
    /// A `read()` was asked for and not forwarded; it must be forwarded when reading may go on.
    private var readHeld = false

    init(batchLinesMax: Int, pendingLinesMax: Int, pendingBytesMax: Int = Int.max) {
        precondition(batchLinesMax > 0 && pendingLinesMax >= batchLinesMax, "need 0 < batchLinesMax <= pendingLinesMax")
        precondition(pendingBytesMax > 0, "pendingBytesMax must be positive")
        self.batchLinesMax = batchLinesMax
        self.pendingLinesMax = pendingLinesMax
        self.pendingBytesMax = pendingBytesMax
    }

    var pendingLineCount: Int { self.pending.count }
    /// Request bytes this connection holds: gathered lines and the batch in flight.
    var bufferedBytes: Int { self.pendingBytes + self.inFlightBytes }
    /// Nothing gathered, nothing in flight, no stream: the connection only waits for its peer.
    var isIdle: Bool { self.pending.isEmpty && !self.batchInFlight && !self.streaming }
    var isBatchInFlight: Bool { self.batchInFlight }
    var isStreaming: Bool { self.streaming }
    var isClosed: Bool { self.closed }

    /// Whether reading may go on now: the answers can be written, the gathered lines are under
    /// their bound and nothing ends the connection.
    private var mayRead: Bool {
        // A stream keeps reading (and dropping) so that the subscriber's EOF is seen.
        !self.closed && self.writable && !self.shuttingDown
            && (self.streaming
                || (!self.lineTooLong && self.pending.count < self.pendingLinesMax
                    && self.pendingBytes < self.pendingBytesMax))
    }

    // MARK: Events

    /// A line was decoded. Lines are gathered; they are sent on `readComplete` or when a batch ends.
    /// While streaming, requests are ignored (the protocol says so), which also keeps memory flat.
    mutating func lineReceived(_ line: [UInt8]) {
        guard !self.closed, !self.lineTooLong, !self.streaming else { return }
        self.pending.append(line)
        self.pendingBytes += line.count
    }

    mutating func lineTooLongReceived() -> Action {
        guard !self.closed, !self.streaming else { return .none }
        self.lineTooLong = true
        return self.advance()
    }

    /// The end of one read: everything gathered so far may form a batch.
    mutating func readComplete() -> Action { self.advance() }

    /// The outbound `read()` reached the handler: forward it (`true`) or hold it back.
    mutating func readRequested() -> Bool {
        if self.mayRead { return true }
        self.readHeld = true
        return false
    }

    /// The service answered the batch in flight; the handler has written and flushed its lines.
    mutating func batchAnswered(startsStream: Bool) -> Action {
        precondition(self.batchInFlight, "an answer without a batch in flight")
        self.batchInFlight = false
        self.inFlightBytes = 0
        guard !self.closed else { return .none }
        if startsStream {
            self.streaming = true
            self.pending.removeAll()  // requests after a subscribe are ignored
            self.pendingBytes = 0
            // A subscription answered after EOF or shutdown began has no one, or no time, to stream to.
            if self.inputEnded || self.shuttingDown { return self.closeOnce() }
            return self.resumeIfPossible()
        }
        return self.advance()
    }

    mutating func writabilityChanged(isWritable: Bool) -> Action {
        self.writable = isWritable
        return isWritable ? self.advance() : .none
    }

    /// The peer shut its writing side (EOF): answer what was gathered, then close. A subscriber's
    /// EOF ends its stream: a closed peer looks the same until a write fails, which with no events
    /// flowing might be never.
    mutating func inputClosed() -> Action {
        self.inputEnded = true
        return self.streaming ? self.closeOnce() : self.advance()
    }

    /// The server is stopping: read nothing more, answer the gathered lines, then close.
    /// A stream has nothing to finish and closes at once.
    mutating func shutdownRequested() -> Action {
        self.shuttingDown = true
        if self.streaming {
            return self.closeOnce()
        }
        return self.advance()
    }

    /// The stream ended (`nil` or an error): close.
    mutating func streamEnded() -> Action {
        self.closeOnce()
    }

    mutating func channelClosed() {
        self.closed = true
        self.pending.removeAll()
        self.pendingBytes = 0
        self.inFlightBytes = 0
    }

    // MARK: Decisions

    private mutating func advance() -> Action {
        guard !self.closed, !self.streaming, !self.batchInFlight else { return self.resumeIfPossible() }
        if !self.pending.isEmpty {
            // While unwritable, hold the next batch: its answers would only pile up in memory.
            // On shutdown, go on: the channel closes after the last answer anyway.
            guard self.writable || self.shuttingDown else { return .none }
            let count = min(self.batchLinesMax, self.pending.count)
            var batch: [[UInt8]] = []
            batch.reserveCapacity(count)
            var bytes = 0
            for _ in 0..<count {
                let line = self.pending.removeFirst()
                bytes += line.count
                batch.append(line)
            }
            self.pendingBytes -= bytes
            self.inFlightBytes = bytes
            self.batchInFlight = true
            let resume = self.takeHeldReadIfPossible()
            return .dispatch(batch, resumeReading: resume)
        }
        if self.lineTooLong {
            self.closed = true
            return .writeLineTooLongAndClose
        }
        if self.inputEnded || self.shuttingDown {
            return self.closeOnce()
        }
        return self.resumeIfPossible()
    }

    private mutating func resumeIfPossible() -> Action {
        self.takeHeldReadIfPossible() ? .resumeReading : .none
    }

    private mutating func takeHeldReadIfPossible() -> Bool {
        guard self.readHeld, self.mayRead else { return false }
        self.readHeld = false
        return true
    }

    private mutating func closeOnce() -> Action {
        guard !self.closed else { return .none }
        self.closed = true
        self.pending.removeAll()
        self.pendingBytes = 0
        return .close
    }
}
