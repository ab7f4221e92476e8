import NIOCore

/// When to log refused connections: the first at once, then at most one line per `interval`
/// carrying how many were refused since the last line. A flood of connections over the limit
/// (tools/hostile measured 20,000 a second from one core) must not become a flood of log lines;
/// one notice per refusal was 1.4 MB of log a second.
struct RefusalLog {
    let interval: TimeAmount
    private var lastLogged: NIODeadline?
    private var unlogged = 0

    init(interval: TimeAmount = .seconds(10)) {
        precondition(interval.nanoseconds > 0, "interval must be positive")
        self.interval = interval
    }

    /// Counts one refusal at `now`; returns how many refusals to report in a line now (this one and
    /// those held back since the last line), or nil to stay quiet.
    mutating func refused(now: NIODeadline) -> Int? {
        self.unlogged += 1
        if let last = self.lastLogged, now - last < self.interval { return nil }
        let count = self.unlogged
        assert(count >= 1)
        self.lastLogged = now
        self.unlogged = 0
        return count
    }
}
