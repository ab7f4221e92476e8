import LedgerCore
import LedgerJSON

/// The event types the read models fold. Everything else only moves the log.
public enum FactKind: UInt8, Sendable {
    case other
    case teamCreated
    case cycleStarted
    case consumed
    case holdCommitted
    case reversed
    case podCreated
    case podConfigured
    case podArchived
    case podResumed

    private static let table: [(EventType, FactKind)] = [
        (.consumed, .consumed), (.holdCommitted, .holdCommitted), (.reversed, .reversed),
        (.teamCreated, .teamCreated), (.cycleStarted, .cycleStarted), (.podCreated, .podCreated),
        (.podConfigured, .podConfigured), (.podArchived, .podArchived), (.podResumed, .podResumed),
    ]
    private static let names: [(name: [UInt8], kind: FactKind)] = table.map { (Array($0.0.rawValue.utf8), $0.1) }

    /// Compares bytes: runs once per event folded, so it builds no `String`.
    init(type: UnsafeBufferPointer<UInt8>) {
        self = FactKind.names.first { $0.name.count == type.count && $0.name.elementsEqual(type) }?.kind ?? .other
    }

    /// Consumption that counts in the read models.
    public var isUsage: Bool { self == .consumed || self == .holdCommitted }
}

/// What the read models need of one event, read straight from its stored canonical bytes.
/// Ids are kept as bytes: they become row keys as they are.
public struct EventFacts: Sendable, Equatable {
    public var seq: UInt64 = 0
    public var kind: FactKind = .other
    public var team: [UInt8]?
    public var user: [UInt8]?
    public var pod: [UInt8]?
    public var task: [UInt8]?
    public var model: [UInt8]?
    public var operation: [UInt8]?
    /// `YYYY-MM-DD`, the team's local day of a consumption.
    public var day: [UInt8]?
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var cost: Int64 = 0
    public var amount: Int64 = 0
    public var reversesSeq: UInt64 = 0
    public var uncountCycle = false
    public var budget: Int64 = -1
    public var budgetAction: [UInt8]?
    public var timezone: [UInt8]?
    public var cycleStart: [UInt8]?

    public init() {}
}

/// How a scan went: `needsParser` when a string holds an escape (the full parser reads it).
enum ScanOutcome {
    case scanned
    case needsParser
    case malformed
}

/// `EventFacts` with its string members as byte ranges of the scanned event.
struct RawFacts {
    var kind: FactKind = .other
    var team: Range<Int>?
    var user: Range<Int>?
    var pod: Range<Int>?
    var task: Range<Int>?
    var model: Range<Int>?
    var operation: Range<Int>?
    var day: Range<Int>?
    var inputTokens: Int64 = 0
    var outputTokens: Int64 = 0
    var cost: Int64 = 0
    var amount: Int64 = 0
    var reversesSeq: UInt64 = 0
    var uncountCycle = false
    var budget: Int64 = -1
    var budgetAction: Range<Int>?
    var timezone: Range<Int>?
    var cycleStart: Range<Int>?

    /// Copies the ranges out of `b`, the bytes they were scanned from.
    func facts(_ b: UnsafeBufferPointer<UInt8>) -> EventFacts {
        func bytes(_ r: Range<Int>?) -> [UInt8]? { r.map { Array(b[$0]) } }
        var f = EventFacts()
        f.kind = kind
        f.team = bytes(team)
        f.user = bytes(user)
        f.pod = bytes(pod)
        f.task = bytes(task)
        f.model = bytes(model)
        f.operation = bytes(operation)
        f.day = bytes(day)
        f.inputTokens = inputTokens
        f.outputTokens = outputTokens
        f.cost = cost
        f.amount = amount
        f.reversesSeq = reversesSeq
        f.uncountCycle = uncountCycle
        f.budget = budget
        f.budgetAction = bytes(budgetAction)
        f.timezone = bytes(timezone)
        f.cycleStart = bytes(cycleStart)
        return f
    }
}

public struct FactsError: Error, Sendable, CustomStringConvertible {
    public var seq: UInt64
    public var description: String { "event \(seq) is unreadable" }
}

/// Reads `EventFacts` from an event's RFC 8785 bytes in one pass, without building a JSON
/// tree: only top-level members are looked at, nested values are skipped. A string with an
/// escape (never in ids the daemon wrote, but allowed) falls back to the full parser.
public enum FactScanner {
    public static func facts(_ bytes: [UInt8], seq: UInt64) throws(FactsError) -> EventFacts {
        let fast: EventFacts?? = bytes.withUnsafeBufferPointer { buf in scan(buf) }
        switch fast {
        case .some(.some(var f)):
            f.seq = seq
            return f
        case .some(.none):
            return try slow(bytes, seq: seq)
        case .none:
            throw FactsError(seq: seq)
        }
    }

    /// `nil`: malformed; `.some(nil)`: needs the full parser.
    static func scan(_ b: UnsafeBufferPointer<UInt8>) -> EventFacts?? {
        var r = RawFacts()
        switch scanRaw(b, into: &r) {
        case .scanned: return .some(r.facts(b))
        case .needsParser: return .some(nil)
        case .malformed: return .none
        }
    }

    /// The same scan, but string members are left as ranges into `b`: a bulk fold interns
    /// them without building an array per field.
    /// Fills `f` (fresh) in place: the facts are a few hundred bytes, too many to copy out of
    /// an optional per event.
    static func scanRaw(_ b: UnsafeBufferPointer<UInt8>, into f: inout RawFacts) -> ScanOutcome {
        var c = ByteScanner(b)
        c.skipSpace()
        guard c.i < c.n, b[c.i] == UInt8(ascii: "{") else { return .malformed }
        c.i += 1
        c.skipSpace()
        if c.i < c.n, b[c.i] == UInt8(ascii: "}") { return .scanned }
        while true {
            c.skipSpace()
            guard let keyScan = c.string() else { return .malformed }
            guard let key = keyScan else { return .needsParser }
            c.skipSpace()
            guard c.i < c.n, b[c.i] == UInt8(ascii: ":") else { return .malformed }
            c.i += 1
            c.skipSpace()
            guard c.i < c.n else { return .malformed }
            let first = b[c.i]
            if first == UInt8(ascii: "\"") {
                guard let valueScan = c.string() else { return .malformed }
                guard let v = valueScan else { return .needsParser }
                switch key.count {
                case 3 where c.equals(key, "day"): f.day = v
                case 4 where c.equals(key, "team"): f.team = v
                case 4 where c.equals(key, "user"): f.user = v
                case 4 where c.equals(key, "type"): f.kind = FactKind(type: UnsafeBufferPointer(rebasing: b[v]))
                case 3 where c.equals(key, "pod"): f.pod = v
                case 4 where c.equals(key, "task"): f.task = v
                case 5 where c.equals(key, "model"): f.model = v
                case 9 where c.equals(key, "operation"): f.operation = v
                case 8 where c.equals(key, "timezone"): f.timezone = v
                case 11 where c.equals(key, "cycle_start"): f.cycleStart = v
                case 13 where c.equals(key, "budget_action"): f.budgetAction = v
                default: break
                }
            } else if first == UInt8(ascii: "-") || (first >= 0x30 && first <= 0x39) {
                let start = c.i
                guard let v = c.integer() else { return .malformed }
                switch key.count {
                case 4 where c.equals(key, "cost"): f.cost = v
                case 6 where c.equals(key, "amount"): f.amount = v
                case 6 where c.equals(key, "budget"): f.budget = v
                case 12 where c.equals(key, "input_tokens"): f.inputTokens = v
                case 13 where c.equals(key, "output_tokens"): f.outputTokens = v
                case 12 where c.equals(key, "reverses_seq"): f.reversesSeq = UInt64(max(0, v))
                default: break
                }
                if c.i < c.n, b[c.i] != UInt8(ascii: ","), b[c.i] != UInt8(ascii: "}") {
                    c.i = start
                    guard c.skipValue() else { return .malformed }
                }
            } else if first == UInt8(ascii: "t") || first == UInt8(ascii: "f") {
                let isTrue = first == UInt8(ascii: "t")
                guard c.skipValue() else { return .malformed }
                if c.equals(key, "uncount_cycle") { f.uncountCycle = isTrue }
            } else {
                guard c.skipValue() else { return .malformed }
            }
            c.skipSpace()
            guard c.i < c.n else { return .malformed }
            if b[c.i] == UInt8(ascii: ",") {
                c.i += 1
                continue
            }
            guard b[c.i] == UInt8(ascii: "}") else { return .malformed }
            return .scanned
        }
    }

    /// The full parser, for events whose strings hold escapes.
    static func slow(_ bytes: [UInt8], seq: UInt64) throws(FactsError) -> EventFacts {
        guard case .object(let o)? = try? JSONParser.parse(bytes) else { throw FactsError(seq: seq) }
        var f = EventFacts()
        f.seq = seq
        func s(_ k: String) -> [UInt8]? { o[k]?.stringValue.map { Array($0.utf8) } }
        func int(_ k: String) -> Int64? { o[k]?.numberValue?.int64 }
        if let t = o["type"]?.stringValue {
            f.kind = Array(t.utf8).withUnsafeBufferPointer { FactKind(type: $0) }
        }
        f.team = s("team")
        f.user = s("user")
        f.pod = s("pod")
        f.task = s("task")
        f.model = s("model")
        f.operation = s("operation")
        f.day = s("day")
        f.timezone = s("timezone")
        f.cycleStart = s("cycle_start")
        f.budgetAction = s("budget_action")
        f.cost = int("cost") ?? 0
        f.amount = int("amount") ?? 0
        f.budget = int("budget") ?? -1
        f.inputTokens = int("input_tokens") ?? 0
        f.outputTokens = int("output_tokens") ?? 0
        f.reversesSeq = UInt64(max(0, int("reverses_seq") ?? 0))
        f.uncountCycle = o["uncount_cycle"]?.boolValue ?? false
        return f
    }
}

/// A position in an event's bytes, with the scanner's steps as methods: a struct rather than
/// closures over a captured index, which the compiler would box and check for exclusive
/// access on every step.
struct ByteScanner {
    let b: UnsafeBufferPointer<UInt8>
    let n: Int
    var i = 0

    init(_ b: UnsafeBufferPointer<UInt8>) {
        self.b = b
        n = b.count
    }

    @inline(__always) mutating func skipSpace() {
        while i < n, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    /// Scans a string at `i` (the opening quote); returns its content range, or nil on an escape.
    mutating func string() -> Range<Int>?? {
        guard i < n, b[i] == UInt8(ascii: "\"") else { return .none }
        let start = i + 1
        var j = start
        // Eight bytes at a time to the first quote or backslash (ids are short, but `hash`
        // and `ts` are not): a byte of `x` is zero where the word held the byte sought.
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let base = UnsafeRawPointer(b.baseAddress!)
        while j + 8 <= n {
            let w = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: j, as: UInt64.self))
            let q = w ^ (ones &* 0x22)
            let s = w ^ (ones &* 0x5C)
            let found = ((q &- ones) & ~q | (s &- ones) & ~s) & highs
            if found != 0 {
                // The lowest flagged byte is a true match (a false flag only follows a true one).
                j += found.trailingZeroBitCount >> 3
                break
            }
            j += 8
        }
        while j < n {
            let c = b[j]
            if c == UInt8(ascii: "\"") {
                i = j + 1
                return .some(start..<j)
            }
            if c == UInt8(ascii: "\\") { return .some(nil) }
            j += 1
        }
        return .none
    }

    mutating func integer() -> Int64? {
        var neg = false
        if i < n, b[i] == UInt8(ascii: "-") {
            neg = true
            i += 1
        }
        var v: Int64 = 0
        var digits = 0
        while i < n, b[i] >= 0x30, b[i] <= 0x39 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(b[i] - 0x30))
            if o1 || o2 { return nil }
            v = a
            digits += 1
            i += 1
        }
        guard digits > 0 else { return nil }
        // A fraction or exponent is not an event integer: let the caller skip the rest.
        return neg ? -v : v
    }

    /// Skips any value; false when malformed.
    mutating func skipValue() -> Bool {
        guard i < n else { return false }
        switch b[i] {
        case UInt8(ascii: "\""):
            // Strings may hold escapes here: skip them properly.
            i += 1
            while i < n {
                if b[i] == UInt8(ascii: "\\") {
                    i += 2
                    continue
                }
                if b[i] == UInt8(ascii: "\"") {
                    i += 1
                    return true
                }
                i += 1
            }
            return false
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while i < n {
                let c = b[i]
                if c == UInt8(ascii: "\"") {
                    if !skipValue() { return false }
                    continue
                }
                if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") { depth += 1 }
                if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                    depth -= 1
                    if depth == 0 {
                        i += 1
                        return true
                    }
                }
                i += 1
            }
            return false
        default:
            while i < n, b[i] != UInt8(ascii: ","), b[i] != UInt8(ascii: "}") { i += 1 }
            return true
        }
    }

    @inline(__always) func equals(_ r: Range<Int>, _ s: StaticString) -> Bool {
        guard r.count == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        for k in 0..<r.count where b[r.lowerBound + k] != p[k] { return false }
        return true
    }
}
