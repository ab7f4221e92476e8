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

    public init() {}

    init(budget: Int64, action: BudgetAction) {
        self.budget.budget = budget
        self.budget.action = action
    }

    public var used: Int64 { budget.used }

    /// `pod_configured`: a changed budget re-arms the alert percents above the new share.
    mutating func configure(budget newBudget: Int64, action: BudgetAction) {
        let changed = budget.budget != newBudget
        budget.budget = newBudget
        budget.action = action
        if changed { budget.rearm() }
    }
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
