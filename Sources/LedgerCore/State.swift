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
    public var removed = false

    /// What the user may still take this cycle; -1 when uncapped. Derived, so an assignment
    /// made mid-cycle counts what the user already consumed in it.
    public var allocationLeft: Int64 {
        allocation == -1 ? -1 : max(0, allocation - consumedCycle)
    }
}

public struct PodState: Sendable, Equatable {
    public var budget: Int64
    public var budgetAction: BudgetAction
    public var archived = false
    /// Committed consumption in the current cycle.
    public var used: Int64 = 0
    public var tasks: Set<ID> = []
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
    public var consumedCycle: Int64 = 0
    public var consumedToday: Int64 = 0
    /// The local day the daily counters belong to.
    public var today: LocalDay
    /// Spendable buckets in spend order (empty ones are kept until they expire or lapse).
    public var buckets: [Bucket] = []
    public var overdraft: Int64 = 0
    public var held: Int64 = 0
    public var users: [ID: UserState] = [:]
    public var pods: [ID: PodState] = [:]
    public var monthlyBudget: Int64 = -1
    public var budgetAction: BudgetAction = .alert
    public var alertAt: [Int64] = [50, 75, 90, 100]
    public var paused = false

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

    mutating func applyDraws(_ draws: [Draw], sign: Int64) {
        for d in draws {
            guard let i = buckets.firstIndex(where: { $0.seq == d.bucketSeq }) else { continue }
            buckets[i].amount -= sign * d.amount
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
}

public struct LedgerState: Sendable, Equatable {
    public var head: UInt64 = 0
    public var lastTs = Instant(ms: 0)
    public var plans: [ID: Plan] = Plan.builtIn
    public var prices: [ID: PriceSpec] = [:]
    public var teams: [ID: TeamState] = [:]

    public init() {}

    public func plan(_ id: ID) -> Plan? { plans[id] }
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
                if let budget { t.monthlyBudget = budget }
                if let action { t.budgetAction = action }
                if let alertAt { t.alertAt = alertAt }
                if let plan { t.nextPlan = plan }
            }
        case .teamResumed(let team):
            modifyTeam(team) { $0.paused = false }
        case .podResumed:
            break
        case .userAdded(let team, let user, let dailyLimit):
            modifyTeam(team) { $0.users[user] = UserState(dailyLimit: dailyLimit) }
        case .userRemoved(let team, let user):
            modifyTeam(team) { $0.users[user]?.removed = true }
        case .userAssigned(let team, let user, let amount):
            modifyTeam(team) { $0.users[user]?.allocation = amount }
        case .podCreated(let team, let pod, let budget, let action):
            modifyTeam(team) { $0.pods[pod] = PodState(budget: budget, budgetAction: action) }
        case .podConfigured(let team, let pod, let budget, let action):
            modifyTeam(team) { t in
                t.pods[pod]?.budget = budget
                t.pods[pod]?.budgetAction = action
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
                t.buckets.removeAll { $0.source == .allowance }
                t.plan = plan
                t.currentPlan = figures ?? t.currentPlan
                t.nextPlan = nil
                t.cycleStart = start
                t.cycleEnd = end
                t.consumedCycle = 0
                t.paused = false
                for k in t.pods.keys { t.pods[k]!.used = 0 }
                for k in t.users.keys { t.users[k]!.consumedCycle = 0 }
                t.unlimited = allowance == -1
                if allowance > 0 {
                    let rest = t.repayOverdraft(allowance)
                    t.insertBucket(Bucket(seq: e.seq, source: .allowance, amount: rest, expiresAt: end))
                } else if allowance == -1 {
                    t.overdraft = 0
                }
            }
        case .dailyReset(let team, let user, let day, _):
            modifyTeam(team) { t in
                if let user {
                    t.users[user]?.consumedToday = 0
                } else {
                    t.resetDaily(to: day)
                }
            }
        case .bonusExpired(let team, let bonusSeq, _):
            modifyTeam(team) { $0.buckets.removeAll { $0.seq == bonusSeq } }
        case .consumed(let c):
            modifyTeam(c.tags.team) { t in
                t.rollDay(to: c.day)
                t.applyDraws(c.draws, sign: 1)
                t.overdraft += c.overdraft
                t.countConsumption(c.tags, cost: c.cost)
            }
        case .holdPlaced, .holdCommitted, .holdReleased, .holdExpired, .budgetAlert, .reversed:
            // Their rules land with the money rules (issue 3); the core only stores them.
            break
        }
    }

    private mutating func modifyTeam(_ id: ID, _ body: (inout TeamState) -> Void) {
        guard var t = teams.removeValue(forKey: id) else {
            preconditionFailure("event for unknown team \(id)")
        }
        body(&t)
        teams[id] = t
    }
}

extension TeamState {
    mutating func countConsumption(_ tags: UsageTags, cost: Int64) {
        consumedToday += cost
        consumedCycle += cost
        if var u = users[tags.user] {
            u.consumedToday += cost
            u.consumedCycle += cost
            users[tags.user] = u
        }
        if let pod = tags.pod, var p = pods[pod] {
            p.used += cost
            if let task = tags.task { p.tasks.insert(task) }
            pods[pod] = p
        }
    }
}
