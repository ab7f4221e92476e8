import Foundation
import LMDB
import LedgerCore
import LedgerStore
import Logging

/// A serial executor on one dedicated thread: the projectors' LMDB transactions block, so
/// they run here and never on Swift's small cooperative pool.
final class ProjectionExecutor: SerialExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    init(name: String) {
        let t = Thread { [unowned self] in self.loop() }
        t.name = name
        t.stackSize = 8 << 20
        t.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.withLock {
            jobs.append(job)
            condition.signal()
        }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    private func loop() {
        while true {
            let batch: [UnownedJob] = condition.withLock {
                while jobs.isEmpty { condition.wait() }
                defer { jobs.removeAll(keepingCapacity: true) }
                return jobs
            }
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
        }
    }
}

/// Events read and scanned once, for every projector.
public struct FactChunk: Sendable {
    public var facts: [EventFacts] = []
    /// For each `reversed` event of the chunk: the facts of the event it reverses.
    public var originals: [UInt64: EventFacts] = [:]
    public var lastSeq: UInt64 { facts.last?.seq ?? 0 }

    /// Reads up to `limit` events with seq in `from...to`.
    public static func read(_ log: any LogStorage, from: UInt64, to: UInt64, limit: Int) throws -> FactChunk {
        var chunk = FactChunk()
        guard from <= to else { return chunk }
        let stored = try log.events(from: from, limit: Int(min(UInt64(limit), to - from + 1)))
        chunk.facts.reserveCapacity(stored.count)
        var expected = from
        for s in stored {
            guard s.seq == expected else { throw FactsError(seq: expected) }
            let f = try FactScanner.facts(s.bytes, seq: s.seq)
            chunk.facts.append(f)
            if f.kind == .reversed, f.reversesSeq > 0, chunk.originals[f.reversesSeq] == nil {
                guard let o = try log.events(from: f.reversesSeq, limit: 1).first, o.seq == f.reversesSeq else {
                    throw FactsError(seq: f.reversesSeq)
                }
                chunk.originals[f.reversesSeq] = try FactScanner.facts(o.bytes, seq: o.seq)
            }
            expected += 1
        }
        return chunk
    }
}

/// One read model's projector: folds the log from its own checkpoint and writes its rows and
/// checkpoint in one transaction. All projectors share one executor thread.
actor Projector {
    nonisolated let name: ProjectionName
    nonisolated let store: ViewStore
    nonisolated let log: any LogStorage
    nonisolated let executor: ProjectionExecutor
    private(set) var active: Int
    private(set) var checkpoint: UInt64
    private var folder: Folder
    private var rebuilding = false
    private let published: @Sendable (ProjectionName, UInt64) -> Void

    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    init(
        name: ProjectionName, store: ViewStore, log: any LogStorage, executor: ProjectionExecutor,
        published: @escaping @Sendable (ProjectionName, UInt64) -> Void
    ) throws {
        self.name = name
        self.store = store
        self.log = log
        self.executor = executor
        self.published = published
        (active, checkpoint) = try store.position(name)
        folder = Folder(name: name)
    }

    func apply(_ chunk: FactChunk) throws {
        guard chunk.lastSeq > checkpoint else { return }
        var delta = RowDelta()
        let db = store.pairs[name]![active]
        let store = self.store
        for f in chunk.facts where f.seq > checkpoint {
            folder.fold(f, original: chunk.originals[f.reversesSeq], into: &delta) { team in
                try? store.env.read { txn in try txn.get(db, RowDelta.key(team: team, Rows.zone)) }
            }
        }
        let last = chunk.lastSeq
        try store.env.write { txn in
            try delta.write(into: &txn, db)
            try store.setPosition(name, active: active, checkpoint: last, &txn)
        }
        checkpoint = last
        published(name, last)
    }

    /// Marks a rebuild as started and names the shadow database; nil when one is running.
    func beginRebuild() -> Int? {
        guard !rebuilding else { return nil }
        rebuilding = true
        return 1 - active
    }

    func abandonRebuild() { rebuilding = false }

    /// Brings the shadow up to this projector's checkpoint and swaps it in, in one
    /// transaction: readers see the old rows or the new ones, never a mix.
    func finishRebuild(shadow: Int, shadowSeq: UInt64, folder rebuilt: Folder) throws {
        defer { rebuilding = false }
        var f = rebuilt
        var seq = shadowSeq
        let db = store.pairs[name]![shadow]
        var delta = RowDelta()
        while seq < checkpoint {
            let chunk = try FactChunk.read(log, from: seq + 1, to: checkpoint, limit: 4096)
            guard !chunk.facts.isEmpty else { break }
            for e in chunk.facts {
                f.fold(e, original: chunk.originals[e.reversesSeq], into: &delta) { _ in nil }
            }
            seq = chunk.lastSeq
        }
        let target = max(seq, checkpoint)
        try store.env.write { txn in
            try delta.write(into: &txn, db)
            try store.setPosition(name, active: shadow, checkpoint: target, &txn)
        }
        let old = store.pairs[name]![active]
        active = shadow
        checkpoint = target
        folder = f
        try store.env.write { txn in try txn.clear(old) }
        published(name, target)
    }
}

/// Runs the projectors: one feed reads each chunk of new events once, scans it once, and
/// hands it to every projector. Publishes the lowest checkpoint so that `usage` and
/// `report` can wait for the head they saw on arrival.
public final class ProjectionHub: @unchecked Sendable {
    public let store: ViewStore
    let log: any LogStorage
    let heads: HeadWatch
    let logger: Logger
    let executor = ProjectionExecutor(name: "tokenledger-projector")
    let projectors: [ProjectionName: Projector]
    private let checkpoints: Locked<[ProjectionName: UInt64]>
    /// The lowest checkpoint of all projectors.
    public let progress: HeadWatch
    private let rebuildRunning = Locked(false)
    private var feed: Task<Void, Never>?
    /// Events read per chunk when keeping up, and when far behind (after a restart).
    static let liveChunk = 4096
    static let catchUpChunk = 32_768

    public init(store: ViewStore, log: any LogStorage, heads: HeadWatch, logger: Logger) throws {
        self.store = store
        self.log = log
        self.heads = heads
        self.logger = logger
        let head = try log.head().seq
        var positions: [ProjectionName: UInt64] = [:]
        for n in ProjectionName.allCases {
            var c = try store.position(n).checkpoint
            if c > head {
                // The log is older than the views (restored from a backup): start this view over.
                logger.warning(
                    "read model ahead of the log, rebuilding it",
                    metadata: ["projection": "\(n.rawValue)", "projection.seq": "\(c)", "ledger.seq": "\(head)"])
                try store.reset(n)
                c = 0
            }
            positions[n] = c
        }
        checkpoints = Locked(positions)
        progress = HeadWatch(seq: positions.values.min() ?? 0)
        var ps: [ProjectionName: Projector] = [:]
        let box = CheckpointSink()
        for n in ProjectionName.allCases {
            ps[n] = try Projector(name: n, store: store, log: log, executor: executor) { name, seq in
                box.hub?.published(name, seq)
            }
        }
        projectors = ps
        box.hub = self
    }

    private final class CheckpointSink: @unchecked Sendable {
        weak var hub: ProjectionHub?
    }

    fileprivate func published(_ name: ProjectionName, _ seq: UInt64) {
        let low = checkpoints.withLock { c in
            c[name] = seq
            return c.values.min() ?? 0
        }
        progress.publish(low)
    }

    /// Each projection's checkpoint, for `stats`.
    public var positions: [ProjectionName: UInt64] { checkpoints.withLock { $0 } }

    public func start() {
        feed = Task { [self] in await runFeed() }
    }

    /// Stops the feed (after the writer stopped) and marks the views clean on disk.
    public func stop() async {
        feed?.cancel()
        await feed?.value
        store.closeClean()
    }

    private func runFeed() async {
        let any = projectors[.daily]!
        while !Task.isCancelled {
            let low = checkpoints.withLock { $0.values.min() ?? 0 }
            let head = heads.seq
            if head <= low {
                guard await heads.wait(beyond: low) != nil else { return }
                continue
            }
            do {
                let limit =
                    head - low > UInt64(ProjectionHub.catchUpChunk)
                    ? ProjectionHub.catchUpChunk : ProjectionHub.liveChunk
                let chunk = try await any.readChunk(from: low + 1, to: head, limit: limit)
                for n in ProjectionName.allCases { try await projectors[n]!.apply(chunk) }
            } catch {
                logger.error("projection failed, retrying in 1 s", metadata: ["error": "\(error)"])
                try? await Task.sleep(nanoseconds: 1_000_000_000)
            }
        }
    }

    /// Waits until every read model has folded `seq`, at most `timeoutMs`.
    public func waitFor(_ seq: UInt64, timeoutMs: Int) async -> Bool {
        if progress.seq >= seq { return true }
        guard seq > 0 else { return true }
        return await progress.wait(beyond: seq - 1, timeoutMs: timeoutMs)
    }

    public struct RebuildResult: Sendable {
        public var rebuilt: [ProjectionName]
        public var events: UInt64
        public var seconds: Double
    }

    public enum RebuildError: Error, CustomStringConvertible {
        case busy
        public var description: String { "a rebuild is already running" }
    }

    /// Rebuilds the named projections (all when empty) from the log into their shadows, in
    /// one pass over the log, while the live ones keep serving; then swaps each in.
    public func rebuild(_ names: [ProjectionName]) async throws -> RebuildResult {
        let busy = rebuildRunning.withLock { running in
            if running { return true }
            running = true
            return false
        }
        if busy { throw RebuildError.busy }
        defer { rebuildRunning.withLock { $0 = false } }
        let started = Date()
        let list = names.isEmpty ? ProjectionName.allCases : names
        var shadows: [ProjectionName: Int] = [:]
        for n in list {
            guard let shadow = await projectors[n]!.beginRebuild() else {
                for m in shadows.keys { await projectors[m]!.abandonRebuild() }
                throw RebuildError.busy
            }
            shadows[n] = shadow
        }
        do {
            let store = self.store
            let log = self.log
            let targets = shadows
            let (folders, seq) = try await Self.onThread {
                try ProjectionHub.bulk(targets, store: store, log: log, progress: { _, _ in })
            }
            for n in list {
                try await projectors[n]!.finishRebuild(shadow: shadows[n]!, shadowSeq: seq, folder: folders[n]!)
            }
            logger.info(
                "read models rebuilt", metadata: ["projections": "\(list.map(\.rawValue))", "ledger.seq": "\(seq)"])
            return RebuildResult(rebuilt: list, events: seq, seconds: Date().timeIntervalSince(started))
        } catch {
            for n in list { await projectors[n]!.abandonRebuild() }
            throw error
        }
    }

    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            let t = Thread {
                do { c.resume(returning: try body()) } catch { c.resume(throwing: error) }
            }
            t.name = "tokenledger-rebuild"
            t.stackSize = 8 << 20
            t.start()
        }
    }

    /// Folds the whole log (up to its head now) into the given shadow database of each
    /// projection: the log is read and scanned once for all of them, in place, and folded in
    /// memory (`BulkFold`), written out when the fold grows large and at the end. Returns the
    /// fold states and the last seq folded.
    public static func bulk(
        _ targets: [ProjectionName: Int], store: ViewStore, log: any LogStorage,
        chunk: Int = bulkChunk, tallyMax: Int = BulkFold.tallyMax, progress: (UInt64, UInt64) -> Void
    ) throws -> ([ProjectionName: Folder], UInt64) {
        let names = targets.keys.sorted()
        let dbs = names.map { store.pairs[$0]![targets[$0]!] }
        try store.env.write { txn in for db in dbs { try txn.clear(db) } }
        let head = try log.head().seq
        // One thread reads and scans the log (it interns the ids), this one folds and writes:
        // the two halves take about the same time, and the machine has two cores.
        let ids = SharedInterner()
        let channel = BulkChannel(capacity: 2)
        let scanner = Thread { BulkScan.run(log: log, head: head, chunk: chunk, ids: ids, into: channel) }
        scanner.name = "tokenledger-rebuild-scan"
        scanner.stackSize = 8 << 20
        scanner.start()
        defer { channel.close() }
        var fold = BulkFold(names: names, tallyMax: tallyMax)
        var seq: UInt64 = 0
        func flush() throws {
            let deltas = ids.withLock { fold.takeDeltas(ids: $0) }
            try store.env.write { txn in
                for k in names.indices { try deltas[k].write(into: &txn, dbs[k]) }
            }
        }
        while let batch = try channel.take() {
            let facts = batch.facts
            let from = facts[0].seq
            for i in facts.indices {
                let f = facts[i]
                var original: CompactFact?
                if f.kind == .reversed, f.reversesSeq > 0 {
                    let r = f.reversesSeq
                    original = r >= from && r < f.seq ? facts[Int(r - from)] : batch.originals[r]
                    assert(original?.seq == r, "the scanner resolves every original")
                }
                fold.fold(f, original: original, generic: BulkFold.isGeneric(f.kind) ? batch.generic[i] : nil)
            }
            seq = facts[facts.count - 1].seq
            if fold.needsFlush { try flush() }
            progress(seq, head)
        }
        try flush()
        var folders = Dictionary(uniqueKeysWithValues: names.map { ($0, Folder(name: $0)) })
        if fold.wantsPods { folders[.pods] = fold.podsFolder }
        return (folders, seq)
    }

    /// Events scanned per read transaction of a bulk fold.
    public static let bulkChunk = 32_768

    /// Rebuilds with no daemon running (`tokenledger rebuild --data DIR`).
    public static func rebuildOffline(
        _ names: [ProjectionName], store: ViewStore, log: any LogStorage,
        chunk: Int = bulkChunk, tallyMax: Int = BulkFold.tallyMax, progress: (UInt64, UInt64) -> Void
    ) throws -> UInt64 {
        var targets: [ProjectionName: Int] = [:]
        for n in names.isEmpty ? ProjectionName.allCases : names { targets[n] = 1 - (try store.position(n).active) }
        let (_, seq) = try bulk(targets, store: store, log: log, chunk: chunk, tallyMax: tallyMax, progress: progress)
        try store.env.write { txn in
            for (n, shadow) in targets {
                try store.setPosition(n, active: shadow, checkpoint: seq, &txn)
                try txn.clear(store.pairs[n]![1 - shadow])
            }
        }
        store.closeClean()
        return seq
    }
}

extension Projector {
    /// Reads on the projector thread (the feed runs there too).
    func readChunk(from: UInt64, to: UInt64, limit: Int) throws -> FactChunk {
        try FactChunk.read(log, from: from, to: to, limit: limit)
    }
}
