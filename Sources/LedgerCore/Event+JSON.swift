import LedgerJSON

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

    fileprivate init(type name: String, fields f: inout Fields) throws(Rejection) {
        guard let type = EventType(rawValue: name) else { throw .badRequest("unknown event type \"\(name)\"") }
        switch type {
        case .teamCreated:
            self = .teamCreated(
                team: try f.id("team"), plan: try f.id("plan"), timezone: try f.string("timezone"),
                dailyLimit: try f.amount("daily_limit", unlimitedAllowed: true),
                cycleAnchor: try f.int("cycle_anchor", in: 1...31))
        case .teamConfigured:
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
        case .teamResumed:
            self = .teamResumed(team: try f.id("team"))
        case .podResumed:
            self = .podResumed(team: try f.id("team"), pod: try f.id("pod"))
        case .userAdded:
            self = .userAdded(
                team: try f.id("team"), user: try f.id("user"),
                dailyLimit: try f.amount("daily_limit", unlimitedAllowed: true))
        case .userRemoved:
            self = .userRemoved(team: try f.id("team"), user: try f.id("user"))
        case .userAssigned:
            self = .userAssigned(
                team: try f.id("team"), user: try f.id("user"), amount: try f.amount("amount", unlimitedAllowed: true))
        case .podCreated, .podConfigured, .podArchived:
            let team = try f.id("team")
            let pod = try f.id("pod")
            let budget = try f.amount("budget", unlimitedAllowed: true)
            let action = try f.enumValue("budget_action", BudgetAction.self)
            switch type {
            case .podCreated: self = .podCreated(team: team, pod: pod, budget: budget, budgetAction: action)
            case .podConfigured: self = .podConfigured(team: team, pod: pod, budget: budget, budgetAction: action)
            default: self = .podArchived(team: team, pod: pod, budget: budget, budgetAction: action)
            }
        case .planDefined:
            self = .planDefined(
                plan: try f.id("plan"), monthlyTokens: try f.amount("monthly_tokens", unlimitedAllowed: true),
                maxPods: try f.amount("max_pods", unlimitedAllowed: true),
                maxMembers: try f.amount("max_members", unlimitedAllowed: true))
        case .priceSet:
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
        case .topup:
            self = .topup(
                team: try f.id("team"), amount: try f.amount("amount"), package: try f.optionalString("package"))
        case .bonusGranted:
            self = .bonusGranted(
                team: try f.id("team"), amount: try f.amount("amount"),
                reason: try f.enumValue("reason", BonusReason.self), expiresAt: try f.optionalInstant("expires_at"))
        case .cycleStarted:
            self = .cycleStarted(
                team: try f.id("team"), plan: try f.id("plan"),
                allowance: try f.amount("allowance", unlimitedAllowed: true),
                cycleStart: try f.instant("cycle_start"), cycleEnd: try f.instant("cycle_end"),
                lapsed: try f.amount("lapsed"))
        case .dailyReset:
            self = .dailyReset(
                team: try f.id("team"), user: try f.optionalID("user"), day: try f.day("day"),
                manual: try f.bool("manual"))
        case .bonusExpired:
            self = .bonusExpired(
                team: try f.id("team"), bonusSeq: try f.seq("bonus_seq"), amount: try f.amount("amount"))
        case .consumed:
            let tags = try UsageTags(&f)
            self = .consumed(
                Consumption(
                    tags: tags, inputTokens: try f.optionalAmount("input_tokens"),
                    outputTokens: try f.optionalAmount("output_tokens"), params: try f.optionalObject("params"),
                    cost: try f.amount("cost"), day: try f.day("day"), draws: try readDraws(&f, "draws"),
                    overdraft: try f.amount("overdraft"), record: try f.bool("record")))
        case .holdPlaced:
            let tags = try UsageTags(&f)
            self = .holdPlaced(
                HoldPlacement(
                    tags: tags, amount: try f.amount("amount"), expiresAt: try f.instant("expires_at"),
                    draws: try readDraws(&f, "draws")))
        case .holdCommitted:
            let holdSeq = try f.seq("hold_seq")
            let tags = try UsageTags(&f)
            self = .holdCommitted(
                HoldCommitment(
                    holdSeq: holdSeq, tags: tags, inputTokens: try f.optionalAmount("input_tokens"),
                    outputTokens: try f.optionalAmount("output_tokens"), cost: try f.amount("cost"),
                    day: try f.day("day"), draws: try readDraws(&f, "draws"), overdraft: try f.amount("overdraft"),
                    released: try f.amount("released")))
        case .holdReleased:
            self = .holdReleased(
                holdSeq: try f.seq("hold_seq"), team: try f.id("team"), released: try f.amount("released"))
        case .holdExpired:
            self = .holdExpired(
                holdSeq: try f.seq("hold_seq"), team: try f.id("team"), released: try f.amount("released"))
        case .budgetAlert:
            self = .budgetAlert(
                team: try f.id("team"), scope: try f.string("scope"), pod: try f.optionalID("pod"),
                percent: try f.int("percent", in: 0...Amount.max), used: try f.amount("used"),
                budget: try f.amount("budget"))
        case .reversed:
            self = .reversed(
                Reversal(
                    reversesSeq: try f.seq("reverses_seq"), team: try f.id("team"), amount: try f.amount("amount"),
                    reason: try f.string("reason"), restored: try readDraws(&f, "restored"),
                    lapsed: try f.amount("lapsed"), origin: try reversalOrigin(&f)))
        }
    }
}
