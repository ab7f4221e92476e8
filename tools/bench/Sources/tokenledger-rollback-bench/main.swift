import Foundation
import LedgerCore
import LedgerJSON
import LedgerMemoryStore
import LedgerProtocol
import LedgerStore
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Issue 13, item 4: what a failed commit costs once the engine rolls its batch back in memory instead of
// refolding the log, and what keeping the undo record costs every batch that commits. In process: the engine on
// the in-memory storage, so that the figures are the engine's own (no socket, no LMDB, no fsync).

let usage = """
    usage: tokenledger-rollback-bench [options]

    Builds a state through the engine on the in-memory storage (teams with two users and two pods each, open
    holds, then consumes on random teams, pods and tasks until the log holds --events events), then measures:
      1. recovery: a commit that throws → the engine ready (execute returns), for batches of --batch and of
         4096 requests (the writer's cap) on distinct random teams; then the same batch again, committed;
      2. the old recovery: `reload()`, the refold a failed commit used to cost (skip with --no-reload);
      3. the write path: --overhead-batches batches of --batch consumes applied to the state, interleaved:
         apply only / apply with the undo record / apply after a whole-state copy (`let before = state`),
         and the undo record's rollback alone.

    Options:
      --events N            events in the log (default 10000000; 1M needs about 0.5 GB, 10M about 5 GB)
      --teams N             teams (default 100000)
      --holds N             open holds (default 20000)
      --tasks N             tasks per pod that consumes name (default 50): a team's before-image is copied
                            whole at its first change in a batch, so its size is part of the undo record's cost
      --batch N             requests per measured batch (default 64)
      --failures N          failed commits measured per batch size (default 20)
      --overhead-batches N  batches in the write-path comparison (default 3000)
      --no-reload           skip timing the refold
    """

struct Options {
    var events = 10_000_000
    var teams = 100_000
    var holds = 20_000
    var tasks = 50
    var batch = 64
    var failures = 20
    var overheadBatches = 3000
    var reload = true
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("tokenledger-rollback-bench: \(message)\n".utf8))
    exit(2)
}

func parseOptions(_ args: [String]) -> Options {
    var o = Options()
    var i = 0
    func count(_ name: String) -> Int {
        i += 1
        guard i < args.count, let v = Int(args[i]), v >= 1 else { fail("\(name) needs a positive integer") }
        return v
    }
    while i < args.count {
        switch args[i] {
        case "--events": o.events = count("--events")
        case "--teams": o.teams = count("--teams")
        case "--holds": o.holds = count("--holds")
        case "--tasks": o.tasks = count("--tasks")
        case "--batch": o.batch = count("--batch")
        case "--failures": o.failures = count("--failures")
        case "--overhead-batches": o.overheadBatches = count("--overhead-batches")
        case "--no-reload": o.reload = false
        case "-h", "--help":
            print(usage)
            exit(0)
        default: fail("unknown argument \(args[i])\n\(usage)")
        }
        i += 1
    }
    guard o.events >= o.teams * 6 + o.holds + 10 * o.batch else { fail("--events too small for the teams and holds") }
    return o
}

func nanos() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

func log(_ s: String) { FileHandle.standardError.write(Data("[rollback-bench] \(s)\n".utf8)) }
func out(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }
func msText(_ n: UInt64) -> String { String(format: "%.3f ms", Double(n) / 1e6) }
func usText(_ n: Double) -> String { String(format: "%.1f µs", n / 1e3) }

/// p50 / p99 / max of a sample, in ms.
func spread(_ xs: [UInt64]) -> String {
    let s = xs.sorted()
    func q(_ p: Double) -> UInt64 { s[min(s.count - 1, Int(Double(s.count) * p))] }
    return "p50 \(msText(q(0.5)))  p99 \(msText(q(0.99)))  max \(msText(s.last!))  (n=\(s.count))"
}

/// The in-memory storage, with a commit that throws on demand and notes when it did: recovery is timed from
/// that instant to the moment `execute` returns.
final class FaultingStorage: LogStorage, @unchecked Sendable {
    struct DiskFull: Error {}
    let inner = InMemoryLogStorage()
    var failNext = false
    private(set) var failedAt: UInt64 = 0

    func head() throws -> (seq: UInt64, hash: [UInt8]) { try inner.head() }
    func lookupKeys(_ keys: [String]) throws -> [String: KeyRecord] { try inner.lookupKeys(keys) }
    func events(from: UInt64, limit: Int) throws -> [StoredEvent] { try inner.events(from: from, limit: limit) }
    func usage() -> (mapSize: Int, mapUsed: Int) { inner.usage() }

    func commit(_ batch: CommitBatch) throws {
        if failNext {
            failNext = false
            failedAt = nanos()
            throw DiskFull()
        }
        // The bench's clock stands still, so no key is old enough to prune; and the in-memory storage prunes by
        // filtering every key (O(keys) per commit, where LMDB prunes a bounded number).
        var b = batch
        b.pruneKeysBefore = nil
        try inner.commit(b)
    }
}

/// SplitMix64: the same requests on every run.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

func parsed(_ line: String) -> LedgerRequest {
    switch RequestParser.parse(Array(line.utf8)) {
    case .success(let r): return r.ledgerRequest
    case .failure(let f): fail("bench request refused by the parser: \(line): \(f.rejection)")
    }
}

/// The three measurements, in order, on one engine and its state.
final class RollbackBench {
    let options: Options
    var rng = SplitMix64(state: 13)
    var keys = 0
    let storage = FaultingStorage()
    let clock = ManualClock(at: Instant(rfc3339: "2026-01-01T06:00:00.000Z")!)
    var engine: LedgerEngine?

    init(options: Options) throws {
        self.options = options
        let quiet = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        engine = try LedgerEngine(storage: storage, clock: clock, config: EngineConfig(), logger: quiet)
    }

    /// A consume on `team` (a random one when nil), with a pod and a task half the time, with a key of its own (every consume has one).
    func consumeLine(team: Int? = nil) -> String {
        let t = team ?? rng.below(options.teams)
        var line =
            #"{"op":"consume","team":"t\#(t)","user":"u\#(rng.below(2))","model":"m","cost":\#(1 + rng.below(9))"#
        if rng.below(2) == 0 { line += #","pod":"p\#(rng.below(2))","task":"k\#(rng.below(options.tasks))""# }
        keys += 1
        return line + #","key":"c\#(keys)"}"#
    }

    /// `n` consumes on distinct random teams.
    func spreadBatch(_ n: Int) -> [LedgerRequest] {
        var teams = Set<Int>()
        while teams.count < min(n, options.teams) { teams.insert(rng.below(options.teams)) }
        return teams.sorted().map { parsed(consumeLine(team: $0)) }
    }

    func run(_ lines: [String]) {
        let answers = engine!.execute(lines.map(parsed))
        for (line, a) in zip(lines, answers) {
            if case .failure(let r) = a { fail("build request refused: \(line): \(r)") }
        }
    }

    // MARK: - Build the state

    func build() {
        let buildStart = nanos()
        var lines: [String] = []
        func flush(_ force: Bool = false) {
            if lines.count >= 4096 || (force && !lines.isEmpty) {
                run(lines)
                lines.removeAll(keepingCapacity: true)
            }
        }
        for t in 0..<options.teams {
            lines.append(#"{"op":"team.create","team":"t\#(t)","plan":"pro"}"#)
            for u in 0..<2 { lines.append(#"{"op":"user.add","team":"t\#(t)","user":"u\#(u)"}"#) }
            for p in 0..<2 { lines.append(#"{"op":"pod.create","team":"t\#(t)","pod":"p\#(p)"}"#) }
            flush()
        }
        for i in 0..<options.holds {
            let t = rng.below(options.teams)
            lines.append(#"{"op":"hold","team":"t\#(t)","user":"u0","model":"m","amount":5,"ttl_seconds":86400,"key":"h\#(i)"}"#)
            flush()
        }
        flush(true)
        // The measurements below append about --overhead-batches batches' worth of events more.
        let target = options.events - Int(engine!.state.head) - options.overheadBatches * options.batch
        var lastReport = nanos()
        for i in 0..<max(0, target) {
            lines.append(consumeLine())
            flush()
            if nanos() - lastReport > 10_000_000_000 {
                lastReport = nanos()
                log("built \(i) consumes of \(target)")
            }
        }
        flush(true)
        let buildNanos = nanos() - buildStart
        let built = engine!.state
        out(
            "== rollback: a state folded from \(built.head) events: \(built.teams.count) teams, "
                + "\(built.holds.count) open holds, up to \(options.tasks) tasks per pod ==")
        out(
            "built through the engine in \(String(format: "%.1f", Double(buildNanos) / 1e9)) s "
                + "(\(Int(Double(built.head) / (Double(buildNanos) / 1e9))) events/s)")
    }

    // MARK: - 1. Recovery of a failed commit

    func recovery() {
        for size in [options.batch, 4096] {
            var recovery: [UInt64] = []
            var failedBatch: [UInt64] = []
            var committed: [UInt64] = []
            for _ in 0..<options.failures {
                let batch = spreadBatch(size)
                let engine = engine!
                let head = engine.state.head
                storage.failNext = true
                let start = nanos()
                let answers = engine.execute(batch)
                let end = nanos()
                let allUnavailable = answers.allSatisfy {
                    if case .failure(let r) = $0 { r.code == .unavailable } else { false }
                }
                guard allUnavailable, engine.state.head == head else {
                    fail("a failed commit did not answer unavailable or moved the head")
                }
                recovery.append(end - storage.failedAt)
                failedBatch.append(end - start)
                let again = nanos()
                _ = engine.execute(batch)
                committed.append(nanos() - again)
                guard engine.state.head > head else { fail("the batch did not commit the second time") }
            }
            out("-- batch of \(size) consumes on distinct teams --")
            out("recovery (commit throws → engine ready): \(spread(recovery))")
            out("the failed batch, whole execute:          \(spread(failedBatch))")
            out("the same batch committed, whole execute:  \(spread(committed))")
        }
    }

    // MARK: - 2. The old recovery: a refold

    func refold() throws {
        let engine = engine!
        let before = engine.state
        let start = nanos()
        try engine.reload()
        let refold = nanos() - start
        guard engine.state == before else { fail("the refold gave another state") }
        out(
            "old recovery (reload: refold and re-hash of \(before.head) events): \(msText(refold)) "
                + "(\(String(format: "%.2f", Double(refold) / Double(before.head) / 1e3)) µs/event)")
    }

    // MARK: - 3. The write path: the undo record per batch

    /// The engine's own batches first (decide, seal, commit in memory), timed; their events are then applied
    /// again to the state they started from, three ways, interleaved so that each way sees the same mix of teams.
    func writePath() throws {
        var startState: LedgerState? = engine!.state
        var ranges: [ClosedRange<UInt64>] = []
        var executeNanos: UInt64 = 0
        for _ in 0..<options.overheadBatches {
            let batch = (0..<options.batch).map { _ in parsed(consumeLine()) }
            let from = engine!.state.head + 1
            let start = nanos()
            _ = engine!.execute(batch)
            executeNanos += nanos() - start
            ranges.append(from...engine!.state.head)
        }
        engine = nil  // its copies of the state go, so that `startState` is the only owner of its storage
        var batches: [[Event]] = []
        for r in ranges {
            let stored = try storage.inner.events(from: r.lowerBound, limit: r.count)
            batches.append(
                try stored.map { s in
                    guard case .object(let o) = try JSONParser.parse(s.bytes) else {
                        fail("seq \(s.seq): not an object")
                    }
                    return try Event(json: o)
                })
        }
        var state = startState!
        startState = nil
        var undo = BatchUndo()
        let scheduler = Scheduler()
        var sums: [UInt64] = [0, 0, 0]
        var counts = [0, 0, 0]
        var rollbacks: [UInt64] = []
        func rollBack() -> UInt64 {
            var hash = HashChain.genesis
            var s = scheduler
            var cursor = state.lastTs
            let start = nanos()
            undo.rollBack(state: &state, headHash: &hash, scheduler: &s, cursor: &cursor)
            return nanos() - start
        }
        func applyRecorded(_ events: [Event]) {
            undo.begin(state: state, headHash: HashChain.genesis, scheduler: scheduler, cursor: state.lastTs)
            for e in events {
                undo.noteBeforeApplying(e, to: state)
                state.apply(e)
            }
        }
        let bigCount = min(64, batches.count / 4)
        for (i, events) in batches.dropLast(bigCount).enumerated() {
            let way = i % 3
            if way == 1 && i % 30 == 4 {
                // The rollback alone; then the batch is applied again, untimed.
                applyRecorded(events)
                rollbacks.append(rollBack())
                for e in events { state.apply(e) }
                continue
            }
            let start = nanos()
            switch way {
            case 0:
                for e in events { state.apply(e) }
            case 1:
                applyRecorded(events)
                undo.commit()
            default:
                let before = state
                for e in events { state.apply(e) }
                withExtendedLifetime(before) {}
            }
            sums[way] += nanos() - start
            counts[way] += 1
        }
        // The last batches as one: the rollback of about 64 × --batch events on as many teams.
        let big = batches.suffix(bigCount).flatMap { $0 }
        applyRecorded(big)
        let teamsTouched = undo.teamsTouched
        let bigRollback = rollBack()

        let mean = (0..<3).map { Double(sums[$0]) / Double(max(1, counts[$0])) }
        let executeMean = Double(executeNanos) / Double(options.overheadBatches)
        func share(_ extra: Double) -> String { String(format: "%.1f", extra / executeMean * 100) }
        out("-- write path, batches of \(options.batch) consumes on random teams (\(counts[0]) batches each way) --")
        out("engine execute per batch (decide, seal, commit in memory): \(usText(executeMean))")
        out("apply only:                       \(usText(mean[0])) per batch")
        out(
            "apply + undo record:              \(usText(mean[1])) per batch  (+\(usText(mean[1] - mean[0])), "
                + "\(share(mean[1] - mean[0]))% of an execute)")
        out(
            "apply after a whole-state copy:   \(usText(mean[2])) per batch  (+\(usText(mean[2] - mean[0])), "
                + "\(share(mean[2] - mean[0]))% of an execute)")
        out("rollback alone, \(options.batch)-consume batch: \(spread(rollbacks))")
        out("rollback alone, \(big.count) events on \(teamsTouched) teams: \(msText(bigRollback))")
    }
}

let options = parseOptions(Array(CommandLine.arguments.dropFirst()))
let bench = try RollbackBench(options: options)
bench.build()
bench.recovery()
if options.reload { try bench.refold() }
try bench.writePath()
