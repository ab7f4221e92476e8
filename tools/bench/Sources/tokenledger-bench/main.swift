import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

let usage = """
    usage: tokenledger-bench [all|load|baseline|startup] [options]

    Modes:
      all        (default) load against the daemon, then the raw-LMDB baseline at the daemon's mean batch size
      load       only the daemon load
      baseline   only the raw-LMDB baseline (batch size from --batch)
      startup    issue 13: fill a log to --events, restart the daemon on it, time exec → ping and → read models
                 caught up (clean restarts, a kill -9 with a tail, and the full-fold baseline); snapshot stall;
                 on-disk bytes per event

    Options:
      --daemon PATH        release tokenledgerd (default: <repo>/.build/release/tokenledgerd)
      --daemon-arg FLAG    one more argument for tokenledgerd (repeatable): --daemon-arg --metrics-listen
                           --daemon-arg 127.0.0.1:0 measures with the metrics recorded
      --connections N      client connections, one thread each (default 64)
      --window N           requests in flight per connection (default 256)
      --duration S         measured seconds (default 10)
      --warmup S           warm-up seconds before measuring (default 2)
      --rules              every money rule active: limited pool, daily limits, allocation, team and pod
                           budgets with alerts, consumes naming pod and task (issue 3's bar)
      --max-rate R         requests/s the pre-encoded lines must cover (default 300000); a connection that runs
                           out before the end is reported and the rate is then a lower bound
      --batch N            baseline events per commit (default: the daemon's mean batch; 64 in baseline mode)
      --event-bytes N      baseline event value size (default: measured from the daemon's log; 400 otherwise)
      --tmp DIR            where the data directories go (default $TMPDIR or /tmp; must be a real disk for fsync)
      --keep               keep the data directories and the daemon log
      --min-rate R         bar: acknowledged consumes/s (default 30000)
      --min-ratio X        bar: daemon/baseline (default 0.3)
      --check              exit 3 when a bar is missed
      --events N           startup: events in the log (default 1000000)
      --teams N            startup: teams (10 users, 3 pods each) the consumes spread over (default 1000)
      --restarts N         startup: clean restarts timed (default 3)
      --crash-tail N       startup: events after the last snapshot before a kill -9 (default 100000; 0 skips)
      --no-full-baseline   startup: skip the --verify-on-start full start
      --snapshot-every N   startup: the daemon's --snapshot-every-events while filling and restarting (default 1000000)
      --snapshot-chunk-kib N  startup: the daemon's --snapshot-chunk-kib (default: the daemon's, 1024)
      --reuse DIR          startup: a data directory kept (--keep) from an earlier run
      -h, --help           this text
    """

struct Options {
    var mode = "all"
    var daemon: String?
    /// Extra flags for tokenledgerd (`--daemon-arg`, repeatable), e.g. `--metrics-listen 127.0.0.1:0`.
    var daemonArguments: [String] = []
    var load = LoadConfig()
    var batch: Int?
    var eventBytes: Int?
    var tmp = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    var keep = false
    var minRate = 30_000.0
    var minRatio = 0.3
    var check = false
    var startup = StartupConfig()
}

func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("tokenledger-bench: \(message)\n".utf8))
    exit(code)
}

func parseOptions(_ args: [String]) -> Options {
    var o = Options()
    var i = 0
    func value(_ name: String) -> String {
        i += 1
        guard i < args.count else { fail("\(name) needs a value\n\(usage)") }
        return args[i]
    }
    func number(_ name: String) -> Double {
        let text = value(name)
        guard let v = Double(text), v >= 0, v.isFinite else { fail("\(name): not a number: \(text)") }
        return v
    }
    func count(_ name: String) -> Int {
        let v = number(name)
        guard v >= 1, v == v.rounded() else { fail("\(name): expected a positive integer") }
        return Int(v)
    }
    while i < args.count {
        let a = args[i]
        switch a {
        case "all", "load", "baseline", "startup": o.mode = a
        case "--events": o.startup.events = count(a)
        case "--teams": o.startup.teams = count(a)
        case "--restarts": o.startup.restarts = count(a)
        case "--crash-tail": o.startup.crashTail = Int(number(a))
        case "--no-full-baseline": o.startup.fullBaseline = false
        case "--snapshot-every": o.startup.snapshotEveryEvents = count(a)
        case "--snapshot-chunk-kib": o.startup.snapshotChunkKiB = count(a)
        case "--reuse": o.startup.reuse = value(a)
        case "--daemon": o.daemon = value(a)
        case "--daemon-arg": o.daemonArguments.append(value(a))
        case "--connections": o.load.connections = count(a)
        case "--window": o.load.window = count(a)
        case "--duration": o.load.durationSeconds = number(a)
        case "--warmup": o.load.warmupSeconds = number(a)
        case "--max-rate": o.load.maxRate = number(a)
        case "--rules": o.load.rules = true
        case "--batch": o.batch = count(a)
        case "--event-bytes": o.eventBytes = count(a)
        case "--tmp": o.tmp = value(a)
        case "--keep": o.keep = true
        case "--min-rate": o.minRate = number(a)
        case "--min-ratio": o.minRatio = number(a)
        case "--check": o.check = true
        case "-h", "--help":
            out(usage)
            exit(0)
        default: fail("unknown argument \(a)\n\(usage)")
        }
        i += 1
    }
    guard o.load.durationSeconds > 0 else { fail("--duration must be positive") }
    guard o.load.connections <= 999 else { fail("--connections must be at most 999") }
    return o
}

/// The daemon given, or the release build of the repository this bench lives in (found from this source file's
/// path, then from the working directory).
func findDaemon(_ given: String?) -> String {
    let fm = FileManager.default
    if let given {
        guard fm.isExecutableFile(atPath: given) else { fail("--daemon \(given) is not an executable") }
        return given
    }
    let fromSource = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/release/tokenledgerd").path
    var candidates = [fromSource, "../../.build/release/tokenledgerd", ".build/release/tokenledgerd"]
    var dir = URL(fileURLWithPath: fm.currentDirectoryPath)
    while dir.path != "/" {
        candidates.append(dir.appendingPathComponent(".build/release/tokenledgerd").path)
        dir = dir.deletingLastPathComponent()
    }
    for c in candidates where fm.isExecutableFile(atPath: c) {
        return URL(fileURLWithPath: c).standardizedFileURL.path
    }
    fail("no release tokenledgerd found (tried \(candidates[0])); build it with "
        + "`swift build -c release --product tokenledgerd` in the repository root, or pass --daemon")
}

/// Unbuffered, so that figures show as they come when piped.
func out(_ s: String) {
    FileHandle.standardOutput.write(Data((s + "\n").utf8))
}

func log(_ s: String) {
    FileHandle.standardError.write(Data("[bench] \(s)\n".utf8))
}

func fmt(_ v: Double, _ places: Int = 0) -> String { String(format: "%.\(places)f", v) }
func ms(_ nanos: UInt64) -> String { String(format: "%.3f ms", Double(nanos) / 1e6) }

let options = parseOptions(Array(CommandLine.arguments.dropFirst()))
signal(SIGPIPE, SIG_IGN)

if options.mode == "startup" {
    do {
        try runStartup(daemonPath: findDaemon(options.daemon), tmp: options.tmp, config: options.startup, keep: options.keep)
    } catch {
        fail("\(error)", code: 1)
    }
    exit(0)
}

var loadResult: LoadResult?
var baselineResult: BaselineResult?
var cleanup: [String] = []

do {
    if options.mode != "baseline" {
        let daemonPath = findDaemon(options.daemon)
        let dir = try makeTempDirectory(base: options.tmp, prefix: "tlbench")
        cleanup.append(dir)
        log("daemon \(daemonPath), data in \(dir)")
        let daemon = try DaemonProcess(executable: daemonPath, directory: dir, clock: "manual=2026-01-01T00:00:00.000Z",
            extraArguments: options.daemonArguments)
        let result: LoadResult
        do {
            try daemon.waitUntilServing()
            log("tokenledgerd pid \(daemon.pid) serving on \(daemon.socketPath)")
            result = try runLoad(daemon: daemon, config: options.load, log: log)
        } catch {
            daemon.stop()
            throw error
        }
        let status = daemon.stop()
        if status != 0 { log("tokenledgerd exited with \(status); see \(daemon.logPath)") }
        loadResult = result
        let c = options.load
        let h = result.histogram
        out("== load: \(c.connections) connections, window \(c.window), \(fmt(c.durationSeconds, 1)) s measured after \(fmt(c.warmupSeconds, 1)) s warm-up ==")
        out("acknowledged consumes/s: \(fmt(result.consumesPerSecond))  (\(result.acked) ok answers in the window)")
        out("ack latency: p50 \(ms(h.value(atQuantile: 0.5)))  p99 \(ms(h.value(atQuantile: 0.99)))  p999 \(ms(h.value(atQuantile: 0.999)))  mean \(ms(UInt64(h.mean)))  max \(ms(h.maxValue))")
        out("mean batch size: \(fmt(result.meanBatch, 1)) events per commit  (\(result.eventsAppended) events in \(result.batchesCommitted) batches, \(fmt(Double(result.batchesCommitted) / c.durationSeconds)) commits/s)")
        if let rss = result.rssKiB {
            out("daemon RSS at end: \(fmt(Double(rss) / 1024, 1)) MiB  (peak \(fmt(Double(result.peakRssKiB ?? rss) / 1024, 1)) MiB)")
        }
        out("CPU in the window: daemon \(result.daemonCPUPercent.map { fmt($0) + "%" } ?? "?"), bench client \(fmt(result.benchCPUPercent))% (of one core; \(ProcessInfo.processInfo.activeProcessorCount) cores)")
        let busy = result.daemonThreads.filter { $0.cpuPercent >= 1 }.prefix(6)
        if !busy.isEmpty {
            out("daemon threads in the window (CPU / waiting for a CPU, % of one core): " + busy.map {
                "\($0.name) \(fmt($0.cpuPercent))%/\(fmt($0.runDelayPercent))%"
            }.joined(separator: ", "))
        }
        if let b = result.eventBytes { out("stored consume event: \(b) bytes") }
        if result.failures > 0 {
            out("FAILED ANSWERS: \(result.failures); first: \(result.firstFailure ?? "")")
        }
        if result.exhaustedConnections > 0 {
            out("WARNING: \(result.exhaustedConnections) connections ran out of pre-encoded requests before the end: the rate is a lower bound; raise --max-rate")
        }
    }

    if options.mode != "load" {
        var config = BaselineConfig()
        config.warmupSeconds = options.load.warmupSeconds
        config.durationSeconds = options.load.durationSeconds
        config.batch = options.batch ?? max(1, Int((loadResult?.meanBatch ?? 64).rounded()))
        config.eventBytes = options.eventBytes ?? loadResult?.eventBytes ?? 400
        let dir = try makeTempDirectory(base: options.tmp, prefix: "tlbase")
        cleanup.append(dir)
        log("baseline: \(config.batch) events per commit, \(config.eventBytes)-byte events, data in \(dir)")
        let result = try runBaseline(directory: dir, config: config)
        baselineResult = result
        out("== baseline: raw LMDB puts, \(config.batch) events per commit, \(config.eventBytes)-byte events, one thread ==")
        out("baseline events/s: \(fmt(result.eventsPerSecond))  (\(fmt(result.commitsPerSecond)) commits/s)")
    }
} catch {
    if !options.keep { for d in cleanup { try? FileManager.default.removeItem(atPath: d) } }
    fail("\(error)", code: 1)
}

if options.keep {
    log("kept: \(cleanup.joined(separator: " "))")
} else {
    for d in cleanup { try? FileManager.default.removeItem(atPath: d) }
}

var missed = false
out("== summary ==")
if let l = loadResult { out("consumes/s: \(fmt(l.consumesPerSecond))") }
if let b = baselineResult { out("baseline events/s: \(fmt(b.eventsPerSecond))") }
if let l = loadResult {
    let rateOK = l.consumesPerSecond >= options.minRate && l.failures == 0
    missed = missed || !rateOK
    out("bar >= \(fmt(options.minRate)) acknowledged consumes/s from \(options.load.connections) connections: \(rateOK ? "PASS" : "FAIL")")
}
if let l = loadResult, let b = baselineResult {
    let ratio = l.consumesPerSecond / b.eventsPerSecond
    out("ratio daemon/baseline: \(fmt(ratio, 3))")
    let ratioOK = ratio >= options.minRatio
    missed = missed || !ratioOK
    out("bar >= \(fmt(options.minRatio, 2))x baseline: \(ratioOK ? "PASS" : "FAIL")")
}
if let l = loadResult, l.failures > 0 { exit(1) }
exit(options.check && missed ? 3 : 0)
