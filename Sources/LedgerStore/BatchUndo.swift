import LedgerCore

/// What one batch changed on the write side, kept so that a failed commit (disk full, map at its
/// maximum, an I/O error) or a failed key lookup puts the engine back exactly where the batch
/// found it, without folding the log again (issue 13, item 4: a refold at 10M events refused
/// writes for about 100 s).
///
/// Before-images are taken at first touch, so a batch costs O(what it touches), never O(state):
/// a whole-state copy (`let before = state`) is free to take, but the batch's first change to a
/// team then copies the whole teams dictionary, on every batch. At 100k teams that added about
/// 110-216 ms to each batch of 64 consumes, against 0.08-0.3 ms for this record
/// (`tools/bench`, `tokenledger-rollback-bench`).
/// A team is kept whole (`TeamState` by value: users, pods, buckets, counters, known tasks), so a
/// field added to a team is covered without a change here; `apply` changes at most one team per
/// event, and otherwise only the dictionaries named in `noteBeforeApplying`, whose switch lists
/// every event so that a new one must say what it touches.
///
/// The scheduler is kept whole: its copy costs nothing until it changes, and it changes its
/// per-team map only when it rescans or fires, which already cost O(teams).
public struct BatchUndo {
    public private(set) var isOpen = false
    // The write side's position when the batch began.
    private var head: UInt64 = 0
    private var lastTs = Instant(ms: 0)
    private var headHash: [UInt8] = []
    private var scheduler = Scheduler()
    private var cursor = Instant(ms: 0)
    // Before-images by key; a nil image means the key was absent before the batch.
    private var teams: [ID: TeamState?] = [:]
    private var holds: [UInt64: HoldState?] = [:]
    private var plans: [ID: Plan?] = [:]
    private var prices: [ID: PriceSpec?] = [:]
    /// Seqs the batch added to `reversed`.
    private var reversedAdded: [UInt64] = []

    public init() {}

    /// Teams with a before-image in the open batch (tests and the benchmark read it).
    public var teamsTouched: Int { teams.count }

    /// Starts a batch at the engine's current position.
    public mutating func begin(state: LedgerState, headHash: [UInt8], scheduler: Scheduler, cursor: Instant) {
        precondition(!isOpen, "a batch begins after the last one was committed or rolled back")
        assert(teams.isEmpty && holds.isEmpty && plans.isEmpty && prices.isEmpty && reversedAdded.isEmpty)
        isOpen = true
        head = state.head
        lastTs = state.lastTs
        self.headHash = headHash
        self.scheduler = scheduler
        self.cursor = cursor
    }

    /// Keeps what `e` is about to change in `state`, unless the batch already kept it: call it
    /// just before `state.apply(e)`.
    public mutating func noteBeforeApplying(_ e: Event, to state: LedgerState) {
        assert(isOpen, "an event applied outside a batch cannot be rolled back")
        assert(e.seq == state.head + 1, "noted in the order applied")
        if let team = e.body.team, teams.index(forKey: team) == nil {
            teams.updateValue(state.teams[team], forKey: team)
        }
        switch e.body {
        case .holdPlaced:
            keepHold(e.seq, state)
        case .holdCommitted(let c):
            keepHold(c.holdSeq, state)
        case .holdReleased(let holdSeq, _, _), .holdExpired(let holdSeq, _, _):
            keepHold(holdSeq, state)
        case .reversed(let r):
            if !state.reversed.contains(r.reversesSeq) { reversedAdded.append(r.reversesSeq) }
        case .planDefined(let plan, _, _, _):
            if plans.index(forKey: plan) == nil { plans.updateValue(state.plans[plan], forKey: plan) }
        case .priceSet(let spec):
            if prices.index(forKey: spec.model) == nil {
                prices.updateValue(state.prices[spec.model], forKey: spec.model)
            }
        case .teamCreated, .teamConfigured, .teamResumed, .podResumed, .userAdded, .userRemoved, .userAssigned,
            .podCreated, .podConfigured, .podArchived, .topup, .bonusGranted, .cycleStarted, .dailyReset,
            .bonusExpired, .consumed, .budgetAlert:
            // Their team only.
            break
        }
    }

    private mutating func keepHold(_ seq: UInt64, _ state: LedgerState) {
        if holds.index(forKey: seq) == nil { holds.updateValue(state.holds[seq], forKey: seq) }
    }

    /// The batch is durable: its before-images go (holding them would make the next change to
    /// each kept team copy it again).
    public mutating func commit() {
        precondition(isOpen, "commit of a batch that did not begin")
        clear()
    }

    /// Puts everything the batch changed back as it was when the batch began.
    public mutating func rollBack(
        state: inout LedgerState, headHash: inout [UInt8], scheduler: inout Scheduler, cursor: inout Instant
    ) {
        precondition(isOpen, "rollback of a batch that did not begin")
        for (id, before) in teams {
            if let before { state.teams[id] = before } else { state.teams.removeValue(forKey: id) }
        }
        for (seq, before) in holds {
            if let before { state.holds[seq] = before } else { state.holds.removeValue(forKey: seq) }
        }
        for (plan, before) in plans {
            if let before { state.plans[plan] = before } else { state.plans.removeValue(forKey: plan) }
        }
        for (model, before) in prices {
            if let before { state.prices[model] = before } else { state.prices.removeValue(forKey: model) }
        }
        for seq in reversedAdded { state.reversed.remove(seq) }
        state.head = head
        state.lastTs = lastTs
        headHash = self.headHash
        scheduler = self.scheduler
        cursor = self.cursor
        clear()
    }

    private mutating func clear() {
        isOpen = false
        teams.removeAll(keepingCapacity: true)
        holds.removeAll(keepingCapacity: true)
        plans.removeAll(keepingCapacity: true)
        prices.removeAll(keepingCapacity: true)
        reversedAdded.removeAll(keepingCapacity: true)
        headHash = []
        scheduler = Scheduler()
    }
}
