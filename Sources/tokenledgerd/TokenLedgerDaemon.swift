import ArgumentParser
import Foundation
import LedgerCore
import LedgerJSON
import LedgerMetrics
import LedgerProjections
import LedgerProtocol
import LedgerServer
import LedgerStore
import Logging

/// `tokenledgerd`: wiring only. Parses flags, locks the data directory, loads the write
/// side (newest good snapshot + the log's tail), appends what came due while it was down, then
/// serves until SIGTERM/SIGINT.
struct TokenLedgerDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenledgerd",
        abstract: "The TokenLedger daemon: a durable, hash-chained token ledger served over a Unix socket.",
        discussion: """
            Gateways, auditors and ops tools speak newline-delimited JSON to the socket (wire protocol v1,
            see PROTOCOL.md). Every answer to a write is durable: it is sent after the batch's commit.

            Examples:
              tokenledgerd                                   # ./data, ./tokenledger.sock, default catalog
              tokenledgerd --data /var/lib/tokenledger --socket /run/tokenledger/tokenledger.sock \\
                           --socket-group tokenledger --role gateway=@gateways --role auditor=@auditors
              tokenledgerd --clock manual=2026-01-01T00:00:00.000Z    # tests: time moves by clock.set/advance
              tokenledgerd verify-snapshot --data /var/lib/tokenledger   # offline: snapshots = fold of the log
            """
    )

    @Option(name: .customLong("data"), help: ArgumentHelp("Data directory (the LMDB log).", valueName: "dir"))
    var data = "./data"

    @Option(name: .customLong("socket"), help: ArgumentHelp("Unix socket path.", valueName: "path"))
    var socket = "./tokenledger.sock"

    @Option(
        name: .customLong("socket-group"),
        help: ArgumentHelp("Group (name or number) that owns the socket file (mode 0660).", valueName: "group"))
    var socketGroup: String?

    @Option(
        name: .customLong("clock"),
        help: ArgumentHelp(
            "system, or manual[=RFC3339 time] (manual with no time starts at the last event's time).",
            valueName: "system|manual[=T]"))
    var clock = "system"

    @Option(
        name: .customLong("catalog"),
        help: ArgumentHelp(
            "JSON array of price.set objects (without op) replacing the default catalog on the first start.",
            valueName: "file"))
    var catalog: String?

    @Option(
        name: .customLong("role"),
        help: ArgumentHelp(
            "Map peers to a role: ROLE=UID|USER|@GROUP[,...] with ROLE admin, gateway or auditor (repeatable).",
            valueName: "role=who"))
    var role: [String] = []

    @Option(
        name: .customLong("default-daily-limit"),
        help: ArgumentHelp("Daily limit given to teams created without one (-1 = unlimited).", valueName: "n"))
    var defaultDailyLimit: Int64 = -1

    @Option(
        name: .customLong("key-retention-days"),
        help: ArgumentHelp("Days of event time an idempotency key is remembered.", valueName: "n"))
    var keyRetentionDays: Int64 = 30

    @Option(
        name: .customLong("max-line"),
        help: ArgumentHelp("Longest request line in bytes (without the newline).", valueName: "n"))
    var lineMax = 65536

    @Option(name: .customLong("max-connections"), help: ArgumentHelp("Concurrent connections.", valueName: "n"))
    var connectionsMax = 1024

    @Option(
        name: .customLong("read-wait-ms"),
        help: ArgumentHelp("How long usage/report wait for the read models to catch up.", valueName: "n"))
    var readWaitMs = 1000

    @Option(
        name: .customLong("line-timeout-seconds"),
        help: ArgumentHelp(
            "A request line must be finished this long after its first byte, or the connection is closed.",
            valueName: "n"))
    var lineTimeoutSeconds = 10.0

    @Option(
        name: .customLong("idle-timeout-seconds"),
        help: ArgumentHelp(
            "A connection with nothing in flight that sends nothing this long is closed (not a subscriber).",
            valueName: "n"))
    var idleTimeoutSeconds = 600.0

    @Option(
        name: .customLong("max-buffered-input-mib"),
        help: ArgumentHelp(
            "Request bytes buffered across all connections before every connection stops reading (MiB).",
            valueName: "n"))
    var bufferedInputMiBMax = 32

    @Option(
        name: .customLong("max-subscribers"),
        help: ArgumentHelp(
            "Live subscriptions at most (each holds up to 256 KiB of lines for a slow reader).", valueName: "n"))
    var subscribersMax = 64

    @Option(
        name: .customLong("map-size-mib"),
        help: ArgumentHelp(
            "Initial LMDB map of the log in MiB (address space, not disk); it grows online when full.",
            valueName: "n"))
    var mapSizeMiB = 1024

    @Option(
        name: .customLong("max-map-size-mib"),
        help: ArgumentHelp(
            "The log's map never grows past this (MiB); beyond it writes answer unavailable.", valueName: "n"))
    var mapSizeMiBMax = 1 << 20

    @Option(
        name: .customLong("reader-check-seconds"),
        help: ArgumentHelp(
            "How often stale LMDB readers left by killed processes are cleared (also done at start).",
            valueName: "n"))
    var readerCheckSeconds = 60

    @Option(
        name: .customLong("snapshot-every-events"),
        help: ArgumentHelp("Write a snapshot of the write side after this many events.", valueName: "n"))
    var snapshotEveryEvents: UInt64 = 1_000_000

    @Option(
        name: .customLong("snapshot-every-seconds"),
        help: ArgumentHelp(
            "Write a snapshot after this many seconds when the log moved (whichever comes first).",
            valueName: "n"))
    var snapshotEverySeconds = 300.0

    @Option(
        name: .customLong("snapshot-chunk-kib"),
        help: ArgumentHelp(
            "A snapshot is stored in transactions of at most this many KiB, each holding the log's commits for one write and fsync.",
            valueName: "n"))
    var snapshotChunkKiB = 1024

    @Option(
        name: .customLong("verify-on-start"),
        help: ArgumentHelp(
            "tail: check the events after the snapshot before serving; background: that, then the whole log from seq 1 at low priority while serving; full: fold and check the whole log before serving.",
            valueName: "tail|full|background"))
    var verifyOnStart = "background"

    @Option(
        name: .customLong("metrics-listen"),
        help: ArgumentHelp(
            "Serve GET /metrics (Prometheus text format) over HTTP on HOST:PORT, e.g. 127.0.0.1:9464 (empty: off).",
            valueName: "host:port"))
    var metricsListen: String?

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel = "info"

    func validate() throws {
        guard defaultDailyLimit >= -1 && defaultDailyLimit <= Amount.max else {
            throw ValidationError("--default-daily-limit must be -1 or 0..2^53-1")
        }
        guard keyRetentionDays >= 1 else { throw ValidationError("--key-retention-days must be at least 1") }
        guard lineMax >= 64 else { throw ValidationError("--max-line must be at least 64") }
        guard connectionsMax >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard readWaitMs >= 0 else { throw ValidationError("--read-wait-ms must be at least 0") }
        guard mapSizeMiB >= 1 && mapSizeMiB <= 1 << 20 else {
            throw ValidationError("--map-size-mib must be 1..1048576")
        }
        guard mapSizeMiBMax >= mapSizeMiB && mapSizeMiBMax <= 1 << 20 else {
            throw ValidationError("--max-map-size-mib must be at least --map-size-mib and at most 1048576")
        }
        guard lineTimeoutSeconds > 0 && lineTimeoutSeconds <= 86_400 else {
            throw ValidationError("--line-timeout-seconds must be above 0 and at most 86400")
        }
        guard idleTimeoutSeconds > 0 && idleTimeoutSeconds <= 31_536_000 else {
            throw ValidationError("--idle-timeout-seconds must be above 0 and at most 31536000")
        }
        guard bufferedInputMiBMax >= 1 && bufferedInputMiBMax <= 1 << 16 else {
            throw ValidationError("--max-buffered-input-mib must be 1..65536")
        }
        guard bufferedInputMiBMax << 20 > 2 * lineMax else {
            throw ValidationError("--max-buffered-input-mib must hold more than two lines of --max-line")
        }
        guard subscribersMax >= 0 else { throw ValidationError("--max-subscribers must be at least 0") }
        guard readerCheckSeconds >= 1 else { throw ValidationError("--reader-check-seconds must be at least 1") }
        guard snapshotEveryEvents >= 1 else { throw ValidationError("--snapshot-every-events must be at least 1") }
        guard snapshotEverySeconds > 0 && snapshotEverySeconds <= 31_536_000 else {
            throw ValidationError("--snapshot-every-seconds must be above 0 and at most 31536000")
        }
        guard snapshotChunkKiB >= 1 && snapshotChunkKiB <= 1 << 20 else {
            throw ValidationError("--snapshot-chunk-kib must be 1..1048576")
        }
        guard ["tail", "full", "background"].contains(verifyOnStart) else {
            throw ValidationError("--verify-on-start must be tail, full or background")
        }
        if let metricsListen, !metricsListen.isEmpty, metricsAddress == nil {
            throw ValidationError(
                "--metrics-listen \(metricsListen) must be HOST:PORT (IPv6 in brackets), port 0..65535")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel) is unknown")
        }
    }

    func run() async throws {
        let began = Date()
        ShutdownSignal.install()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "tokenledgerd")
        do {
            try await serve(logger: logger, began: began)
        } catch let e as ExitCode {
            throw e
        } catch {
            FileHandle.standardError.write(Data("tokenledgerd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    func makeClock(lastTs: Instant) throws -> any LedgerClock {
        if clock == "system" { return SystemClock() }
        if clock == "manual" { return ManualClock(at: lastTs) }
        if clock.hasPrefix("manual=") {
            let text = String(clock.dropFirst("manual=".count))
            guard let t = Instant(rfc3339: text) else {
                throw DaemonError("--clock \(clock): \(text) is not an RFC 3339 time like 2026-01-01T00:00:00.000Z")
            }
            guard t >= lastTs else {
                throw DaemonError(
                    "--clock \(clock): the log's last event is at \(lastTs.rfc3339); time never goes back")
            }
            return ManualClock(at: t)
        }
        throw DaemonError("--clock must be system, manual or manual=<RFC 3339 time>")
    }

    /// Raises the soft limit on open files to the hard one: every connection is a descriptor,
    /// and `--max-connections` must be reachable, with one `unavailable` line for the next.
    static func raiseOpenFileLimit(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        let before = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            logger.debug(
                "open file limit raised", metadata: ["nofile.from": "\(before)", "nofile.to": "\(limit.rlim_max)"])
        }
    }

    func serve(logger: Logger, began: Date) async throws {
        Self.raiseOpenFileLimit(logger: logger)
        var roles = RoleMap()
        for flag in role { try roles.add(flag: flag) }
        let catalogSpecs = try Catalog.load(path: catalog)

        let lock = try DataDirectoryLock(directory: data)
        let storage = try LMDBLogStorage(
            directory: data, mapSizeBytes: mapSizeMiB << 20, mapSizeBytesMax: mapSizeMiBMax << 20)
        storage.snapshotChunkBytes = snapshotChunkKiB << 10
        let (headSeq, _) = try storage.head()
        let lastTs =
            try storage.events(from: max(headSeq, 1), limit: 1).first.flatMap { stored -> Instant? in
                guard case .object(let o)? = try? JSONParser.parse(stored.bytes) else { return nil }
                return o["ts"]?.stringValue.flatMap(Instant.init(rfc3339:))
            } ?? Instant(ms: 0)
        let clock = try makeClock(lastTs: lastTs)

        var config = EngineConfig()
        config.defaultDailyLimit = defaultDailyLimit
        config.keyRetentionDays = keyRetentionDays
        config.startFromSnapshot = verifyOnStart != "full"
        let engine = try LedgerEngine(storage: storage, clock: clock, config: config, logger: logger)
        let load = engine.lastLoad
        try engine.bootstrap(catalog: catalogSpecs)
        let caughtUp = try engine.tick()

        // Without --metrics-listen nothing is recorded at all (the no-op handles).
        let metrics = metricsAddress.map { _ in DaemonMetrics() }
        let writer = Writer(engine: engine, metrics: metrics.map(Self.writerMetrics) ?? .none, logger: logger)
        var policy = SnapshotPolicy()
        policy.everyEvents = snapshotEveryEvents
        policy.everySeconds = snapshotEverySeconds
        let snapshotter = Snapshotter(storage: storage, policy: policy, logger: logger)
        writer.snapshotter = snapshotter
        let viewStore = try ViewStore(directory: data + "/views")
        if let why = viewStore.discarded {
            logger.warning("read models start over from the log", metadata: ["reason": "\(why)"])
        }
        let views = try ProjectionHub(store: viewStore, log: storage, heads: writer.heads, logger: logger)
        let teamIndex = ViewQueries(store: viewStore)
        let reader = LogReader(storage: storage) { team, from in teamIndex.teamSeq(team: team, from: from) }
        let service = LedgerService(
            writer: writer, reader: reader, roles: roles, manualClock: clock.manual != nil,
            views: views, readWaitMs: readWaitMs, backup: LogBackup(storage: storage, dataDirectory: data),
            requestMetrics: metrics.map(Self.requestMetrics) ?? .none,
            logger: logger)
        let server = UnixSocketServer(
            config: ServerConfig(
                socketPath: socket, socketGroup: socketGroup, lineBytesMax: lineMax, connectionsMax: connectionsMax,
                lineTimeout: .milliseconds(Int64(lineTimeoutSeconds * 1000)),
                idleTimeout: .milliseconds(Int64(idleTimeoutSeconds * 1000)),
                bufferedInputBytesMax: bufferedInputMiBMax << 20,
                pendingBytesPerConnectionMax: min(4 << 20, bufferedInputMiBMax << 20)),
            handler: service, logger: logger)
        service.subscribersMax = subscribersMax
        service.connectionCount = { server.connectionCount }
        service.bufferedInputBytes = { server.inputBudget.usedBytes }
        service.newestSnapshot = { snapshotter.status.newest }
        writer.start()
        views.start()
        do {
            try await server.start()
        } catch {
            writer.stop()
            throw error
        }
        let startup = StartupFigures(
            seconds: Date().timeIntervalSince(began), snapshotSeq: load.snapshotSeq, tailEvents: load.tailEvents)
        service.startup = startup
        logger.info(
            "log loaded; serving",
            metadata: [
                "ledger.seq": "\(engine.state.head)", "ledger.caught_up": "\(caughtUp)",
                "ledger.teams": "\(engine.state.teams.count)", "data.dir": "\(data)",
                "startup.seconds": "\(String(format: "%.3f", startup.seconds))",
                "startup.snapshot_seq": "\(startup.snapshotSeq)", "startup.tail_events": "\(startup.tailEvents)",
                "startup.snapshots_skipped": "\(load.skipped.count)", "verify_on_start": "\(verifyOnStart)",
                "socket.path": "\(socket)", "clock": "\(clock.manual == nil ? "system" : "manual")",
            ])
        var verifier: BackgroundVerifier?
        if verifyOnStart == "background" {
            let v = BackgroundVerifier(storage: storage, snapshotSeq: load.snapshotSeq, logger: logger) {
                writer.reportIntegrityFailure($0)
            }
            v.start()
            verifier = v
        }
        metrics?.recordStartup(seconds: startup.seconds)

        // Until the daemon's parts run in a ServiceGroup (issue 14, item 4), the metrics service
        // runs in a task of its own, cancelled at shutdown.
        var metricsTask: Task<Void, Never>?
        if let metrics, let address = metricsAddress {
            metricsTask = Self.startMetrics(
                metrics, address: address, mapMaxBytes: mapSizeMiBMax << 20, storage: storage, writer: writer,
                views: views, server: server, service: service, logger: logger)
        }

        // Reader slots of processes killed while reading (an ops tool, a backup) would pin old
        // pages and make the file grow: cleared at start by the environment, then periodically.
        let readerCheck = Task.detached { [readerCheckSeconds] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(readerCheckSeconds))
                if Task.isCancelled { break }
                for (name, env) in [("log", storage.env), ("views", viewStore.env)] {
                    do {
                        let cleared = try env.readerCheck()
                        if cleared > 0 {
                            logger.warning(
                                "stale LMDB readers cleared",
                                metadata: ["lmdb.env": "\(name)", "lmdb.readers": "\(cleared)"])
                        }
                    } catch {
                        logger.error(
                            "LMDB reader check failed", metadata: ["lmdb.env": "\(name)", "error": "\(error)"])
                    }
                }
            }
        }

        let signal = await ShutdownSignal.wait()
        readerCheck.cancel()
        await readerCheck.value
        metricsTask?.cancel()
        await metricsTask?.value
        logger.info("stopping", metadata: ["signal": "\(signal)"])
        // Requests not yet started are answered `unavailable`; the batch being committed finishes.
        writer.stop()
        verifier?.stop()
        await server.shutdown()
        await views.stop()
        storage.env.close()
        withExtendedLifetime(lock) {}
        logger.info("stopped", metadata: ["ledger.seq": "\(engine.state.head)"])
    }
}

struct DaemonError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
