/// The ledger's events: the storage format. Past tense, versioned (`v`), never renamed.
/// The JSON form of an event is exactly what `audit` returns; its RFC 8785 bytes without
/// `hash` are what the hash chain covers (PROTOCOL §6).

public enum BudgetAction: String, Sendable, CaseIterable {
    case alert, pause
    case blockNewTasks = "block_new_tasks"
}

public enum BonusReason: String, Sendable, CaseIterable {
    case gift, referral, event, loyalty, other
}

public enum PriceKind: String, Sendable, CaseIterable {
    case text, image, video, audio
}

/// One part of a charge taken from one bucket (named by the seq that credited it).
public struct Draw: Sendable, Equatable {
    public var bucketSeq: UInt64
    public var amount: Int64
    public init(bucketSeq: UInt64, amount: Int64) {
        self.bucketSeq = bucketSeq
        self.amount = amount
    }
}

/// What a usage record says about who used what (shared by consumes, holds and commits).
public struct UsageTags: Sendable, Equatable {
    public var team: ID
    public var user: ID
    public var pod: ID?
    public var task: ID?
    public var model: ID
    public var operation: String?
    public init(team: ID, user: ID, pod: ID? = nil, task: ID? = nil, model: ID, operation: String? = nil) {
        self.team = team
        self.user = user
        self.pod = pod
        self.task = task
        self.model = model
        self.operation = operation
    }
}

/// A model's price as stored in a `price_set` event: weights and factors in thousandths.
public struct PriceSpec: Sendable, Equatable {
    public var model: ID
    public var kind: PriceKind
    public var inputWeightMilli: Int64 = 1000
    public var outputWeightMilli: Int64 = 1000
    public var base: Int64 = 0
    /// param → value → multiplier in thousandths.
    public var factorsMilli: [String: [String: Int64]] = [:]
    /// 0 when steps add nothing.
    public var perSteps: Int64 = 0

    public init(model: ID, kind: PriceKind) {
        self.model = model
        self.kind = kind
    }
}

public struct Consumption: Sendable, Equatable {
    public var tags: UsageTags
    public var inputTokens: Int64?
    public var outputTokens: Int64?
    public var params: JSONObject?
    public var cost: Int64
    public var day: LocalDay
    public var draws: [Draw]
    public var overdraft: Int64
    public var record: Bool
    public init(
        tags: UsageTags, inputTokens: Int64?, outputTokens: Int64?, params: JSONObject?, cost: Int64,
        day: LocalDay, draws: [Draw], overdraft: Int64, record: Bool
    ) {
        self.tags = tags
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.params = params
        self.cost = cost
        self.day = day
        self.draws = draws
        self.overdraft = overdraft
        self.record = record
    }
}

public struct HoldPlacement: Sendable, Equatable {
    public var tags: UsageTags
    public var amount: Int64
    public var expiresAt: Instant
    public var draws: [Draw]
}

public struct HoldCommitment: Sendable, Equatable {
    public var holdSeq: UInt64
    public var tags: UsageTags
    public var inputTokens: Int64?
    public var outputTokens: Int64?
    public var cost: Int64
    public var day: LocalDay
    public var draws: [Draw]
    public var overdraft: Int64
    public var released: Int64
}

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

public enum EventBody: Sendable, Equatable {
    case teamCreated(team: ID, plan: ID, timezone: String, dailyLimit: Int64, cycleAnchor: Int64)
    case teamConfigured(
        team: ID, dailyLimit: Int64?, monthlyBudget: Int64?, budgetAction: BudgetAction?, alertAt: [Int64]?,
        plan: ID?)
    case teamResumed(team: ID)
    case podResumed(team: ID, pod: ID)
    case userAdded(team: ID, user: ID, dailyLimit: Int64)
    case userRemoved(team: ID, user: ID)
    case userAssigned(team: ID, user: ID, amount: Int64)
    case podCreated(team: ID, pod: ID, budget: Int64, budgetAction: BudgetAction)
    case podConfigured(team: ID, pod: ID, budget: Int64, budgetAction: BudgetAction)
    case podArchived(team: ID, pod: ID, budget: Int64, budgetAction: BudgetAction)
    case planDefined(plan: ID, monthlyTokens: Int64, maxPods: Int64, maxMembers: Int64)
    case priceSet(PriceSpec)
    case topup(team: ID, amount: Int64, package: String?)
    case bonusGranted(team: ID, amount: Int64, reason: BonusReason, expiresAt: Instant?)
    case cycleStarted(team: ID, plan: ID, allowance: Int64, cycleStart: Instant, cycleEnd: Instant, lapsed: Int64)
    case dailyReset(team: ID, user: ID?, day: LocalDay, manual: Bool)
    case bonusExpired(team: ID, bonusSeq: UInt64, amount: Int64)
    case consumed(Consumption)
    case holdPlaced(HoldPlacement)
    case holdCommitted(HoldCommitment)
    case holdReleased(holdSeq: UInt64, team: ID, released: Int64)
    case holdExpired(holdSeq: UInt64, team: ID, released: Int64)
    case budgetAlert(team: ID, scope: String, pod: ID?, percent: Int64, used: Int64, budget: Int64)
    case reversed(Reversal)

    public static let allTypes: [String] = [
        "team_created", "team_configured", "team_resumed", "pod_resumed", "user_added", "user_removed",
        "user_assigned", "pod_created", "pod_configured", "pod_archived", "plan_defined", "price_set", "topup",
        "bonus_granted", "cycle_started", "daily_reset", "bonus_expired", "consumed", "hold_placed",
        "hold_committed", "hold_released", "hold_expired", "budget_alert", "reversed",
    ]

    public var type: String {
        switch self {
        case .teamCreated: "team_created"
        case .teamConfigured: "team_configured"
        case .teamResumed: "team_resumed"
        case .podResumed: "pod_resumed"
        case .userAdded: "user_added"
        case .userRemoved: "user_removed"
        case .userAssigned: "user_assigned"
        case .podCreated: "pod_created"
        case .podConfigured: "pod_configured"
        case .podArchived: "pod_archived"
        case .planDefined: "plan_defined"
        case .priceSet: "price_set"
        case .topup: "topup"
        case .bonusGranted: "bonus_granted"
        case .cycleStarted: "cycle_started"
        case .dailyReset: "daily_reset"
        case .bonusExpired: "bonus_expired"
        case .consumed: "consumed"
        case .holdPlaced: "hold_placed"
        case .holdCommitted: "hold_committed"
        case .holdReleased: "hold_released"
        case .holdExpired: "hold_expired"
        case .budgetAlert: "budget_alert"
        case .reversed: "reversed"
        }
    }

    /// The team an event belongs to; nil for global events (plans, prices).
    public var team: ID? {
        switch self {
        case .teamCreated(let t, _, _, _, _), .teamConfigured(let t, _, _, _, _, _), .teamResumed(let t),
            .podResumed(let t, _), .userAdded(let t, _, _), .userRemoved(let t, _), .userAssigned(let t, _, _),
            .podCreated(let t, _, _, _), .podConfigured(let t, _, _, _), .podArchived(let t, _, _, _),
            .topup(let t, _, _), .bonusGranted(let t, _, _, _), .cycleStarted(let t, _, _, _, _, _),
            .dailyReset(let t, _, _, _), .bonusExpired(let t, _, _), .holdReleased(_, let t, _),
            .holdExpired(_, let t, _), .budgetAlert(let t, _, _, _, _, _):
            return t
        case .consumed(let c): return c.tags.team
        case .holdPlaced(let h): return h.tags.team
        case .holdCommitted(let h): return h.tags.team
        case .reversed(let r): return r.team
        case .planDefined, .priceSet: return nil
        }
    }

    /// Usage tags for filters (audit by pod, model, task, user).
    public var tags: UsageTags? {
        switch self {
        case .consumed(let c): return c.tags
        case .holdPlaced(let h): return h.tags
        case .holdCommitted(let h): return h.tags
        default: return nil
        }
    }
}

/// An event with its place in the log.
public struct Event: Sendable, Equatable {
    public static let version: Int64 = 1

    public var seq: UInt64
    public var ts: Instant
    public var key: String?
    public var body: EventBody

    public init(seq: UInt64, ts: Instant, key: String? = nil, body: EventBody) {
        self.seq = seq
        self.ts = ts
        self.key = key
        self.body = body
    }
}

// MARK: - JSON form

extension Event {
    /// The event object as `audit` returns it, with `hash` when given.
    public func json(hash: String? = nil) -> JSONObject {
        var o = JSONObject()
        o.members.reserveCapacity(20)
        o.members.append(("seq", .int(seq)))
        o.members.append(("ts", .string(ts.rfc3339)))
        o.members.append(("type", .string(body.type)))
        o.members.append(("v", .int(Event.version)))
        if let key { o.members.append(("key", .string(key))) }
        body.appendFields(to: &o)
        if let hash { o.members.append(("hash", .string(hash))) }
        return o
    }

    /// Reads an event back from its JSON form (as stored or exported). `hash` is ignored.
    public init(json o: JSONObject) throws(Rejection) {
        var f = Fields(o)
        let seq = try f.seq("seq")
        let ts = try f.instant("ts")
        let type = try f.string("type")
        let v = try f.int("v", in: 1...1)
        precondition(v == Event.version)
        let key = try f.optionalString("key")
        f.markUsed("hash")
        let body = try EventBody(type: type, fields: &f)
        try f.rejectUnknown()
        self.init(seq: seq, ts: ts, key: key, body: body)
    }
}

private func drawsJSON(_ draws: [Draw]) -> JSON {
    .array(draws.map { .object(["bucket_seq": .int($0.bucketSeq), "amount": .int($0.amount)]) })
}

private func readDraws(_ f: inout Fields, _ name: String) throws(Rejection) -> [Draw] {
    guard let arr = try f.optionalArray(name) else { throw .badRequest("missing field \"\(name)\"") }
    var out: [Draw] = []
    for item in arr {
        guard case .object(let o) = item else { throw .badRequest("\"\(name)\" items must be objects") }
        var d = Fields(o)
        out.append(Draw(bucketSeq: try d.seq("bucket_seq"), amount: try d.amount("amount")))
        try d.rejectUnknown()
    }
    return out
}

private func reversalOrigin(_ f: inout Fields) throws(Rejection) -> Reversal.Origin? {
    guard let user = try f.optionalID("user") else { return nil }
    return Reversal.Origin(
        user: user, pod: try f.optionalID("pod"), overdraft: try f.amount("overdraft"),
        uncountDay: try f.bool("uncount_day"), uncountCycle: try f.bool("uncount_cycle"))
}

extension UsageTags {
    fileprivate func append(to o: inout JSONObject) {
        o.members.append(("team", .string(team.string)))
        o.members.append(("user", .string(user.string)))
        if let pod { o.members.append(("pod", .string(pod.string))) }
        if let task { o.members.append(("task", .string(task.string))) }
        o.members.append(("model", .string(model.string)))
        if let operation { o.members.append(("operation", .string(operation))) }
    }

    fileprivate init(_ f: inout Fields) throws(Rejection) {
        self.init(
            team: try f.id("team"), user: try f.id("user"), pod: try f.optionalID("pod"),
            task: try f.optionalID("task"),
            model: try f.id("model"), operation: try f.optionalString("operation"))
    }
}

extension EventBody {
    fileprivate func appendFields(to o: inout JSONObject) {
        func put(_ k: String, _ v: JSON) { o.members.append((k, v)) }
        func put(_ k: String, _ id: ID) { o.members.append((k, .string(id.string))) }
        func put(_ k: String, _ n: Int64) { o.members.append((k, .int(n))) }
        switch self {
        case .teamCreated(let team, let plan, let timezone, let dailyLimit, let anchor):
            put("team", team)
            put("plan", plan)
            put("timezone", .string(timezone))
            put("daily_limit", dailyLimit)
            put("cycle_anchor", anchor)
        case .teamConfigured(let team, let dailyLimit, let budget, let action, let alertAt, let plan):
            put("team", team)
            if let dailyLimit { put("daily_limit", dailyLimit) }
            if let budget { put("monthly_budget", budget) }
            if let action { put("budget_action", .string(action.rawValue)) }
            if let alertAt { put("alert_at", .array(alertAt.map { .int($0) })) }
            if let plan { put("plan", plan) }
        case .teamResumed(let team):
            put("team", team)
        case .podResumed(let team, let pod):
            put("team", team)
            put("pod", pod)
        case .userAdded(let team, let user, let dailyLimit):
            put("team", team)
            put("user", user)
            put("daily_limit", dailyLimit)
        case .userRemoved(let team, let user):
            put("team", team)
            put("user", user)
        case .userAssigned(let team, let user, let amount):
            put("team", team)
            put("user", user)
            put("amount", amount)
        case .podCreated(let team, let pod, let budget, let action),
            .podConfigured(let team, let pod, let budget, let action),
            .podArchived(let team, let pod, let budget, let action):
            put("team", team)
            put("pod", pod)
            put("budget", budget)
            put("budget_action", .string(action.rawValue))
        case .planDefined(let plan, let tokens, let pods, let members):
            put("plan", plan)
            put("monthly_tokens", tokens)
            put("max_pods", pods)
            put("max_members", members)
        case .priceSet(let p):
            put("model", p.model)
            put("kind", .string(p.kind.rawValue))
            if p.kind == .text {
                put("input_weight_milli", p.inputWeightMilli)
                put("output_weight_milli", p.outputWeightMilli)
            } else {
                put("base", p.base)
                var factors = JSONObject()
                for (param, values) in p.factorsMilli.sorted(by: { $0.key < $1.key }) {
                    var vo = JSONObject()
                    for (value, milli) in values.sorted(by: { $0.key < $1.key }) {
                        vo.members.append((value, .int(milli)))
                    }
                    factors.members.append((param, .object(vo)))
                }
                put("factors_milli", .object(factors))
                put("per_steps", p.perSteps)
            }
        case .topup(let team, let amount, let package):
            put("team", team)
            put("amount", amount)
            if let package { put("package", .string(package)) }
        case .bonusGranted(let team, let amount, let reason, let expiresAt):
            put("team", team)
            put("amount", amount)
            put("reason", .string(reason.rawValue))
            if let expiresAt { put("expires_at", .string(expiresAt.rfc3339)) }
        case .cycleStarted(let team, let plan, let allowance, let start, let end, let lapsed):
            put("team", team)
            put("plan", plan)
            put("allowance", allowance)
            put("cycle_start", .string(start.rfc3339))
            put("cycle_end", .string(end.rfc3339))
            put("lapsed", lapsed)
        case .dailyReset(let team, let user, let day, let manual):
            put("team", team)
            if let user { put("user", user) }
            put("day", .string(day.description))
            put("manual", .bool(manual))
        case .bonusExpired(let team, let bonusSeq, let amount):
            put("team", team)
            put("bonus_seq", .int(bonusSeq))
            put("amount", amount)
        case .consumed(let c):
            c.tags.append(to: &o)
            if let i = c.inputTokens { put("input_tokens", i) }
            if let out = c.outputTokens { put("output_tokens", out) }
            if let params = c.params { put("params", .object(params)) }
            put("cost", c.cost)
            put("day", .string(c.day.description))
            put("draws", drawsJSON(c.draws))
            put("overdraft", c.overdraft)
            put("record", .bool(c.record))
        case .holdPlaced(let h):
            h.tags.append(to: &o)
            put("amount", h.amount)
            put("expires_at", .string(h.expiresAt.rfc3339))
            put("draws", drawsJSON(h.draws))
        case .holdCommitted(let h):
            put("hold_seq", .int(h.holdSeq))
            h.tags.append(to: &o)
            if let i = h.inputTokens { put("input_tokens", i) }
            if let out = h.outputTokens { put("output_tokens", out) }
            put("cost", h.cost)
            put("day", .string(h.day.description))
            put("draws", drawsJSON(h.draws))
            put("overdraft", h.overdraft)
            put("released", h.released)
        case .holdReleased(let holdSeq, let team, let released), .holdExpired(let holdSeq, let team, let released):
            put("hold_seq", .int(holdSeq))
            put("team", team)
            put("released", released)
        case .budgetAlert(let team, let scope, let pod, let percent, let used, let budget):
            put("team", team)
            put("scope", .string(scope))
            if let pod { put("pod", pod) }
            put("percent", percent)
            put("used", used)
            put("budget", budget)
        case .reversed(let r):
            put("reverses_seq", .int(r.reversesSeq))
            put("team", r.team)
            put("amount", r.amount)
            put("reason", .string(r.reason))
            put("restored", drawsJSON(r.restored))
            put("lapsed", r.lapsed)
            if let o = r.origin {
                put("user", o.user)
                if let pod = o.pod { put("pod", pod) }
                put("overdraft", o.overdraft)
                put("uncount_day", .bool(o.uncountDay))
                put("uncount_cycle", .bool(o.uncountCycle))
            }
        }
    }

    fileprivate init(type: String, fields f: inout Fields) throws(Rejection) {
        switch type {
        case "team_created":
            self = .teamCreated(
                team: try f.id("team"), plan: try f.id("plan"), timezone: try f.string("timezone"),
                dailyLimit: try f.amount("daily_limit", unlimitedAllowed: true),
                cycleAnchor: try f.int("cycle_anchor", in: 1...31))
        case "team_configured":
            var alertAt: [Int64]?
            if let arr = try f.optionalArray("alert_at") {
                var xs: [Int64] = []
                for a in arr {
                    guard case .number(let n) = a, let x = n.int64 else { throw .badRequest("bad alert_at") }
                    xs.append(x)
                }
                alertAt = xs
            }
            self = .teamConfigured(
                team: try f.id("team"), dailyLimit: try f.optionalAmount("daily_limit", unlimitedAllowed: true),
                monthlyBudget: try f.optionalAmount("monthly_budget", unlimitedAllowed: true),
                budgetAction: try f.optionalEnum("budget_action", BudgetAction.self), alertAt: alertAt,
                plan: try f.optionalID("plan"))
        case "team_resumed":
            self = .teamResumed(team: try f.id("team"))
        case "pod_resumed":
            self = .podResumed(team: try f.id("team"), pod: try f.id("pod"))
        case "user_added":
            self = .userAdded(
                team: try f.id("team"), user: try f.id("user"),
                dailyLimit: try f.amount("daily_limit", unlimitedAllowed: true))
        case "user_removed":
            self = .userRemoved(team: try f.id("team"), user: try f.id("user"))
        case "user_assigned":
            self = .userAssigned(
                team: try f.id("team"), user: try f.id("user"), amount: try f.amount("amount", unlimitedAllowed: true))
        case "pod_created", "pod_configured", "pod_archived":
            let team = try f.id("team")
            let pod = try f.id("pod")
            let budget = try f.amount("budget", unlimitedAllowed: true)
            let action = try f.enumValue("budget_action", BudgetAction.self)
            switch type {
            case "pod_created": self = .podCreated(team: team, pod: pod, budget: budget, budgetAction: action)
            case "pod_configured": self = .podConfigured(team: team, pod: pod, budget: budget, budgetAction: action)
            default: self = .podArchived(team: team, pod: pod, budget: budget, budgetAction: action)
            }
        case "plan_defined":
            self = .planDefined(
                plan: try f.id("plan"), monthlyTokens: try f.amount("monthly_tokens", unlimitedAllowed: true),
                maxPods: try f.amount("max_pods", unlimitedAllowed: true),
                maxMembers: try f.amount("max_members", unlimitedAllowed: true))
        case "price_set":
            var p = PriceSpec(model: try f.id("model"), kind: try f.enumValue("kind", PriceKind.self))
            if p.kind == .text {
                p.inputWeightMilli = try f.amount("input_weight_milli")
                p.outputWeightMilli = try f.amount("output_weight_milli")
            } else {
                p.base = try f.amount("base")
                p.perSteps = try f.amount("per_steps")
                if let factors = try f.optionalObject("factors_milli") {
                    for m in factors.members {
                        guard case .object(let vo) = m.value else { throw .badRequest("bad factors_milli") }
                        var values: [String: Int64] = [:]
                        for v in vo.members {
                            values[v.key] = try Fields.amount(v.value, name: "factors_milli", unlimitedAllowed: false)
                        }
                        p.factorsMilli[m.key] = values
                    }
                } else {
                    throw .badRequest("missing field \"factors_milli\"")
                }
            }
            self = .priceSet(p)
        case "topup":
            self = .topup(
                team: try f.id("team"), amount: try f.amount("amount"), package: try f.optionalString("package"))
        case "bonus_granted":
            self = .bonusGranted(
                team: try f.id("team"), amount: try f.amount("amount"),
                reason: try f.enumValue("reason", BonusReason.self), expiresAt: try f.optionalInstant("expires_at"))
        case "cycle_started":
            self = .cycleStarted(
                team: try f.id("team"), plan: try f.id("plan"),
                allowance: try f.amount("allowance", unlimitedAllowed: true),
                cycleStart: try f.instant("cycle_start"), cycleEnd: try f.instant("cycle_end"),
                lapsed: try f.amount("lapsed"))
        case "daily_reset":
            self = .dailyReset(
                team: try f.id("team"), user: try f.optionalID("user"), day: try f.day("day"),
                manual: try f.bool("manual"))
        case "bonus_expired":
            self = .bonusExpired(
                team: try f.id("team"), bonusSeq: try f.seq("bonus_seq"), amount: try f.amount("amount"))
        case "consumed":
            let tags = try UsageTags(&f)
            self = .consumed(
                Consumption(
                    tags: tags, inputTokens: try f.optionalAmount("input_tokens"),
                    outputTokens: try f.optionalAmount("output_tokens"), params: try f.optionalObject("params"),
                    cost: try f.amount("cost"), day: try f.day("day"), draws: try readDraws(&f, "draws"),
                    overdraft: try f.amount("overdraft"), record: try f.bool("record")))
        case "hold_placed":
            let tags = try UsageTags(&f)
            self = .holdPlaced(
                HoldPlacement(
                    tags: tags, amount: try f.amount("amount"), expiresAt: try f.instant("expires_at"),
                    draws: try readDraws(&f, "draws")))
        case "hold_committed":
            let holdSeq = try f.seq("hold_seq")
            let tags = try UsageTags(&f)
            self = .holdCommitted(
                HoldCommitment(
                    holdSeq: holdSeq, tags: tags, inputTokens: try f.optionalAmount("input_tokens"),
                    outputTokens: try f.optionalAmount("output_tokens"), cost: try f.amount("cost"),
                    day: try f.day("day"), draws: try readDraws(&f, "draws"), overdraft: try f.amount("overdraft"),
                    released: try f.amount("released")))
        case "hold_released":
            self = .holdReleased(
                holdSeq: try f.seq("hold_seq"), team: try f.id("team"), released: try f.amount("released"))
        case "hold_expired":
            self = .holdExpired(
                holdSeq: try f.seq("hold_seq"), team: try f.id("team"), released: try f.amount("released"))
        case "budget_alert":
            self = .budgetAlert(
                team: try f.id("team"), scope: try f.string("scope"), pod: try f.optionalID("pod"),
                percent: try f.int("percent", in: 0...Amount.max), used: try f.amount("used"),
                budget: try f.amount("budget"))
        case "reversed":
            self = .reversed(
                Reversal(
                    reversesSeq: try f.seq("reverses_seq"), team: try f.id("team"), amount: try f.amount("amount"),
                    reason: try f.string("reason"), restored: try readDraws(&f, "restored"),
                    lapsed: try f.amount("lapsed"), origin: try reversalOrigin(&f)))
        default:
            throw .badRequest("unknown event type \"\(type)\"")
        }
    }
}
