/// Commands: what a request asks to append. `decide` is pure: the same command against the
/// same state at the same instant gives the same events or the same rejection.

public struct ConsumeCommand: Sendable, Equatable {
    public var tags: UsageTags
    public var usage: Usage
    public var cost: Int64?
    public var record: Bool
    public init(tags: UsageTags, usage: Usage, cost: Int64?, record: Bool) {
        self.tags = tags
        self.usage = usage
        self.cost = cost
        self.record = record
    }
}

public enum Command: Sendable, Equatable {
    case teamCreate(team: ID, plan: ID?, timezone: String?, dailyLimit: Int64?)
    case userAdd(team: ID, user: ID, dailyLimit: Int64?)
    case podCreate(team: ID, pod: ID, budget: Int64?, budgetAction: BudgetAction?)
    case planDefine(plan: ID, monthlyTokens: Int64, maxPods: Int64, maxMembers: Int64)
    case priceSet(PriceSpec)
    case topup(team: ID, amount: Int64, package: String?)
    case consume(ConsumeCommand)
}

public struct DecideContext: Sendable {
    public var now: Instant
    public var defaultDailyLimit: Int64
    public init(now: Instant, defaultDailyLimit: Int64 = -1) {
        self.now = now
        self.defaultDailyLimit = defaultDailyLimit
    }
}

public enum Decider {
    public static func decide(_ command: Command, state s: LedgerState, context ctx: DecideContext) -> Result<
        [EventBody], Rejection
    > {
        switch command {
        case .teamCreate(let team, let plan, let timezone, let dailyLimit):
            if s.teams[team] != nil { return .failure(.alreadyExists("team \(team) exists")) }
            let planID = plan ?? ID(trusted: "solo")
            guard let p = s.plans[planID] else { return .failure(.notFound("plan \(planID) is not defined")) }
            let tz = timezone ?? "UTC"
            guard let zone = ZoneCalendar(identifier: tz) else {
                return .failure(.badRequest("unknown timezone \"\(tz)\" (use an IANA name like Europe/Madrid)"))
            }
            let anchor = Int64(zone.day(of: ctx.now).day)
            let end = zone.nextCycleStart(after: ctx.now, anchor: Int(anchor))
            return .success([
                .teamCreated(
                    team: team, plan: planID, timezone: zone.identifier, dailyLimit: dailyLimit ?? ctx.defaultDailyLimit,
                    cycleAnchor: anchor),
                .cycleStarted(
                    team: team, plan: planID, allowance: p.monthlyTokens, cycleStart: ctx.now, cycleEnd: end, lapsed: 0),
            ])

        case .userAdd(let team, let user, let dailyLimit):
            guard let t = s.teams[team] else { return .failure(teamNotFound(team)) }
            if t.users[user] != nil { return .failure(.alreadyExists("user \(user) exists in team \(team)")) }
            let limits = t.planLimits
            if limits.maxMembers != -1 && Int64(t.activeUsers) >= limits.maxMembers {
                return .failure(
                    Rejection(.planLimit, "plan \(t.plan) allows \(limits.maxMembers) member(s)", scope: .plan))
            }
            return .success([.userAdded(team: team, user: user, dailyLimit: dailyLimit ?? -1)])

        case .podCreate(let team, let pod, let budget, let action):
            guard let t = s.teams[team] else { return .failure(teamNotFound(team)) }
            if t.pods[pod] != nil { return .failure(.alreadyExists("pod \(pod) exists in team \(team)")) }
            let limits = t.planLimits
            if limits.maxPods != -1 && Int64(t.activePods) >= limits.maxPods {
                return .failure(Rejection(.planLimit, "plan \(t.plan) allows \(limits.maxPods) pod(s)", scope: .plan))
            }
            return .success([.podCreated(team: team, pod: pod, budget: budget ?? -1, budgetAction: action ?? .alert)])

        case .planDefine(let plan, let tokens, let pods, let members):
            return .success([.planDefined(plan: plan, monthlyTokens: tokens, maxPods: pods, maxMembers: members)])

        case .priceSet(let spec):
            return .success([.priceSet(spec)])

        case .topup(let team, let amount, let package):
            guard s.teams[team] != nil else { return .failure(teamNotFound(team)) }
            return .success([.topup(team: team, amount: amount, package: package)])

        case .consume(let c):
            switch price(c, state: s) {
            case .failure(let r): return .failure(r)
            case .success(let cost):
                guard let t = s.teams[c.tags.team] else { return .failure(teamNotFound(c.tags.team)) }
                if !c.record, let refusal = Limits.check(team: t, tags: c.tags, cost: cost) {
                    return .failure(refusal)
                }
                let (draws, overdraft) = Limits.draws(team: t, cost: cost)
                precondition(c.record || overdraft == 0, "a checked consume never overdraws")
                return .success([
                    .consumed(
                        Consumption(
                            tags: c.tags, inputTokens: c.usage.inputTokens, outputTokens: c.usage.outputTokens,
                            params: c.usage.params, cost: cost, day: t.zone.day(of: ctx.now), draws: draws,
                            overdraft: overdraft, record: c.record))
                ])
            }
        }
    }

    static func teamNotFound(_ team: ID) -> Rejection { .notFound("team \(team) not found") }

    /// Validates who and what a usage names, then prices it (the given `cost` wins).
    public static func price(_ c: ConsumeCommand, state s: LedgerState) -> Result<Int64, Rejection> {
        guard let t = s.teams[c.tags.team] else { return .failure(teamNotFound(c.tags.team)) }
        guard let u = t.users[c.tags.user], !u.removed else {
            return .failure(.notFound("user \(c.tags.user) not found in team \(c.tags.team)"))
        }
        if let pod = c.tags.pod {
            guard let p = t.pods[pod], !p.archived else {
                return .failure(.notFound("pod \(pod) not found in team \(c.tags.team)"))
            }
        }
        if let cost = c.cost { return .success(cost) }
        guard let spec = s.prices[c.tags.model] else {
            return .failure(.notFound("model \(c.tags.model) has no price (give \"cost\" or price.set it)"))
        }
        return Pricing.cost(c.usage, at: spec).map(\.cost)
    }
}

extension TeamState {
    /// The plan's limits as they stand this cycle (a redefined plan applies from the next one).
    public var planLimits: Plan { currentPlan }
}

/// The checks of PROTOCOL §8, in order, and the spend order of buckets.
public enum Limits {
    /// The first limit that refuses `cost`, or nil. Reaching a limit exactly is allowed.
    public static func check(team t: TeamState, tags: UsageTags, cost: Int64) -> Rejection? {
        if t.monthlyBudget != -1 {
            switch t.budgetAction {
            case .alert: break
            case .pause:
                if t.paused || t.consumedCycle + cost > t.monthlyBudget {
                    return Rejection(.budgetExceeded, "team \(t.id) would pass its monthly budget", scope: .teamBudget)
                }
            case .blockNewTasks:
                if !isKnownTask(t, tags) && t.consumedCycle + t.held + cost > t.monthlyBudget {
                    return Rejection(
                        .budgetExceeded, "team \(t.id) budget blocks new tasks", scope: .teamBudget)
                }
            }
        }
        if let podID = tags.pod, let p = t.pods[podID], p.budget != -1 {
            switch p.budgetAction {
            case .alert: break
            case .pause:
                if p.used + cost > p.budget {
                    return Rejection(.budgetExceeded, "pod \(podID) would pass its budget", scope: .podBudget)
                }
            case .blockNewTasks:
                if !isKnownTask(t, tags) && p.used + cost > p.budget {
                    return Rejection(.budgetExceeded, "pod \(podID) budget blocks new tasks", scope: .podBudget)
                }
            }
        }
        if t.dailyLimit != -1 && t.consumedToday + cost > t.dailyLimit {
            return Rejection(
                .dailyLimitExceeded,
                "team \(t.id) would pass its daily limit (\(t.consumedToday) + \(cost) > \(t.dailyLimit))",
                scope: .teamDaily)
        }
        if let u = t.users[tags.user] {
            if u.dailyLimit != -1 && u.consumedToday + cost > u.dailyLimit {
                return Rejection(
                    .dailyLimitExceeded,
                    "user \(tags.user) would pass its daily limit (\(u.consumedToday) + \(cost) > \(u.dailyLimit))",
                    scope: .userDaily)
            }
            if u.allocation != -1 && cost > u.allocationLeft {
                return Rejection(
                    .insufficientTokens, "user \(tags.user) has \(u.allocationLeft) of its allocation left",
                    scope: .allocation)
            }
        }
        if !t.unlimited {
            let available = t.available
            if cost > available {
                return Rejection(
                    .insufficientTokens, "team \(t.id) has \(available) tokens available, \(cost) needed", scope: .pool)
            }
        }
        return nil
    }

    static func isKnownTask(_ t: TeamState, _ tags: UsageTags) -> Bool {
        guard let task = tags.task, let pod = tags.pod, let p = t.pods[pod] else { return false }
        return p.tasks.contains(task)
    }

    /// Takes `cost` from the buckets in spend order; what they cannot cover is overdraft.
    /// An unlimited pool never draws.
    public static func draws(team t: TeamState, cost: Int64) -> (draws: [Draw], overdraft: Int64) {
        if t.unlimited { return ([], 0) }
        var left = cost
        var out: [Draw] = []
        for b in t.buckets where left > 0 && b.amount > 0 {
            let take = min(b.amount, left)
            out.append(Draw(bucketSeq: b.seq, amount: take))
            left -= take
        }
        return (out, left)
    }
}
