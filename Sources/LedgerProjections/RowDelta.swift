import LMDB

/// The figures a read-model row adds up: cost in tokens, raw usage, and how many events.
public struct Counters: Sendable, Equatable {
    public var tokens: Int64 = 0
    public var input: Int64 = 0
    public var output: Int64 = 0
    public var events: Int64 = 0

    public init(tokens: Int64 = 0, input: Int64 = 0, output: Int64 = 0, events: Int64 = 0) {
        self.tokens = tokens
        self.input = input
        self.output = output
        self.events = events
    }

    public var isZero: Bool { tokens == 0 && input == 0 && output == 0 && events == 0 }

    static func += (a: inout Counters, b: Counters) {
        a.tokens &+= b.tokens
        a.input &+= b.input
        a.output &+= b.output
        a.events &+= b.events
    }

    static let encodedBytes = 32

    func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Counters.encodedBytes)
        for v in [tokens, input, output, events] { BigEndian.append(UInt64(bitPattern: v), to: &out) }
        return out
    }

    init?(encoded b: UnsafeRawBufferPointer) {
        guard b.count == Counters.encodedBytes else { return nil }
        func at(_ k: Int) -> Int64 {
            Int64(bitPattern: BigEndian.uint64(UnsafeRawBufferPointer(rebasing: b[(k * 8)..<(k * 8 + 8)])))
        }
        self.init(tokens: at(0), input: at(1), output: at(2), events: at(3))
    }
}

/// What a chunk of events changes in one read model, gathered in memory and written in one
/// transaction. Rows are keyed `team ‖ 0x00 ‖ rest` (ids hold no control bytes, so 0x00 never
/// occurs inside one). Per team: an optional clear of the rows under one prefix (a new
/// cycle), whole-value sets, and counter additions. A clear drops what the chunk gathered
/// under its prefix before it, so the result does not depend on where chunks are cut.
public struct RowDelta: Sendable {
    struct TeamPart: Sendable {
        var clearPrefixes: [[UInt8]] = []
        var sets: [RowKey: [UInt8]] = [:]
        var adds: [RowKey: Counters] = [:]
    }

    var teams: [RowKey: TeamPart] = [:]
    /// Rows gathered, to bound memory: the runner writes the chunk out when it grows large.
    public private(set) var rows = 0

    public init() {}

    public var isEmpty: Bool { teams.isEmpty }

    /// `rest` must not start with the team: the key is `team ‖ 0 ‖ rest`.
    public mutating func add(team: [UInt8], _ rest: [UInt8], _ c: Counters) {
        let rest = RowKey(rest)
        rows += modify(team) { p in
            if let i = p.adds.index(forKey: rest) {
                p.adds.values[i] += c
                return 0
            }
            p.adds[rest] = c
            return 1
        }
    }

    public mutating func set(team: [UInt8], _ rest: [UInt8], _ value: [UInt8]) {
        rows += modify(team) { p in p.sets.updateValue(value, forKey: RowKey(rest)) == nil ? 1 : 0 }
    }

    /// Removes every stored row of the team under `prefix`, and what this delta gathered there.
    public mutating func clear(team: [UInt8], prefix: [UInt8]) {
        rows -= modify(team) { p in
            let before = p.adds.count + p.sets.count
            p.adds = p.adds.filter { !$0.key.bytes.starts(with: prefix) }
            p.sets = p.sets.filter { !$0.key.bytes.starts(with: prefix) }
            if !p.clearPrefixes.contains(prefix) { p.clearPrefixes.append(prefix) }
            return before - (p.adds.count + p.sets.count)
        }
    }

    /// A pending set, for folds that read what they wrote earlier in the chunk.
    public func pendingSet(team: [UInt8], _ rest: [UInt8]) -> [UInt8]? {
        teams[RowKey(team)]?.sets[RowKey(rest)]
    }

    private mutating func modify(_ team: [UInt8], _ body: (inout TeamPart) -> Int) -> Int {
        body(&teams[RowKey(team), default: TeamPart()])
    }

    public static func key(team: [UInt8], _ rest: [UInt8]) -> [UInt8] {
        var k = [UInt8]()
        k.reserveCapacity(team.count + 1 + rest.count)
        k.append(contentsOf: team)
        k.append(0)
        k.append(contentsOf: rest)
        return k
    }

    /// Writes the delta into `db`: clears first, then sets, then additions (a row whose
    /// figures all come to zero is deleted, so live folding and a rebuild store the same rows).
    public func write(into txn: inout WriteTransaction, _ db: Database) throws {
        for teamKey in teams.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            let p = teams[teamKey]!
            let team = teamKey.bytes
            for prefix in p.clearPrefixes {
                let start = RowDelta.key(team: team, prefix)
                try txn.withCursor(db) { cursor in
                    var entry = try cursor.seek(atLeast: start)
                    while let e = entry, e.key.starts(with: start) {
                        try cursor.deleteCurrent()
                        entry = try cursor.next()
                    }
                }
            }
            for (rest, value) in p.sets.sorted(by: { $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }) {
                try txn.put(db, RowDelta.key(team: team, rest.bytes), value)
            }
            for (rest, add) in p.adds.sorted(by: { $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }) {
                let key = RowDelta.key(team: team, rest.bytes)
                var c = try txn.withValue(db, key) { v in v.flatMap { Counters(encoded: $0) } } ?? Counters()
                c += add
                if c.isZero {
                    _ = try txn.delete(db, key)
                } else {
                    try txn.put(db, key, c.encoded())
                }
            }
        }
    }
}

/// Bytes as a dictionary key, hashed in one call (an array of bytes hashes byte by byte).
struct RowKey: Hashable, Sendable {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
    static func == (a: RowKey, b: RowKey) -> Bool { a.bytes == b.bytes }
}
