import Dispatch
import Foundation
import LedgerCore
import LedgerProtocol
import LedgerStore
import Logging

/// Parses each line (on the connection's thread), checks the peer's role, and routes: writes
/// and write-side reads go to the writer in order; log reads (`audit`, `verify`, `stats`) run
/// after everything before them on the connection was committed.
public final class LedgerService: RequestBatchHandler, @unchecked Sendable {
    let writer: Writer
    let reader: LogReader
    let roles: RoleMap
    let logger: Logger
    let started = Date()
    let manualClock: Bool
    /// Set once the server exists; reports live connections for `stats`.
    public var connectionCount: @Sendable () -> Int = { 0 }
    private let readQueue = DispatchQueue(label: "tokenledger.log-reads", attributes: .concurrent)

    public init(writer: Writer, reader: LogReader, roles: RoleMap, manualClock: Bool, logger: Logger) {
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
        var segment: [ParsedRequest] = []
        var segmentIndices: [Int] = []

        func flush() async {
            guard !segment.isEmpty else { return }
            let answers = await writer.submit(segment)
            for k in segment.indices {
                out[segmentIndices[k]] = Self.encode(id: segment[k].id, answers[k])
            }
            segment = []
            segmentIndices.removeAll(keepingCapacity: true)
        }

        for (i, line) in lines.enumerated() {
            let request: ParsedRequest
            switch RequestParser.parse(line) {
            case .failure(let f):
                out[i] = Self.encode(id: f.id, .failure(f.rejection))
                continue
            case .success(let r):
                request = r
            }
            if (request.op == .clockSet || request.op == .clockAdvance) && !manualClock {
                out[i] = Self.encode(
                    id: request.id,
                    .failure(Rejection(.unknownOp, "unknown op \"\(request.op.rawValue)\" (only with --clock manual)")))
                continue
            }
            guard let role, request.op.allows(role) else {
                logger.notice(
                    "request refused: role",
                    metadata: [
                        "peer.uid": "\(peer.uid)", "peer.gid": "\(peer.gid)", "request.op": "\(request.op.rawValue)",
                        "peer.role": "\(role.map(\.description) ?? "none")",
                    ])
                out[i] = Self.encode(
                    id: request.id,
                    .failure(
                        Rejection(
                            .forbidden,
                            "uid \(peer.uid) (\(role.map(\.description) ?? "no role")) may not use \(request.op.rawValue)"
                        )))
                continue
            }
            switch request.body {
            case .query(.usage), .query(.report), .query(.subscribe), .query(.rebuild):
                out[i] = Self.encode(
                    id: request.id, .failure(Rejection(.unknownOp, "\(request.op.rawValue) is not served yet")))
            case .query(.audit), .query(.verify), .query(.stats):
                await flush()
                out[i] = Self.encode(id: request.id, await logRead(request.body))
            default:
                segment.append(request)
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
                        c.resume(returning: .success(.fields(try reader.audit(q, head: head.seq))))
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

    private func stats(head: LogHead) -> JSONObject {
        let usage = reader.storage.usage()
        return [
            "seq": .int(head.seq),
            "head_hash": .string(HashChain.hex(head.hash)),
            "events": .int(head.seq),
            "projections": .object([:]),
            "connections": .int(connectionCount()),
            "uptime_s": .int(Int64(Date().timeIntervalSince(started))),
            "map_size": .int(usage.mapSize),
            "map_used": .int(usage.mapUsed),
            "batches": .int(writer.batchesCommitted),
        ]
    }

    /// `{"id":..,"ok":true,...}` or `{"id":..,"ok":false,"error":{...}}` as one line.
    static func encode(id: JSON?, _ answer: EngineAnswer) -> [UInt8] {
        if case .success(let a) = answer, let line = a.line(id: id) { return line }
        var o = JSONObject()
        if let id { o["id"] = id }
        switch answer {
        case .success(.consume), .success(.check):
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
