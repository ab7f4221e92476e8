public struct DecideContext: Sendable {
    public var now: Instant
    public var defaultDailyLimit: Int64
    /// The event named by `Command.referencedSeq`, read from the log by the caller.
    public var referenced: Event?
    public init(now: Instant, defaultDailyLimit: Int64 = -1, referenced: Event? = nil) {
        self.now = now
        self.defaultDailyLimit = defaultDailyLimit
        self.referenced = referenced
    }
}
