import Dispatch
import Foundation
import LedgerCore
import LedgerJSON
import LedgerProjections
import LedgerProtocol
import LedgerStore
import Logging

/// Parses each line (on the connection's thread), checks the peer's role, and routes: writes
/// and write-side reads go to the writer in order; log reads (`audit`, `verify`, `stats`) and
/// `subscribe` run after everything before them on the connection was committed.
public final class LedgerService: RequestBatchHandler, @unchecked Sendable {
    let writer: Writer
    let reader: LogReader
    let roles: RoleMap
    let logger: Logger
    let started = Date()
    let manualClock: Bool
    let views: ProjectionHub?
    let queries: ViewQueries?
    /// How long `usage` and `report` wait for the read models to reach the head seen on arrival.
    let readWaitMs: Int
    /// Live subscriptions at most (`--max-subscribers`); the next one is answered `unavailable`.
    public var subscribersMax = 64
    /// Runs `backup`; nil where the log is not in LMDB (tests on other storage).
    let backup: LogBackup?
    /// Backups run here, one at a time, never on the writer or the cooperative pool.
    private let backupQueue = DispatchQueue(label: "tokenledger.backup")
    /// Set once the server exists; reports live connections for `stats`.
    public var connectionCount: @Sendable () -> Int = { 0 }
    /// Set once the server exists; request bytes buffered across connections, for `stats`.
    public var bufferedInputBytes: @Sendable () -> Int = { 0 }
    /// The newest stored snapshot, for `stats` (nil: none yet).
    public var newestSnapshot: @Sendable () -> SnapshotInfo? = { nil }
    /// What this start cost, for `stats`; set before serving.
    public var startup = StartupFigures(seconds: 0, snapshotSeq: 0, tailEvents: 0)
    private let readQueue = DispatchQueue(label: "tokenledger.log-reads", attributes: .concurrent)
    /// Live `subscribe` streams, for `stats`.
    public let subscribers = SubscriberGauge()
    /// Requests by op and outcome, counted per batch of lines.
    let requestMetrics: RequestMetrics

    public init(
        writer: Writer, reader: LogReader, roles: RoleMap, manualClock: Bool, views: ProjectionHub? = nil,
        readWaitMs: Int = 1000, backup: LogBackup? = nil, requestMetrics: RequestMetrics = .none, logger: Logger
    ) {
        self.requestMetrics = requestMetrics
        self.backup = backup
        self.views = views
        self.queries = views.map { ViewQueries(store: $0.store) }
        self.readWaitMs = readWaitMs
        self.writer = writer
        self.reader = reader
        self.roles = roles
        self.manualClock = manualClock
        self.logger = logger
    }

    public func handle(_ lines: [[UInt8]], from peer: PeerCredentials) async -> BatchAnswer {
        let role = roles.role(for: peer)
        var out = [[UInt8]](repeating: [], count: lines.count)
        // The requests for the writer and where their answers go; two arrays, so that the
        // requests are handed over as they are, without a copy of each.
        var segment: [LedgerRequest] = []
        var segmentIDs: [JSON?] = []
        var segmentOps: [Op] = []
        var segmentIndices: [Int] = []
        var tally = RequestTally()
        defer { requestMetrics.record(tally) }

        func flush() async {
            guard !segment.isEmpty else { return }
            let answers = await writer.submit(segment)
            for k in segment.indices {
                out[segmentIndices[k]] = Self.encode(id: segmentIDs[k], answers[k])
                tally.add(segmentOps[k], answers[k])
            }
            segment = []
            segmentIDs.removeAll(keepingCapacity: true)
            segmentOps.removeAll(keepingCapacity: true)
            segmentIndices.removeAll(keepingCapacity: true)
        }

        /// `forbidden`, logged with the peer's uid and the op (PROTOCOL §5).
        func refuse(_ id: JSON?, _ op: String) -> [UInt8] {
            let name = role.map(\.description) ?? "none"
            logger.notice(
                "request refused: role",
                metadata: [
                    "peer.uid": "\(peer.uid)", "peer.gid": "\(peer.gid)", "request.op": "\(op)", "peer.role": "\(name)",
                ])
            let who = role.map(\.description) ?? "no role"
            return Self.encode(id: id, .failure(Rejection(.forbidden, "uid \(peer.uid) (\(who)) may not use \(op)")))
        }

        for (i, line) in lines.enumerated() {
            let request: ParsedRequest
            switch RequestParser.parse(line) {
            case .failure(let f):
                // A peer without a role learns nothing but `forbidden`; one with a role is told
                // what is wrong only with a request its role may make. PROTOCOL §2's order:
                // `unknown_op` (a clock op without the manual clock too) before `forbidden`.
                if role != nil, let op = f.op, (op == .clockSet || op == .clockAdvance) && !manualClock {
                    tally.add(op, .unknownOp)
                    out[i] = Self.encode(
                        id: f.id,
                        .failure(Rejection(.unknownOp, "unknown op \"\(op.rawValue)\" (only with --clock manual)")))
                } else if role == nil || f.op.map({ !$0.allows(role!) }) == true {
                    tally.add(f.op, .forbidden)
                    out[i] = refuse(f.id, f.op?.rawValue ?? "(unparsed)")
                } else {
                    tally.add(f.op, f.rejection.code)
                    out[i] = Self.encode(id: f.id, .failure(f.rejection))
                }
                continue
            case .success(let r):
                request = r
            }
            if (request.op == .clockSet || request.op == .clockAdvance) && !manualClock {
                tally.add(request.op, .unknownOp)
                out[i] = Self.encode(
                    id: request.id,
                    .failure(Rejection(.unknownOp, "unknown op \"\(request.op.rawValue)\" (only with --clock manual)")))
                continue
            }
            guard let role, request.op.allows(role) else {
                tally.add(request.op, .forbidden)
                out[i] = refuse(request.id, request.op.rawValue)
                continue
            }
            switch request.body {
            case .query(.usage), .query(.report), .query(.rebuild):
                await flush()
                let answer = await viewRead(request.body)
                tally.add(request.op, answer)
                out[i] = Self.encode(id: request.id, answer)
            case .query(.subscribe(let q)):
                // The stream starts after every earlier write of this connection was committed;
                // the requests after it in the batch are ignored (the connection only streams now).
                await flush()
                // Each subscriber may hold one fetch of lines (256 KiB); their number bounds the total.
                guard subscribers.reserve(limit: subscribersMax) else {
                    tally.add(request.op, .unavailable)
                    out[i] = Self.encode(
                        id: request.id,
                        .failure(
                            Rejection(.unavailable, "subscriber limit (\(subscribersMax)) reached; try again later")))
                    continue
                }
                let stream = LogSubscription(
                    q, storage: reader.storage, heads: writer.heads, readQueue: readQueue, gauge: subscribers,
                    reserved: true)
                tally.add(request.op, nil)
                out[i] = Self.encode(id: request.id, .success(["subscribed": .bool(true)]))
                return BatchAnswer(lines: Array(out[...i]), stream: stream)
            case .query(.backup(let dest)):
                // After the connection's earlier writes were committed, so the copy holds them.
                await flush()
                let answer = await runBackup(dest, peer: peer)
                tally.add(request.op, answer)
                out[i] = Self.encode(id: request.id, answer)
            case .query(.audit), .query(.verify), .query(.stats):
                await flush()
                let answer = await logRead(request.body)
                tally.add(request.op, answer)
                out[i] = Self.encode(id: request.id, answer)
            default:
                segment.append(request.ledgerRequest)
                segmentIDs.append(request.id)
                segmentOps.append(request.op)
                segmentIndices.append(i)
                if segment.count == writer.limits.batchRequestsMax { await flush() }
            }
        }
        await flush()
        return BatchAnswer(lines: out)
    }

    private func logRead(_ body: RequestBody) async -> EngineAnswer {
        let head = writer.head
        let reader = self.reader
        return await withCheckedContinuation { (c: CheckedContinuation<EngineAnswer, Never>) in
            readQueue.async {
                do {
                    switch body {
                    case .query(.audit(let q)):
                        c.resume(returning: .success(.events(try reader.auditPage(q, head: head.seq))))
                    case .query(.verify(let from, let to)):
                        c.resume(returning: .success(.fields(try reader.verify(fromSeq: from, toSeq: to, head: head))))
                    case .query(.stats):
                        c.resume(returning: .success(.fields(self.stats(head: head))))
                    default:
                        c.resume(returning: .failure(Rejection(.internal, "not a log read")))
                    }
                } catch let r as Rejection {
                    c.resume(returning: .failure(r))
                } catch {
                    c.resume(returning: .failure(Rejection(.unavailable, "storage unavailable: \(error)")))
                }
            }
        }
    }

    /// `backup {dest}`: the copy runs on its own queue while the writer goes on; the answer
    /// comes when `dest` holds the whole backup.
    private func runBackup(_ dest: String, peer: PeerCredentials) async -> EngineAnswer {
        guard let backup else { return .failure(Rejection(.unavailable, "backup needs the LMDB log")) }
        logger.notice("backup started", metadata: ["backup.dest": "\(dest)", "peer.uid": "\(peer.uid)"])
        typealias Outcome = Result<BackupReport, BackupError>
        let outcome = await withCheckedContinuation { (c: CheckedContinuation<Outcome, Never>) in
            backupQueue.async {
                do throws(BackupError) {
                    c.resume(returning: .success(try backup.run(destination: dest)))
                } catch {
                    c.resume(returning: .failure(error))
                }
            }
        }
        switch outcome {
        case .success(let r):
            logger.notice(
                "backup finished",
                metadata: [
                    "backup.dest": "\(r.destination)", "ledger.seq": "\(r.seq)", "backup.bytes": "\(r.bytes)",
                    "backup.seconds": "\(String(format: "%.3f", r.seconds))",
                ])
            return .success([
                "dest": .string(r.destination), "seq": .int(r.seq), "head_hash": .string(HashChain.hex(r.headHash)),
                "bytes": .int(Int64(r.bytes)), "log_bytes": .int(Int64(r.logBytes)),
                "seconds": .number(JSONNumber(lexeme: String(format: "%.3f", r.seconds))),
            ])
        case .failure(let e):
            logger.warning("backup refused or failed", metadata: ["backup.dest": "\(dest)", "error": "\(e)"])
            switch e {
            case .destination(let m): return .failure(.badRequest(m))
            case .failed(let m), .busy(let m): return .failure(Rejection(.unavailable, m))
            }
        }
    }

    /// `usage` and `report` wait (up to `--read-wait-ms`) until every read model has folded
    /// the head seen on arrival, then read in one transaction; `rebuild` runs to its end.
    private func viewRead(_ body: RequestBody) async -> EngineAnswer {
        guard let views, let queries else {
            return .failure(Rejection(.unavailable, "the read models are not running"))
        }
        if case .query(.rebuild(let name)) = body {
            var names: [ProjectionName] = []
            if let name {
                guard let n = ProjectionName(rawValue: name) else {
                    let known = ProjectionName.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                    return .failure(.badRequest("\"projection\" must be one of \(known)"))
                }
                names = [n]
            }
            do {
                let r = try await views.rebuild(names)
                logger.notice(
                    "rebuilt read models",
                    metadata: ["projections": "\(r.rebuilt.map(\.rawValue))", "ledger.seq": "\(r.events)"])
                return .success([
                    "rebuilt": .array(r.rebuilt.map { .string($0.rawValue) }), "events": .int(r.events),
                    "seconds": .number(JSONNumber(lexeme: String(format: "%.3f", r.seconds))),
                ])
            } catch let e as ProjectionHub.RebuildError {
                return .failure(Rejection(.unavailable, e.description))
            } catch {
                return .failure(Rejection(.unavailable, "rebuild failed: \(error)"))
            }
        }
        // The read models fold the log without checking its hashes: a broken log serves no figures.
        if let f = writer.integrityFailure { return .failure(f) }
        let head = writer.head.seq
        guard await views.waitFor(head, timeoutMs: readWaitMs) else {
            let at = views.positions.values.min() ?? 0
            return .failure(
                Rejection(
                    .unavailable,
                    "the read models are behind (at seq \(at), head \(head)) after waiting \(readWaitMs) ms"))
        }
        return await withCheckedContinuation { (c: CheckedContinuation<EngineAnswer, Never>) in
            readQueue.async {
                do {
                    switch body {
                    case .query(.usage(let team, let pod)):
                        c.resume(returning: .success(.fields(try queries.usage(team: team, pod: pod))))
                    case .query(.report(let q)):
                        c.resume(returning: .success(.fields(try queries.report(q))))
                    default:
                        c.resume(returning: .failure(Rejection(.internal, "not a read-model read")))
                    }
                } catch let r as Rejection {
                    c.resume(returning: .failure(r))
                } catch {
                    c.resume(returning: .failure(Rejection(.unavailable, "read models unavailable: \(error)")))
                }
            }
        }
    }

    private func stats(head: LogHead) -> JSONObject {
        let usage = reader.storage.usage()
        return [
            "seq": .int(head.seq),
            "head_hash": .string(HashChain.hex(head.hash)),
            "events": .int(head.seq),
            "projections": .object(
                JSONObject(
                    (views?.positions ?? [:]).sorted { $0.key < $1.key }.map { name, seq in
                        (
                            key: name.rawValue,
                            value: .object(["seq": .int(seq), "lag": .int(head.seq > seq ? head.seq - seq : 0)])
                        )
                    })),
            "connections": .int(connectionCount()),
            "uptime_s": .int(Int64(Date().timeIntervalSince(started))),
            "map_size": .int(usage.mapSize),
            "map_used": .int(usage.mapUsed),
            "batches": .int(writer.batchesCommitted),
            "subscribers": .int(subscribers.count),
            "buffered_input_bytes": .int(bufferedInputBytes()),
            "snapshot": newestSnapshot().map { s -> JSON in
                .object(["seq": .int(s.seq), "bytes": .int(s.bytes), "age_s": .int(s.ageSeconds())])
            } ?? .null,
            "startup": .object([
                "seconds": .number(JSONNumber(lexeme: String(format: "%.3f", startup.seconds))),
                "snapshot_seq": .int(startup.snapshotSeq), "tail_events": .int(startup.tailEvents),
            ]),
        ]
    }

    /// `{"id":..,"ok":true,...}` or `{"id":..,"ok":false,"error":{...}}` as one line.
    static func encode(id: JSON?, _ answer: EngineAnswer) -> [UInt8] {
        if case .success(let a) = answer, let line = a.line(id: id) { return line }
        var o = JSONObject()
        if let id { o["id"] = id }
        switch answer {
        case .success(.consume), .success(.check), .success(.events):
            preconditionFailure("written as a line above")
        case .success(.fields(let fields)):
            o["ok"] = .bool(true)
            o.members.append(contentsOf: fields.members)
        case .failure(let r):
            o["ok"] = .bool(false)
            var e: JSONObject = ["code": .string(r.code.rawValue), "message": .string(r.message)]
            if let scope = r.scope { e["scope"] = .string(scope.rawValue) }
            if let seq = r.seq { e["seq"] = .int(seq) }
            o["error"] = .object(e)
        }
        return CanonicalJSON.bytes(.object(o))
    }
}
