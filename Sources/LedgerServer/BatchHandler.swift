import LedgerJSON

/// The boundary between the socket server (framing, limits, ordering, backpressure) and the
/// ledger service (parsing, roles, deciding). The server knows nothing of JSON ops; the
/// service knows nothing of NIO.

/// Who is on the other end of a connection, from SO_PEERCRED and SO_PEERGROUPS.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups (may be empty when the kernel does not report them).
    public var groups: [UInt32]

    public init(pid: Int32, uid: UInt32, gid: UInt32, groups: [UInt32]) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }
}

/// A live stream of event lines that follows a `subscribe` answer on its connection.
public protocol EventLineStream: Sendable {
    /// The next event lines (each without "\n"), waiting until at least one exists; `[]` is
    /// allowed after a bounded piece of work found none (the server just asks again).
    /// At most `limit` lines. `nil` ends the stream (the server then closes the connection).
    /// The server calls this again only after the previous lines were written and flushed,
    /// so a slow reader costs bounded memory.
    func next(limit: Int) async throws -> [[UInt8]]?
    /// Called once when the connection closes, whatever the reason.
    func cancel() async
}

/// What the service answers for one batch of request lines.
public struct BatchAnswer: Sendable {
    /// Exactly one response line per request line, in request order, each without "\n".
    public var lines: [[UInt8]]
    /// Set when a request of the batch was a successful `subscribe`: the server writes
    /// `lines`, then streams from it until the client closes. Requests after it are ignored.
    public var stream: (any EventLineStream)?

    public init(lines: [[UInt8]], stream: (any EventLineStream)? = nil) {
        self.lines = lines
        self.stream = stream
    }
}

/// The ledger service as the server sees it.
public protocol RequestBatchHandler: Sendable {
    /// Answers a batch of request lines from one connection. Lines are in arrival order,
    /// without their terminator, never empty. The server sends at most one batch per
    /// connection at a time and gathers what arrives meanwhile into the next one.
    func handle(_ lines: [[UInt8]], from peer: PeerCredentials) async -> BatchAnswer
}
