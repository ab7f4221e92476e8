public struct Reversal: Sendable, Equatable {
    public var reversesSeq: UInt64
    public var team: ID
    public var amount: Int64
    public var reason: String
    public var restored: [Draw]
    public var lapsed: Int64
    /// Set when a consumption (or commit) is reversed: whose counters go down and which,
    /// decided once so that the fold needs nothing but this event (fields added to §6).
    public var origin: Origin?

    public struct Origin: Sendable, Equatable {
        public var user: ID
        public var pod: ID?
        /// The part of the reversed amount that was overdraft.
        public var overdraft: Int64
        /// The original's day is still today: consumed-today goes down.
        public var uncountDay: Bool
        /// The original is in the current cycle: cycle counters and budgets go down.
        public var uncountCycle: Bool
        public init(user: ID, pod: ID?, overdraft: Int64, uncountDay: Bool, uncountCycle: Bool) {
            self.user = user
            self.pod = pod
            self.overdraft = overdraft
            self.uncountDay = uncountDay
            self.uncountCycle = uncountCycle
        }
    }

    public init(
        reversesSeq: UInt64, team: ID, amount: Int64, reason: String, restored: [Draw], lapsed: Int64,
        origin: Origin?
    ) {
        self.reversesSeq = reversesSeq
        self.team = team
        self.amount = amount
        self.reason = reason
        self.restored = restored
        self.lapsed = lapsed
        self.origin = origin
    }
}
