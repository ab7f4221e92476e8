import LMDB
import LedgerCore
import LedgerStore

/// The read models. Each is one LMDB database pair (active and shadow) in the views
/// environment, folded from the log by its own projector with its own checkpoint.
public enum ProjectionName: String, CaseIterable, Sendable, Comparable {
    /// Daily counters: team × day, and team × day × user (tokens, usage, events).
    case daily
    /// The current cycle per pod (and per team): used, by model, by task, by day; pod budgets.
    case pods
    /// Report roll-ups: team × dimension × day × key (model, user, pod, task, operation).
    case reports
    /// Which blocks of 1,024 seqs hold events of a team: lets `audit {team}` skip the rest.
    case auditTeams = "audit_teams"

    public static func < (a: ProjectionName, b: ProjectionName) -> Bool { a.rawValue < b.rawValue }
}

/// Row layouts (after `team ‖ 0x00`). Days are `YYYY-MM-DD` (10 bytes, so they need no separator).
public enum Rows {
    // daily
    /// `day` → the team's counters; `day ‖ 0 ‖ user` → the user's.
    static func daily(day: [UInt8], user: [UInt8]?) -> [UInt8] {
        guard let user else { return day }
        return day + [0] + user
    }

    // reports
    public static func dimensionByte(_ d: ReportDimensionKey) -> UInt8 { d.rawValue }
    /// `dim ‖ day ‖ key` (key empty: the event has no such field).
    static func report(_ d: ReportDimensionKey, day: [UInt8], key: [UInt8]?) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(11 + (key?.count ?? 0))
        out.append(d.rawValue)
        out.append(contentsOf: day)
        if let key { out.append(contentsOf: key) }
        return out
    }

    // pods: `f…` rows are configuration and survive a cycle; `c…` rows belong to the cycle.
    static let zone: [UInt8] = Array("fz".utf8)
    static func podConfig(_ pod: [UInt8]) -> [UInt8] { Array("fp".utf8) + pod }
    static let cyclePrefix: [UInt8] = [UInt8(ascii: "c")]
    static let cycleFirstDay: [UInt8] = Array("cs".utf8)
    /// Pod empty: the team as a whole.
    static func used(_ pod: [UInt8]) -> [UInt8] { Array("cu".utf8) + pod }
    static func resumed(_ pod: [UInt8]) -> [UInt8] { Array("cr".utf8) + pod }
    static func byModel(_ pod: [UInt8], _ model: [UInt8]) -> [UInt8] { Array("cm".utf8) + pod + [0] + model }
    static func byTask(_ pod: [UInt8], _ task: [UInt8]) -> [UInt8] { Array("ct".utf8) + pod + [0] + task }
    static func byDay(_ pod: [UInt8], _ day: [UInt8]) -> [UInt8] { Array("cd".utf8) + pod + [0] + day }

    // audit_teams
    public static let blockShift = LogReader.teamIndexBlockShift
    static func block(_ seq: UInt64) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "b")]
        BigEndian.append(seq >> blockShift, to: &out)
        return out
    }
}

/// The dimension bytes of report rows.
public enum ReportDimensionKey: UInt8, CaseIterable, Sendable {
    case model = 0x6D  // m
    case user = 0x75  // u
    case pod = 0x70  // p
    case task = 0x74  // t
    case operation = 0x6F  // o

    func value(_ f: EventFacts) -> [UInt8]? {
        switch self {
        case .model: f.model
        case .user: f.user
        case .pod: f.pod
        case .task: f.task
        case .operation: f.operation
        }
    }
}

/// Pod configuration as stored: budget, action, archived.
public struct PodConfig: Sendable, Equatable {
    public var budget: Int64
    public var action: BudgetAction
    public var archived: Bool

    func encoded() -> [UInt8] {
        var out = [UInt8]()
        BigEndian.append(UInt64(bitPattern: budget), to: &out)
        out.append(action == .alert ? 0 : action == .pause ? 1 : 2)
        out.append(archived ? 1 : 0)
        return out
    }

    init(budget: Int64, action: BudgetAction, archived: Bool) {
        self.budget = budget
        self.action = action
        self.archived = archived
    }

    init?(encoded b: UnsafeRawBufferPointer) {
        guard b.count == 10 else { return nil }
        budget = Int64(bitPattern: UInt64(bigEndian: b.loadUnaligned(as: UInt64.self)))
        action = b[8] == 0 ? .alert : b[8] == 1 ? .pause : .blockNewTasks
        archived = b[9] == 1
    }
}

/// Folds events into a projection's row delta. Pure but for the zone cache, which a team's
/// `team_created` fills (and a restarted projector refills from its `fz` row on demand).
public struct Folder: Sendable {
    public let name: ProjectionName
    var zones: [RowKey: ZoneCalendar] = [:]

    public init(name: ProjectionName) { self.name = name }

    /// - Parameters:
    ///   - original: for `reversed`, the facts of the event it reverses.
    ///   - storedZone: reads a team's zone row when the cache has none.
    public mutating func fold(
        _ f: EventFacts, original: EventFacts?, into d: inout RowDelta, storedZone: ([UInt8]) -> [UInt8]?
    ) {
        switch name {
        case .auditTeams:
            if let team = f.team { d.set(team: team, Rows.block(f.seq), []) }
        case .daily, .reports:
            guard let (usage, c) = Folder.usage(f, original: original), let team = usage.team, let day = usage.day
            else { return }
            if name == .daily {
                d.add(team: team, Rows.daily(day: day, user: nil), c)
                if let user = usage.user { d.add(team: team, Rows.daily(day: day, user: user), c) }
            } else {
                for dim in ReportDimensionKey.allCases {
                    d.add(team: team, Rows.report(dim, day: day, key: dim.value(usage)), c)
                }
            }
        case .pods:
            foldPods(f, original: original, into: &d, storedZone: storedZone)
        }
    }

    /// The usage an event adds (a consumption) or takes out (its reversal), with the
    /// dimensions it counts under. A full reversal takes out the whole event (tokens, usage,
    /// the event itself); a partial one takes out only the tokens reversed.
    static func usage(_ f: EventFacts, original: EventFacts?) -> (EventFacts, Counters)? {
        if f.kind.isUsage {
            return (f, Counters(tokens: f.cost, input: f.inputTokens, output: f.outputTokens, events: 1))
        }
        guard f.kind == .reversed, let o = original, o.kind.isUsage else { return nil }
        if f.amount >= o.cost {
            return (o, Counters(tokens: -o.cost, input: -o.inputTokens, output: -o.outputTokens, events: -1))
        }
        return (o, Counters(tokens: -f.amount))
    }

    mutating func foldPods(
        _ f: EventFacts, original: EventFacts?, into d: inout RowDelta, storedZone: ([UInt8]) -> [UInt8]?
    ) {
        guard let team = f.team else { return }
        switch f.kind {
        case .teamCreated:
            let tz = f.timezone ?? Array("UTC".utf8)
            d.set(team: team, Rows.zone, tz)
            zones[RowKey(team)] = ZoneCalendar(identifier: String(decoding: tz, as: UTF8.self)) ?? .utc
        case .cycleStarted:
            d.clear(team: team, prefix: Rows.cyclePrefix)
            if let start = f.cycleStart.flatMap({ Instant(rfc3339: String(decoding: $0, as: UTF8.self)) }) {
                let zone = zone(team, d, storedZone)
                d.set(team: team, Rows.cycleFirstDay, Array(zone.day(of: start).description.utf8))
            }
        case .podCreated, .podConfigured, .podArchived:
            guard let pod = f.pod else { return }
            let action =
                f.budgetAction.flatMap { BudgetAction(rawValue: String(decoding: $0, as: UTF8.self)) } ?? .alert
            d.set(
                team: team, Rows.podConfig(pod),
                PodConfig(budget: f.budget, action: action, archived: f.kind == .podArchived).encoded())
        case .podResumed:
            guard let pod = f.pod else { return }
            d.set(team: team, Rows.resumed(pod), [1])
        case .consumed, .holdCommitted, .reversed:
            if f.kind == .reversed && !f.uncountCycle { return }
            guard let (u, c) = Folder.usage(f, original: original), let model = u.model, let day = u.day else { return }
            var scopes: [[UInt8]] = [[]]
            if let pod = u.pod { scopes.append(pod) }
            for pod in scopes {
                d.add(team: team, Rows.used(pod), c)
                d.add(team: team, Rows.byModel(pod, model), c)
                d.add(team: team, Rows.byDay(pod, day), c)
                if !pod.isEmpty, let task = u.task { d.add(team: team, Rows.byTask(pod, task), c) }
            }
        case .other:
            return
        }
    }

    mutating func zone(_ team: [UInt8], _ d: RowDelta, _ stored: ([UInt8]) -> [UInt8]?) -> ZoneCalendar {
        if let z = zones[RowKey(team)] { return z }
        let z =
            (d.pendingSet(team: team, Rows.zone) ?? stored(team)).flatMap {
                ZoneCalendar(identifier: String(decoding: $0, as: UTF8.self))
            } ?? .utc
        zones[RowKey(team)] = z
        return z
    }
}
