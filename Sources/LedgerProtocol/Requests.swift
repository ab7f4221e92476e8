import LedgerCore
import LedgerJSON

/// The ops this build implements. An op not listed answers `unknown_op`.
public enum Op: String, Sendable, CaseIterable {
    case ping
    case estimate
    case check
    case balance
    case audit
    case verify
    case stats
    case usage
    case report
    case subscribe
    case rebuild
    case backup
    case teamCreate = "team.create"
    case teamConfigure = "team.configure"
    case teamResume = "team.resume"
    case podResume = "pod.resume"
    case userAdd = "user.add"
    case userRemove = "user.remove"
    case userAssign = "user.assign"
    case podCreate = "pod.create"
    case podConfigure = "pod.configure"
    case podArchive = "pod.archive"
    case planDefine = "plan.define"
    case priceSet = "price.set"
    case topup
    case bonusGrant = "bonus.grant"
    case reset
    case reverse
    case consume
    case hold
    case holdCommit = "hold.commit"
    case holdRelease = "hold.release"
    case clockSet = "clock.set"
    case clockAdvance = "clock.advance"

    /// Ops that append events and so take an idempotency `key` (PROTOCOL §4).
    public var appends: Bool {
        switch self {
        case .ping, .estimate, .check, .balance, .audit, .verify, .stats, .clockSet, .clockAdvance, .usage, .report,
            .subscribe, .rebuild, .backup:
            false
        default: true
        }
    }

    public var keyRequired: Bool {
        switch self {
        case .consume, .topup, .bonusGrant, .hold, .holdCommit, .reverse: true
        default: false
        }
    }

    /// Whether `role` may use the op (PROTOCOL §5): admin all; gateway the usage ops; auditor
    /// the reads. A switch, not a set: this runs for every request.
    public func allows(_ role: Role) -> Bool {
        switch self {
        case .ping, .balance: true
        case .consume, .hold, .holdCommit, .holdRelease, .estimate, .check: role == .admin || role == .gateway
        case .audit, .verify, .stats, .usage, .report, .subscribe: role == .admin || role == .auditor
        default: role == .admin
        }
    }
}

public enum Role: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case auditor = 1
    case gateway = 2
    case admin = 3

    public static func < (a: Role, b: Role) -> Bool { a.rawValue < b.rawValue }
    public var description: String {
        switch self {
        case .auditor: "auditor"
        case .gateway: "gateway"
        case .admin: "admin"
        }
    }
    public init?(name: String) {
        switch name {
        case "auditor": self = .auditor
        case "gateway": self = .gateway
        case "admin": self = .admin
        default: return nil
        }
    }
}

public struct ParsedRequest: Sendable {
    public var id: JSON?
    public var op: Op
    public var key: String?
    /// SHA-256 of the request's RFC 8785 bytes without `id`: what "the same payload" means.
    public var payloadDigest: [UInt8]
    public var body: RequestBody

    /// What the writer takes: the request without its wire `id` and op name.
    public var ledgerRequest: LedgerRequest { LedgerRequest(key: key, payloadDigest: payloadDigest, body: body) }
}

/// A request that could not be parsed: answered at once, with the id when it was readable.
public struct RequestFailure: Error, Sendable {
    public var id: JSON?
    public var rejection: Rejection
    /// The op, when the line named a known one: a peer whose role may not use it is answered
    /// `forbidden`, not told what else is wrong with the request.
    public var op: Op?

    public init(id: JSON?, rejection: Rejection, op: Op? = nil) {
        self.id = id
        self.rejection = rejection
        self.op = op
    }
}

public enum RequestParser {
    public static func parse(_ line: [UInt8]) -> Result<ParsedRequest, RequestFailure> {
        if let request = FastRequestParser.parse(line) { return .success(request) }
        return parseGeneral(line)
    }

    /// Every request, through a JSON tree: the reference that the fast path must agree with.
    package static func parseGeneral(_ line: [UInt8]) -> Result<ParsedRequest, RequestFailure> {
        let value: JSON
        do {
            value = try JSONParser.parse(line)
        } catch {
            return .failure(RequestFailure(id: nil, rejection: .badRequest("not JSON: \(error.description)")))
        }
        return parseGeneral(json: value)
    }

    /// The general parser on a line already parsed as JSON (the fuzz target parses each line once).
    package static func parseGeneral(json value: JSON) -> Result<ParsedRequest, RequestFailure> {
        guard case .object(let object) = value else {
            return .failure(RequestFailure(id: nil, rejection: .badRequest("a request is a JSON object")))
        }
        let id = validID(object["id"])
        guard case .string(let opName)? = object["op"] else {
            let message = object["op"] == nil ? "missing field \"op\"" : "\"op\" must be a string"
            return .failure(RequestFailure(id: id, rejection: .badRequest(message)))
        }
        guard let op = Op(rawValue: opName) else {
            return .failure(RequestFailure(id: id, rejection: Rejection(.unknownOp, "unknown op \"\(opName)\"")))
        }
        if object["id"] != nil && id == nil {
            return .failure(
                RequestFailure(
                    id: nil, rejection: .badRequest("\"id\" must be an integer or a string of 1..128 bytes"), op: op))
        }
        var f = Fields(object)
        f.markUsed("id")
        f.markUsed("op")
        do throws(Rejection) {
            var key: String?
            if op.appends {
                key = try f.optionalID("key")?.string
                if op.keyRequired && key == nil {
                    throw .badRequest("\"key\" (an idempotency key) is required for \(op.rawValue)")
                }
            }
            let body = try parseBody(op, &f)
            try f.rejectUnknown()
            var payload = object
            payload["id"] = nil
            let digest = HashChain.digest(CanonicalJSON.bytes(.object(payload)))
            return .success(ParsedRequest(id: id, op: op, key: key, payloadDigest: digest, body: body))
        } catch {
            return .failure(RequestFailure(id: id, rejection: error, op: op))
        }
    }

    static func validID(_ v: JSON?) -> JSON? {
        guard let v else { return nil }
        switch v {
        case .string(let s): return ID(s) == nil ? nil : v
        case .number(let n): return n.isIntegerLexeme ? v : nil
        default: return nil
        }
    }

    /// `types`: event types of PROTOCOL §6, OR-ed.
    static func eventTypes(_ f: inout Fields) throws(Rejection) -> Set<String>? {
        guard let types = try f.optionalArray("types") else { return nil }
        var set = Set<String>()
        for t in types {
            guard case .string(let s) = t, EventBody.allTypes.contains(s) else {
                throw .badRequest("\"types\" must list event types of PROTOCOL §6")
            }
            set.insert(s)
        }
        return set
    }

    static func parseBody(_ op: Op, _ f: inout Fields) throws(Rejection) -> RequestBody {
        switch op {
        case .ping: return .query(.ping)
        case .stats: return .query(.stats)
        case .estimate:
            return .query(.estimate(model: try f.id("model"), usage: try usage(&f)))
        case .check:
            return .query(.check(try consume(&f, allowRecord: false)))
        case .balance:
            return .query(.balance(team: try f.id("team"), user: try f.optionalID("user")))
        case .audit:
            var q = AuditQuery()
            q.from = try f.optionalInstant("from")
            q.to = try f.optionalInstant("to")
            q.team = try f.optionalID("team")
            q.pod = try f.optionalID("pod")
            q.model = try f.optionalID("model")
            q.task = try f.optionalID("task")
            q.user = try f.optionalID("user")
            q.types = try eventTypes(&f)
            q.afterSeq = try f.optionalSeq("after_seq") ?? 0
            q.limit = Int(try f.optionalInt("limit", in: 1...Int64(AuditQuery.limitMax)) ?? 1000)
            return .query(.audit(q))
        case .usage:
            return .query(.usage(team: try f.id("team"), pod: try f.optionalID("pod")))
        case .report:
            var q = ReportQuery(team: try f.id("team"), period: try f.enumValue("period", ReportPeriod.self))
            q.from = try f.optionalDay("from")
            q.to = try f.optionalDay("to")
            if let from = q.from, let to = q.to, from > to { throw .badRequest("\"from\" is after \"to\"") }
            q.by = try f.optionalEnum("by", ReportDimension.self)
            q.limit = Int(try f.optionalInt("limit", in: 1...Int64(ReportQuery.limitMax)) ?? 1000)
            return .query(.report(q))
        case .subscribe:
            var q = SubscribeQuery()
            q.afterSeq = try f.optionalSeq("after_seq") ?? 0
            q.team = try f.optionalID("team")
            q.types = try eventTypes(&f)
            return .query(.subscribe(q))
        case .rebuild:
            let name = try f.optionalString("projection")
            return .query(.rebuild(projection: name))
        case .backup:
            let dest = try f.string("dest")
            guard dest.utf8.count <= 4096, !dest.utf8.contains(0) else {
                throw .badRequest("\"dest\" must be a path of at most 4096 bytes without NUL")
            }
            return .query(.backup(dest: dest))
        case .verify:
            let from = try f.optionalSeq("from_seq")
            let to = try f.optionalSeq("to_seq")
            if let from, let to, from > to { throw .badRequest("\"from_seq\" is after \"to_seq\"") }
            return .query(.verify(fromSeq: from, toSeq: to))
        case .clockSet:
            return .query(.clockSet(try f.instant("at")))
        case .clockAdvance:
            return .query(.clockAdvance(seconds: try f.int("seconds", in: 0...(Amount.max / 1000))))
        case .teamCreate:
            let team = try f.id("team")
            let plan = try f.optionalID("plan")
            let timezone = try f.optionalString("timezone")
            if let timezone, ZoneCalendar(identifier: timezone) == nil {
                throw .badRequest("unknown timezone \"\(timezone)\" (use an IANA name like Europe/Madrid)")
            }
            let daily = try f.optionalAmount("daily_limit", unlimitedAllowed: true)
            return .command(.teamCreate(team: team, plan: plan, timezone: timezone, dailyLimit: daily))
        case .userAdd:
            return .command(
                .userAdd(
                    team: try f.id("team"), user: try f.id("user"),
                    dailyLimit: try f.optionalAmount("daily_limit", unlimitedAllowed: true)))
        case .podCreate:
            return .command(
                .podCreate(
                    team: try f.id("team"), pod: try f.id("pod"),
                    budget: try f.optionalAmount("budget", unlimitedAllowed: true),
                    budgetAction: try f.optionalEnum("budget_action", BudgetAction.self)))
        case .planDefine:
            return .command(
                .planDefine(
                    plan: try f.id("plan"), monthlyTokens: try f.amount("monthly_tokens", unlimitedAllowed: true),
                    maxPods: try f.amount("max_pods", unlimitedAllowed: true),
                    maxMembers: try f.amount("max_members", unlimitedAllowed: true)))
        case .priceSet:
            return .command(.priceSet(try PriceRequest.parse(&f)))
        case .topup:
            let team = try f.id("team")
            let amount = try f.amount("amount")
            let package = try f.optionalID("package")?.string
            return .command(.topup(team: team, amount: amount, package: package))
        case .consume:
            return .command(.consume(try consume(&f, allowRecord: true)))
        case .teamConfigure:
            let team = try f.id("team")
            let daily = try f.optionalAmount("daily_limit", unlimitedAllowed: true)
            let budget = try f.optionalAmount("monthly_budget", unlimitedAllowed: true)
            let action = try f.optionalEnum("budget_action", BudgetAction.self)
            var alertAt: [Int64]?
            if let arr = try f.optionalArray("alert_at") {
                var xs: [Int64] = []
                for a in arr {
                    guard case .number(let n) = a, let x = n.int64, (1...1000).contains(x) else {
                        // An `alert` budget can be passed, so percents above 100 are meaningful.
                        throw .badRequest("\"alert_at\" must list integer percents 1..1000")
                    }
                    xs.append(x)
                }
                alertAt = xs
            }
            let plan = try f.optionalID("plan")
            if daily == nil && budget == nil && action == nil && alertAt == nil && plan == nil {
                throw .badRequest(
                    "team.configure needs at least one of daily_limit, monthly_budget, budget_action, alert_at, plan")
            }
            return .command(
                .teamConfigure(
                    team: team, dailyLimit: daily, monthlyBudget: budget, budgetAction: action, alertAt: alertAt,
                    plan: plan))
        case .teamResume:
            return .command(.teamResume(team: try f.id("team")))
        case .podResume:
            return .command(.podResume(team: try f.id("team"), pod: try f.id("pod")))
        case .userRemove:
            return .command(.userRemove(team: try f.id("team"), user: try f.id("user")))
        case .userAssign:
            return .command(
                .userAssign(
                    team: try f.id("team"), user: try f.id("user"),
                    amount: try f.amount("amount", unlimitedAllowed: true)))
        case .podConfigure:
            let team = try f.id("team")
            let pod = try f.id("pod")
            let budget = try f.optionalAmount("budget", unlimitedAllowed: true)
            let action = try f.optionalEnum("budget_action", BudgetAction.self)
            if budget == nil && action == nil { throw .badRequest("pod.configure needs budget or budget_action") }
            return .command(.podConfigure(team: team, pod: pod, budget: budget, budgetAction: action))
        case .podArchive:
            return .command(.podArchive(team: try f.id("team"), pod: try f.id("pod")))
        case .bonusGrant:
            return .command(
                .bonusGrant(
                    team: try f.id("team"), amount: try f.amount("amount"),
                    reason: try f.enumValue("reason", BonusReason.self),
                    expiresAt: try f.optionalInstant("expires_at")))
        case .reset:
            return .command(.reset(team: try f.id("team"), user: try f.optionalID("user")))
        case .reverse:
            return .command(
                .reverse(
                    seq: try f.seq("seq"), reason: try f.id("reason").string, amount: try f.optionalAmount("amount")))
        case .hold:
            let tags = try usageTags(&f)
            let amount = try f.optionalAmount("amount")
            let u = try usage(&f)
            if amount != nil && !u.isEmpty { throw .badRequest("a hold takes \"amount\" or usage, not both") }
            if amount == nil && u.isEmpty {
                throw .badRequest("a hold needs \"amount\" or usage (input_tokens, output_tokens, params)")
            }
            let ttl = try f.optionalInt("ttl_seconds", in: 1...(30 * 86_400)) ?? 600
            return .command(.hold(HoldCommand(tags: tags, amount: amount, usage: u, ttlSeconds: ttl)))
        case .holdCommit:
            let hold = try f.seq("hold")
            let u = try usage(&f)
            let cost = try f.optionalAmount("cost")
            return .command(.holdCommit(hold: hold, usage: u, cost: cost))
        case .holdRelease:
            return .command(.holdRelease(hold: try f.seq("hold")))
        }
    }

    static func usageTags(_ f: inout Fields) throws(Rejection) -> UsageTags {
        let tags = UsageTags(
            team: try f.id("team"), user: try f.id("user"), pod: try f.optionalID("pod"),
            task: try f.optionalID("task"), model: try f.id("model"),
            operation: try f.optionalID("operation")?.string)
        // A task without a pod belongs to the team (PROTOCOL §5): known from its first use there.
        return tags
    }

    static func usage(_ f: inout Fields) throws(Rejection) -> Usage {
        let input = try f.optionalAmount("input_tokens")
        let output = try f.optionalAmount("output_tokens")
        var params: JSONObject?
        if var p = try f.optionalObject("params") {
            for i in p.members.indices {
                switch p.members[i].value {
                case .string: continue
                case .number(let n) where n.int64.map({ abs($0) <= Amount.max }) ?? false:
                    // As the canonical bytes (and so the event) will write it: `-0`, `1e2` and
                    // `100` are one value, and the request must mean what its event says.
                    p.members[i].value = .int(n.int64!)
                default:
                    throw .badRequest("params.\(p.members[i].key) must be a string or an integer within ±(2^53-1)")
                }
            }
            params = p
        }
        return Usage(inputTokens: input, outputTokens: output, params: params)
    }

    static func consume(_ f: inout Fields, allowRecord: Bool) throws(Rejection) -> ConsumeCommand {
        let tags = try usageTags(&f)
        let u = try usage(&f)
        let cost = try f.optionalAmount("cost")
        let record = allowRecord ? (try f.optionalBool("record") ?? false) : false
        return ConsumeCommand(tags: tags, usage: u, cost: cost, record: record)
    }
}

/// `price.set` (PROTOCOL §7): weights and factors are decimals with at most 3 places.
enum PriceRequest {
    static func weight(_ f: inout Fields, _ name: String) throws(Rejection) -> Int64? {
        guard let v = f.take(name) else { return nil }
        guard case .number(let n) = v, let milli = n.milli, milli >= 0, milli <= Amount.max else {
            throw .badRequest("\"\(name)\" must be a non-negative decimal with at most 3 places")
        }
        return milli
    }

    static func parse(_ f: inout Fields) throws(Rejection) -> PriceSpec {
        var spec = PriceSpec(model: try f.id("model"), kind: try f.enumValue("kind", PriceKind.self))
        if spec.kind == .text {
            spec.inputWeightMilli = try weight(&f, "input_weight") ?? 1000
            spec.outputWeightMilli = try weight(&f, "output_weight") ?? 1000
            return spec
        }
        spec.base = try f.amount("base")
        if let steps = try f.optionalInt("per_steps", in: 1...Amount.max) { spec.perSteps = steps }
        if let factors = try f.optionalObject("factors") {
            for m in factors.members {
                guard Pricing.factorParams.contains(m.key) else {
                    throw .badRequest("factors.\(m.key): factor params are resolution, quality and duration")
                }
                guard case .object(let values) = m.value else {
                    throw .badRequest("factors.\(m.key) must be an object")
                }
                var table: [String: Int64] = [:]
                for v in values.members {
                    guard case .number(let n) = v.value, let milli = n.milli, milli >= 0, milli <= Amount.max else {
                        throw .badRequest(
                            "factors.\(m.key).\(v.key) must be a non-negative decimal with at most 3 places")
                    }
                    table[v.key] = milli
                }
                spec.factorsMilli[m.key] = table
            }
        }
        return spec
    }
}

extension RequestParser {
    /// A `price.set` object without `op` (a catalog entry) as a price.
    public static func priceSpec(from object: JSONObject) throws(Rejection) -> PriceSpec {
        var f = Fields(object)
        f.markUsed("op")
        let spec = try PriceRequest.parse(&f)
        try f.rejectUnknown()
        return spec
    }
}
