import Glibc
import LedgerCore
import LedgerJSON
import LedgerMemoryStore
import LedgerProtocol
import LedgerServer
import LedgerStore
import Logging
import NIOCore
import NIOEmbedded

/// One fuzz input is the bytes a client sends on one connection. Each step checks a property
/// and stops the process (`preconditionFailure`) when it does not hold, which libFuzzer reports
/// as a crash with the input that caused it:
///
/// 1. The line decoder (driven as NIO's `ByteToMessageHandler` drives it, and for one length in
///    64 through that handler) yields the same frames whether the bytes arrive at once or in
///    small chunks, and the frames a plain reference splitter of PROTOCOL §1 yields; it never
///    keeps more than `max + 1` bytes.
/// 2. Each line through `RequestParser`: when the fast path takes a line, the general parser
///    accepts it with the same id, op, key, body and payload digest.
/// 3. JSON: parse → canonical bytes → parse is a fixed point, and a request that parsed gives
///    the same op, key, body and digest when parsed again from its canonical bytes.
/// 4. The decider: the parsed requests run against an engine on in-memory storage, after a
///    fixed set-up (a team, users, a pod, prices, a top-up). A rejected request appends and
///    changes nothing; a duplicate appends nothing; the same requests as one batch answer the
///    same and reach the same head hash; replaying the stored log gives the same state.
enum FuzzChecks {
    /// Small, so that the fuzzer reaches `.tooLong` with `-max_len 768` (tools/fuzz), yet over
    /// every seed request (the longest is 173 bytes).
    static let lineBytesMax = 256
    /// Requests of one input that reach the engine: enough for a story, bounded for speed.
    static let engineRequestsMax = 64
    /// Clock ops that would take the clock past this much after the start are left out of the
    /// engine run. Under the key retention (30 days) no key is pruned, so one batch and one
    /// request at a time must agree (a pruned key may be forgotten at a different moment, which
    /// PROTOCOL §4 allows: keys are kept "at least" that long); it also keeps inputs fast.
    static let clockReachMs: Int64 = 25 * 86_400_000

    /// How deep each input goes, from `TOKENLEDGER_FUZZ_DEPTH` (tools/fuzz `--depth`): `parse` stops
    /// after checks 1-3, which runs about four times as many inputs per second (7,700 against
    /// 2,078 side by side; the engine's fold and hash chain dominate a deep input); `engine` (the
    /// default) runs all four.
    enum Depth: String { case parse, engine }
    static let depth: Depth = {
        guard let raw = getenv("TOKENLEDGER_FUZZ_DEPTH") else { return .engine }
        guard let d = Depth(rawValue: String(cString: raw)) else {
            preconditionFailure("TOKENLEDGER_FUZZ_DEPTH must be parse or engine")
        }
        return d
    }()

    static func run(_ input: [UInt8]) {
        let expected = referenceFrames(input)
        // About eight writes, their boundaries moving with the input's length (each write costs).
        let chunkBytes = input.count / 8 + input.count % 7 + 1
        precondition(
            decodedFrames(input, chunkBytes: nil) == expected, "decoder (one write) differs from the reference splitter"
        )
        precondition(
            decodedFrames(input, chunkBytes: chunkBytes) == expected,
            "decoder (chunked writes) differs from the reference splitter")
        // Through NIO's handler as the server runs it, for one length in 64: an `EmbeddedChannel`
        // per input was half of a parse-depth input's time (perf), and the handler is NIO's. (Not
        // lengths divisible by 8: inputs of -max_len 768 are frequent.)
        if input.count % 64 == 1 {
            precondition(
                channelFrames(input, chunkBytes: chunkBytes) == expected,
                "decoder (through a channel) differs from the reference splitter")
        }

        var requests: [ParsedRequest] = []
        var clockMs = EngineCheck.start.ms
        for case .line(let line) in expected {
            var general: Result<ParsedRequest, RequestFailure>? = nil
            if let json = try? JSONParser.parse(line) {
                let parsed = RequestParser.parseGeneral(json: json)
                checkJSON(json, general: parsed)
                general = parsed
            }
            if case .success(let request) = checkParser(line, general: general), depth == .engine,
                requests.count < engineRequestsMax, keepsClockInReach(request, clockMs: &clockMs)
            {
                requests.append(request)
            }
        }
        if !requests.isEmpty { EngineCheck.run(requests) }
    }

    // MARK: - 1. Line decoder

    /// The decoder driven the way `ByteToMessageHandler` drives it: each write appended to one
    /// buffer, frames taken while the decoder says `.continue`, the rest checked against the
    /// handler's `maximumBufferSize` (`max + 1`), and the end of the stream at the end.
    static func decodedFrames(_ input: [UInt8], chunkBytes: Int?) -> [LineFrame] {
        var decoder = LineFrameDecoder(lineBytesMax: lineBytesMax)
        var buffer = ByteBuffer()
        var frames: [LineFrame] = []
        var start = 0
        let step = chunkBytes ?? max(input.count, 1)
        while start < input.count {
            let end = min(input.count, start + step)
            buffer.writeBytes(input[start..<end])
            frames += decoder.nextFrames(&buffer)
            precondition(buffer.readableBytes <= lineBytesMax + 1, "the decoder kept more than max + 1 bytes")
            buffer.discardReadBytes()
            start = end
        }
        return frames + decoder.nextLast(&buffer)
    }

    /// The same through NIO's `ByteToMessageHandler` on an `EmbeddedChannel`.
    static func channelFrames(_ input: [UInt8], chunkBytes: Int) -> [LineFrame] {
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(
                LineFrameDecoder(lineBytesMax: lineBytesMax), maximumBufferSize: lineBytesMax + 1))
        var frames: [LineFrame] = []
        func drain() {
            // A buffer over `maximumBufferSize` would surface here as an error: the decoder's bound broken.
            do {
                while let f = try channel.readInbound(as: LineFrame.self) { frames.append(f) }
            } catch {
                preconditionFailure("decoder error: \(error)")
            }
        }
        var start = 0
        while start < input.count {
            let end = min(input.count, start + chunkBytes)
            do {
                try channel.writeInbound(channel.allocator.buffer(bytes: input[start..<end]))
            } catch {
                preconditionFailure("decoder error on write: \(error)")
            }
            drain()
            start = end
        }
        _ = try? channel.finish()
        drain()
        return frames
    }

    /// PROTOCOL §1, written plainly: lines end at `\n`, one `\r` before it is dropped, empty lines
    /// are skipped, a line over the limit is `.tooLong` and ends the stream, half a line at EOF is
    /// dropped unless it is already certain to be over the limit.
    static func referenceFrames(_ input: [UInt8]) -> [LineFrame] {
        var frames: [LineFrame] = []
        var rest = input[...]
        while let nl = rest.firstIndex(of: 0x0A) {
            var line = rest[..<nl]
            if line.last == 0x0D { line = line.dropLast() }
            if line.count > lineBytesMax { return frames + [.tooLong] }
            if !line.isEmpty { frames.append(.line(Array(line))) }
            rest = rest[(nl + 1)...]
        }
        if rest.count > lineBytesMax + 1 || (rest.count == lineBytesMax + 1 && rest.last != 0x0D) {
            frames.append(.tooLong)
        }
        return frames
    }

    // MARK: - 2. Request parser

    /// `general` is `RequestParser.parseGeneral(line)` when the line is JSON (nil when it is not);
    /// the result is what `RequestParser.parse` answers: the fast path when it takes the line.
    static func checkParser(_ line: [UInt8], general: Result<ParsedRequest, RequestFailure>?)
        -> Result<ParsedRequest, RequestFailure>?
    {
        guard let fast = FastRequestParser.parse(line) else { return general }
        guard case .success(let general)? = general else {
            preconditionFailure("the fast path accepted a line that the general parser refuses")
        }
        precondition(fast.id == general.id, "fast and general parsers differ on id")
        precondition(fast.op == general.op, "fast and general parsers differ on op")
        precondition(fast.key == general.key, "fast and general parsers differ on key")
        precondition(fast.body == general.body, "fast and general parsers differ on body")
        precondition(fast.payloadDigest == general.payloadDigest, "fast and general parsers differ on digest")
        return .success(fast)
    }

    // MARK: - 3. JSON and its canonical form

    /// `value` is the line parsed as JSON and `general` the general parser's answer on it.
    static func checkJSON(_ value: JSON, general: Result<ParsedRequest, RequestFailure>) {
        let canonical = CanonicalJSON.bytes(value)
        guard let again = try? JSONParser.parse(canonical) else {
            preconditionFailure("canonical bytes do not parse")
        }
        precondition(CanonicalJSON.bytes(again) == canonical, "canonical JSON is not a fixed point")
        guard case .success(let request) = general else { return }
        guard case .success(let fromCanonical) = RequestParser.parseGeneral(json: again) else {
            preconditionFailure("a request refused once written canonically")
        }
        precondition(
            request.op == fromCanonical.op && request.key == fromCanonical.key && request.body == fromCanonical.body
                && request.payloadDigest == fromCanonical.payloadDigest,
            "a request parses differently from its canonical bytes")
    }

    /// Whether `request` keeps the clock (at most `clockMs`, updated) within `clockReachMs` of the start.
    static func keepsClockInReach(_ request: ParsedRequest, clockMs: inout Int64) -> Bool {
        let target: Int64
        switch request.body {
        case .query(.clockAdvance(let seconds)): target = clockMs + seconds * 1000
        case .query(.clockSet(let at)): target = max(clockMs, at.ms)
        default: return true
        }
        guard target - EngineCheck.start.ms <= clockReachMs else { return false }
        clockMs = target
        return true
    }
}

/// The decider on parsed requests.
enum EngineCheck {
    static let start = Instant(rfc3339: "2026-03-10T09:00:00.000Z")!
    static let setUp: [ParsedRequest] = [
        #"{"op":"team.create","team":"acme","plan":"starter","daily_limit":200000}"#,
        #"{"op":"team.create","team":"zeta","timezone":"Europe/Madrid"}"#,
        #"{"op":"user.add","team":"acme","user":"ann"}"#,
        #"{"op":"user.add","team":"acme","user":"bob","daily_limit":500}"#,
        #"{"op":"user.add","team":"zeta","user":"zed"}"#,
        #"{"op":"pod.create","team":"acme","pod":"p1","budget":1000,"budget_action":"pause"}"#,
        #"{"op":"price.set","model":"gpt","kind":"text","input_weight":1,"output_weight":3}"#,
        #"{"op":"price.set","model":"sd","kind":"image","base":10,"factors":{"resolution":{"1024x1024":1.5}},"per_steps":25}"#,
        #"{"op":"topup","team":"acme","amount":1000,"key":"setup-topup"}"#,
    ].map { line in
        guard case .success(let r) = RequestParser.parse(Array(line.utf8)) else {
            preconditionFailure("set-up request does not parse: \(line)")
        }
        return r
    }
    static let logger = Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }

    /// The log after the set-up, made once: each input starts an engine on a copy of it, which
    /// also folds and hash-checks those events the way a daemon's start does.
    static let setUpLog: InMemoryLogStorage = {
        let storage = InMemoryLogStorage()
        let engine = startEngine(on: storage)
        let answers = engine.execute(setUp.map(\.ledgerRequest))
        for case .failure(let r) in answers { preconditionFailure("set-up refused: \(r)") }
        return storage
    }()

    static func startEngine(on storage: InMemoryLogStorage) -> LedgerEngine {
        do {
            return try LedgerEngine(
                storage: storage, clock: ManualClock(at: start), config: EngineConfig(), logger: logger)
        } catch {
            preconditionFailure("engine did not start: \(error)")
        }
    }

    static func makeEngine() -> (LedgerEngine, InMemoryLogStorage) {
        let storage = InMemoryLogStorage(copying: setUpLog)
        return (startEngine(on: storage), storage)
    }

    static func rendered(_ a: EngineAnswer) -> [UInt8] {
        switch a {
        case .success(let answer): CanonicalJSON.bytes(.object(answer.object))
        case .failure(let r): Array("\(r.code) \(r.scope.map { "\($0)" } ?? "") \(r.message)".utf8)
        }
    }

    static func run(_ requests: [ParsedRequest]) {
        // One request per batch: each rejection must leave everything as it was.
        let (engine, storage) = makeEngine()
        var answers: [EngineAnswer] = []
        for request in requests {
            let state = engine.state
            let hash = engine.headHash
            let count = storage.eventCount
            let answer = engine.execute([request.ledgerRequest])[0]
            answers.append(answer)
            switch answer {
            case .failure:
                precondition(storage.eventCount == count, "a rejected request appended an event")
                precondition(engine.headHash == hash, "a rejected request moved the head")
                precondition(engine.state == state, "a rejected request changed the state")
            case .success(let a):
                if a.object["duplicate"] == .bool(true) {
                    precondition(storage.eventCount == count, "a duplicate appended an event")
                }
            }
        }

        // The same requests as one batch: the same answers, the same log.
        let (batchEngine, _) = makeEngine()
        let batchAnswers = batchEngine.execute(requests.map(\.ledgerRequest))
        precondition(batchAnswers.count == requests.count, "a batch answered a different number of requests")
        for (a, b) in zip(answers, batchAnswers) {
            precondition(rendered(a) == rendered(b), "one batch answers differently from one request at a time")
        }
        precondition(batchEngine.headHash == engine.headHash, "one batch stored a different log")

        // Replay: a new engine on the stored log folds to the same state.
        let replayed = startEngine(on: storage)
        precondition(replayed.state == engine.state, "replaying the log gives a different state")
        precondition(replayed.headHash == engine.headHash, "replaying the log gives a different head hash")
    }
}

#if FUZZING
    import CFuzzDriver

    /// libFuzzer's driver with the checks as its callback. The coverage instrumentation is in this
    /// package's targets only (Package.swift), so SwiftPM builds this as a plain executable (its
    /// entry point renamed) and the driver is started here rather than from libFuzzer's `main`.
    @main
    enum FuzzMain {
        static func main() {
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(
                LLVMFuzzerRunDriver(&argc, &argv) { data, size in
                    FuzzChecks.run(Array(UnsafeBufferPointer(start: data, count: size)))
                    return 0
                })
        }
    }
#else
    import Foundation

    func readFile(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    /// Without libFuzzer (a normal build): replays the files named on the command line through
    /// the same checks, so a crash input reproduces in a debug build (`swift run tokenledger-fuzz FILE`).
    @main
    enum ReplayMain {
        static func main() throws {
            let paths = CommandLine.arguments.dropFirst()
            if paths.isEmpty {
                print("usage: tokenledger-fuzz FILE...  (tools/fuzz builds the libFuzzer target)")
            }
            for path in paths {
                guard let bytes = readFile(path) else {
                    print("cannot read \(path)")
                    continue
                }
                FuzzChecks.run(bytes)
                print("ok \(path) (\(bytes.count) bytes)")
            }
        }
    }
#endif
