/// The write-side state: everything the decider needs, folded from the log by `evolve`.
/// Pure data; replaying the log from seq 1 reproduces it exactly.

public struct Plan: Sendable, Equatable {
    public var monthlyTokens: Int64
    public var maxPods: Int64
    public var maxMembers: Int64

    public static let builtIn: [ID: Plan] = [
        ID(trusted: "solo"): Plan(monthlyTokens: 500_000, maxPods: 1, maxMembers: 1),
        ID(trusted: "starter"): Plan(monthlyTokens: 2_000_000, maxPods: 5, maxMembers: 5),
        ID(trusted: "pro"): Plan(monthlyTokens: 10_000_000, maxPods: -1, maxMembers: -1),
        ID(trusted: "enterprise"): Plan(monthlyTokens: -1, maxPods: -1, maxMembers: -1),
    ]
}

public enum BucketSource: String, Sendable, CaseIterable {
    case allowance, bonus, topup

    /// Tie order at equal expiry: bonus, allowance, top-up (PROTOCOL §8).
    var tieRank: Int {
        switch self {
        case .bonus: 0
        case .allowance: 1
        case .topup: 2
        }
    }
}

/// A credit that can be spent: named by the seq of the event that credited it.
public struct Bucket: Sendable, Equatable {
    public var seq: UInt64
    public var source: BucketSource
    /// What is left to spend (escrowed tokens are not in it).
    public var amount: Int64
    /// nil for top-ups, which never expire.
    public var expiresAt: Instant?

    /// Spend order: soonest expiry first, ties bonus → allowance → top-up, then oldest first.
    public static func spendsBefore(_ a: Bucket, _ b: Bucket) -> Bool {
        switch (a.expiresAt, b.expiresAt) {
        case (let x?, let y?) where x != y: return x < y
        case (.some, nil): return true
        case (nil, .some): return false
        default:
            if a.source.tieRank != b.source.tieRank { return a.source.tieRank < b.source.tieRank }
            return a.seq < b.seq
        }
    }
}

public struct UserState: Sendable, Equatable {
    public var dailyLimit: Int64
    public var consumedToday: Int64 = 0
    public var consumedCycle: Int64 = 0
    /// Per-cycle cap on what the user may take from the pool; -1 = no cap.
    public var allocation: Int64 = -1
    public var held: Int64 = 0
    public var removed = false

    public init(dailyLimit: Int64) { self.dailyLimit = dailyLimit }

    /// What the user may still take this cycle; -1 when uncapped. Derived, so an assignment
    /// made mid-cycle counts what the user already consumed in it.
    public var allocationLeft: Int64 {
        allocation == -1 ? -1 : max(0, allocation - consumedCycle)
    }
}

/// A budget's standing in the current cycle (team monthly budget or pod budget).
public struct BudgetState: Sendable, Equatable {
    public var budget: Int64 = -1
    public var action: BudgetAction = .alert
    /// Committed consumption in the current cycle.
    public var used: Int64 = 0
    public var held: Int64 = 0
    /// `resume` lets the scope run past its budget until the cycle ends.
    public var resumed = false
    /// Alert percents already appended this cycle.
    public var alerted: Set<Int64> = []

    /// `pause`: paused while used ≥ budget, until resume, a raised budget or the next cycle.
    public var paused: Bool {
        action == .pause && budget != -1 && !resumed && used >= budget
    }

    /// Re-arms the percents above the current share (after a budget change).
    mutating func rearm() {
        guard budget > 0 else {
            alerted = []
            return
        }
        alerted = alerted.filter { Int128($0) * Int128(budget) <= Int128(used) * 100 }
    }
}

public struct PodState: Sendable, Equatable {
    public var budget = BudgetState()
    public var archived = false
    public var tasks: Set<ID> = []

    public var used: Int64 { budget.used }
}

/// An open hold: escrowed tokens, priced at the prices in force when it was placed.
public struct HoldState: Sendable, Equatable {
    public var seq: UInt64
    public var tags: UsageTags
    public var amount: Int64
    public var draws: [Draw]
    public var expiresAt: Instant
    public var price: PriceSpec?
}

public struct TeamState: Sendable, Equatable {
    public var id: ID
    public var plan: ID
    /// The plan's figures as they were at the start of this cycle.
    public var currentPlan: Plan = Plan(monthlyTokens: 0, maxPods: -1, maxMembers: -1)
    public var nextPlan: ID?
    public var timezone: String
    public var zone: ZoneCalendar
    public var dailyLimit: Int64
    public var cycleAnchor: Int64
    public var cycleStart: Instant
    public var cycleEnd: Instant
    public var unlimited: Bool = false
    public var consumedToday: Int64 = 0
    /// The local day the daily counters belong to.
    public var today: LocalDay
    /// Spendable buckets in spend order (empty ones are kept until they expire or lapse).
    public var buckets: [Bucket] = []
    public var overdraft: Int64 = 0
    public var users: [ID: UserState] = [:]
    public var pods: [ID: PodState] = [:]
    /// Tasks used without a pod: they belong to the team, known from their first use there
    /// (a pod's tasks are in its `PodState`).
    public var tasks: Set<ID> = []
    public var budget = BudgetState()
    public var alertAt: [Int64] = [50, 75, 90, 100]

    public var consumedCycle: Int64 { budget.used }
    /// Escrowed by open holds (one counter, kept in the team budget's standing).
    public var held: Int64 { budget.held }
    public var monthlyBudget: Int64 { budget.budget }
    public var budgetAction: BudgetAction { budget.action }
    public var paused: Bool { budget.paused }

    /// The pool's spendable sum; -1 when unlimited.
    public var available: Int64 {
        unlimited ? -1 : buckets.reduce(0) { $0 + $1.amount }
    }

    public var activeUsers: Int { users.values.reduce(0) { $0 + ($1.removed ? 0 : 1) } }
    public var activePods: Int { pods.values.reduce(0) { $0 + ($1.archived ? 0 : 1) } }

    mutating func insertBucket(_ b: Bucket) {
        let i = buckets.firstIndex(where: { Bucket.spendsBefore(b, $0) }) ?? buckets.count
        buckets.insert(b, at: i)
    }

    /// Takes draws out of their buckets (sign 1) or puts them back (sign -1). A draw whose
    /// bucket is gone (expired, lapsed) has nowhere to go back to: it lapses.
    /// Takes draws out of their buckets. Escrow committed from a bucket that expired while
    /// held was already out of it: nothing to take.
    mutating func takeDraws(_ draws: [Draw], at: Instant) {
        for d in draws {
            guard let i = buckets.firstIndex(where: { $0.seq == d.bucketSeq }) else { continue }
            if let x = buckets[i].expiresAt, x <= at { continue }
            buckets[i].amount -= d.amount
        }
    }

    /// Puts draws back into their buckets. A bucket that is gone or no longer spendable at
    /// `at` (expired) has nowhere to take them: they lapse.
    mutating func returnDraws(_ draws: [Draw], at: Instant) {
        for d in draws {
            guard let i = buckets.firstIndex(where: { $0.seq == d.bucketSeq }) else { continue }
            if let x = buckets[i].expiresAt, x <= at { continue }
            buckets[i].amount += d.amount
        }
    }

    /// Credits go to overdraft first; returns what is left for the bucket.
    mutating func repayOverdraft(_ amount: Int64) -> Int64 {
        let repay = min(overdraft, amount)
        overdraft -= repay
        return amount - repay
    }

    mutating func resetDaily(to day: LocalDay) {
        today = day
        consumedToday = 0
        for k in users.keys { users[k]!.consumedToday = 0 }
    }

    /// Brings the daily counters to `day` when the log moved past midnight without a reset
    /// (no reset is appended when every counter was already zero).
    mutating func rollDay(to day: LocalDay) {
        if day > today { resetDaily(to: day) }
    }

    /// Makes a usage's task known: to its pod, or to the team when it names no pod.
    mutating func noteTask(_ tags: UsageTags) {
        guard let task = tags.task else { return }
        if let pod = tags.pod {
            if let i = pods.index(forKey: pod) { pods.values[i].tasks.insert(task) }
        } else {
            tasks.insert(task)
        }
    }

    mutating func holdCounters(_ tags: UsageTags, _ amount: Int64) {
        budget.held += amount
        users[tags.user]?.held += amount
        if let pod = tags.pod { pods[pod]?.budget.held += amount }
    }
}

public struct LedgerState: Sendable, Equatable {
    public var head: UInt64 = 0
    public var lastTs = Instant(ms: 0)
    public var plans: [ID: Plan] = Plan.builtIn
    public var prices: [ID: PriceSpec] = [:]
    public var teams: [ID: TeamState] = [:]
    public var holds: [UInt64: HoldState] = [:]
    /// Seqs already reversed (all or part): an event is reversed once.
    public var reversed: Set<UInt64> = []

    public init() {}
}

// MARK: - evolve

extension LedgerState {
    /// Folds one event into the state. Events come from the decider or the log and are
    /// trusted: a violated expectation here is a bug (assert), not an operating error.
    public mutating func apply(_ e: Event) {
        precondition(e.seq == head + 1, "events apply in seq order without gaps")
        precondition(e.ts >= lastTs, "event time never goes back")
        head = e.seq
        lastTs = e.ts
        switch e.body {
        case .teamCreated(let team, let plan, let timezone, let dailyLimit, let anchor):
            let zone = ZoneCalendar(identifier: timezone)!
            teams[team] = TeamState(
                id: team, plan: plan, timezone: timezone, zone: zone, dailyLimit: dailyLimit, cycleAnchor: anchor,
                cycleStart: e.ts, cycleEnd: e.ts, today: zone.day(of: e.ts))
        case .teamConfigured(let team, let dailyLimit, let budget, let action, let alertAt, let plan):
            modifyTeam(team) { t in
                if let dailyLimit { t.dailyLimit = dailyLimit }
                if let action { t.budget.action = action }
                if let alertAt { t.alertAt = alertAt }
                if let plan { t.nextPlan = plan }
                if let budget {
                    t.budget.budget = budget
                    t.budget.rearm()
                    for k in t.pods.keys { t.pods[k]!.budget.rearm() }
                }
            }
        case .teamResumed(let team):
            modifyTeam(team) { $0.budget.resumed = true }
        case .podResumed(let team, let pod):
            modifyTeam(team) { $0.pods[pod]?.budget.resumed = true }
        case .userAdded(let team, let user, let dailyLimit):
            modifyTeam(team) { $0.users[user] = UserState(dailyLimit: dailyLimit) }
        case .userRemoved(let team, let user):
            modifyTeam(team) { $0.users[user]?.removed = true }
        case .userAssigned(let team, let user, let amount):
            modifyTeam(team) { $0.users[user]?.allocation = amount }
        case .podCreated(let team, let pod, let budget, let action):
            modifyTeam(team) { t in
                var p = PodState()
                p.budget.budget = budget
                p.budget.action = action
                t.pods[pod] = p
            }
        case .podConfigured(let team, let pod, let budget, let action):
            modifyTeam(team) { t in
                guard var p = t.pods[pod] else { return }
                let changed = p.budget.budget != budget
                p.budget.budget = budget
                p.budget.action = action
                if changed { p.budget.rearm() }
                t.pods[pod] = p
            }
        case .podArchived(let team, let pod, _, _):
            modifyTeam(team) { $0.pods[pod]?.archived = true }
        case .planDefined(let plan, let tokens, let pods, let members):
            plans[plan] = Plan(monthlyTokens: tokens, maxPods: pods, maxMembers: members)
        case .priceSet(let p):
            prices[p.model] = p
        case .topup(let team, let amount, _):
            modifyTeam(team) { t in
                let rest = t.repayOverdraft(amount)
                t.insertBucket(Bucket(seq: e.seq, source: .topup, amount: rest, expiresAt: nil))
            }
        case .bonusGranted(let team, let amount, _, let expiresAt):
            modifyTeam(team) { t in
                let rest = t.repayOverdraft(amount)
                t.insertBucket(Bucket(seq: e.seq, source: .bonus, amount: rest, expiresAt: expiresAt))
            }
        case .cycleStarted(let team, let plan, let allowance, let start, let end, _):
            let figures = plans[plan]
            modifyTeam(team) { t in
                // Unused allowance lapses; spent-out expired bonuses go with it.
                t.buckets.removeAll { $0.source == .allowance || ($0.expiresAt.map { $0 <= start } ?? false) }
                t.plan = plan
                t.currentPlan = figures ?? t.currentPlan
                t.nextPlan = nil
                t.cycleStart = start
                t.cycleEnd = end
                t.budget.used = 0
                t.budget.resumed = false
                t.budget.alerted = []
                for k in t.pods.keys {
                    t.pods[k]!.budget.used = 0
                    t.pods[k]!.budget.resumed = false
                    t.pods[k]!.budget.alerted = []
                }
                for k in t.users.keys { t.users[k]!.consumedCycle = 0 }
                t.unlimited = allowance == -1
                if allowance > 0 {
                    let rest = t.repayOverdraft(allowance)
                    t.insertBucket(Bucket(seq: e.seq, source: .allowance, amount: rest, expiresAt: end))
                } else if allowance == -1 {
                    t.overdraft = 0
                }
            }
        case .dailyReset(let team, let user, let day, let manual):
            modifyTeam(team) { t in
                if let user {
                    t.users[user]?.consumedToday = 0
                } else if manual {
                    t.consumedToday = 0
                    for k in t.users.keys { t.users[k]!.consumedToday = 0 }
                } else {
                    t.resetDaily(to: day)
                }
            }
        case .bonusExpired(let team, let bonusSeq, _):
            modifyTeam(team) { $0.buckets.removeAll { $0.seq == bonusSeq } }
        case .consumed(let c):
            modifyTeam(c.tags.team) { t in
                t.rollDay(to: c.day)
                t.takeDraws(c.draws, at: e.ts)
                t.overdraft += c.overdraft
                t.countConsumption(c.tags, cost: c.cost)
            }
        case .holdPlaced(let h):
            let price = prices[h.tags.model]
            holds[e.seq] = HoldState(
                seq: e.seq, tags: h.tags, amount: h.amount, draws: h.draws, expiresAt: h.expiresAt, price: price)
            modifyTeam(h.tags.team) { t in
                t.takeDraws(h.draws, at: e.ts)
                t.holdCounters(h.tags, h.amount)
                t.noteTask(h.tags)
            }
        case .holdCommitted(let c):
            guard let hold = holds.removeValue(forKey: c.holdSeq) else {
                preconditionFailure("commit of a closed hold")
            }
            modifyTeam(c.tags.team) { t in
                t.rollDay(to: c.day)
                t.holdCounters(hold.tags, -hold.amount)
                // All escrow goes back first (to a bucket that is gone: it lapses); then the
                // cost's draws come out, the escrowed part first.
                t.returnDraws(hold.draws, at: e.ts)
                t.takeDraws(c.draws, at: e.ts)
                t.overdraft += c.overdraft
                t.countConsumption(c.tags, cost: c.cost)
            }
        case .holdReleased(let holdSeq, let team, _), .holdExpired(let holdSeq, let team, _):
            guard let hold = holds.removeValue(forKey: holdSeq) else { preconditionFailure("release of a closed hold") }
            modifyTeam(team) { t in
                t.holdCounters(hold.tags, -hold.amount)
                t.returnDraws(hold.draws, at: e.ts)
            }
        case .budgetAlert(let team, let scope, let pod, let percent, _, _):
            modifyTeam(team) { t in
                if scope == "pod", let pod {
                    t.pods[pod]?.budget.alerted.insert(percent)
                } else {
                    t.budget.alerted.insert(percent)
                }
            }
        case .reversed(let r):
            reversed.insert(r.reversesSeq)
            modifyTeam(r.team) { t in
                t.returnDraws(r.restored, at: e.ts)
                if let origin = r.origin {
                    t.uncount(origin, amount: r.amount, reversalSeq: e.seq)
                } else {
                    // A credit loses its unspent part.
                    if let i = t.buckets.firstIndex(where: { $0.seq == r.reversesSeq }) {
                        t.buckets[i].amount -= r.amount
                    }
                }
            }
        }
    }

    private mutating func modifyTeam(_ id: ID, _ body: (inout TeamState) -> Void) {
        guard let i = teams.index(forKey: id) else { preconditionFailure("event for unknown team \(id)") }
        // Mutates in the dictionary's slot: no copy of the team, one hash.
        body(&teams.values[i])
    }
}

extension TeamState {
    mutating func countConsumption(_ tags: UsageTags, cost: Int64) {
        consumedToday += cost
        budget.used += cost
        // In the dictionaries' slots: one hash each, no copy.
        if let i = users.index(forKey: tags.user) {
            users.values[i].consumedToday += cost
            users.values[i].consumedCycle += cost
        }
        if let pod = tags.pod, let i = pods.index(forKey: pod) { pods.values[i].budget.used += cost }
        noteTask(tags)
    }

    /// Takes a reversed amount back out of the counters of the original's day and cycle.
    /// No counter goes below 0 (PROTOCOL §5): a manual `reset` may have zeroed a counter the
    /// original was counted in, and the reversal then lowers it to 0 and no further.
    mutating func uncount(_ origin: Reversal.Origin, amount: Int64, reversalSeq: UInt64) {
        precondition(amount >= 0, "a reversal takes a non-negative amount")
        func lower(_ counter: inout Int64) { counter = max(0, counter - amount) }
        if origin.uncountDay { lower(&consumedToday) }
        if origin.uncountCycle { lower(&budget.used) }
        if var u = users[origin.user] {
            if origin.uncountDay { lower(&u.consumedToday) }
            if origin.uncountCycle { lower(&u.consumedCycle) }
            users[origin.user] = u
        }
        if origin.uncountCycle, let pod = origin.pod, pods[pod] != nil { lower(&pods[pod]!.budget.used) }
        let overdraftPart = origin.overdraft
        // The overdraft part reduces the overdraft; what was already repaid of it comes back
        // as a top-up bucket named by the reversal.
        let reduce = min(overdraft, overdraftPart)
        overdraft -= reduce
        if overdraftPart > reduce {
            insertBucket(Bucket(seq: reversalSeq, source: .topup, amount: overdraftPart - reduce, expiresAt: nil))
        }
    }
}
