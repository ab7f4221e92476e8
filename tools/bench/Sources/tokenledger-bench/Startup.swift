import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Issue 13's start-up benchmark: fills a log to N events with the load's consumes (spread over
/// many teams, users and pods, so the snapshot has a realistic size), then restarts the release
/// daemon on it and times exec → first answered `ping` and exec → read models caught up.
struct StartupConfig {
    var events = 1_000_000
    var teams = 1000
    var usersPerTeam = 10
    var podsPerTeam = 3
    var connections = 16
    var window = 512
    /// Clean restarts timed (the median is reported).
    var restarts = 3
    /// Events appended after the last snapshot before a kill -9: the tail a crash leaves.
    var crashTail = 100_000
    /// Also time a `--verify-on-start full` start (the old cost: fold and hash the whole log).
    var fullBaseline = true
    /// Reuse a data directory filled by an earlier run (`--keep`).
    var reuse: String?
    var snapshotEveryEvents = 1_000_000
    /// The daemon's --snapshot-chunk-kib (nil: its default).
    var snapshotChunkKiB: Int?
}

struct StartupTiming {
    var pingSeconds: Double
    var viewsSeconds: Double
    var stats: String
}

/// Starts the daemon and times it: exec → a `ping` answered, exec → every read model at the head.
func timedStart(
    daemonPath: String, directory: String, extra: [String], log: (String) -> Void
) throws -> (DaemonProcess, StartupTiming) {
    let t0 = nowNanos()
    let daemon = try DaemonProcess(
        executable: daemonPath, directory: directory, clock: "manual", extraArguments: extra, logLevel: "info",
        appendLog: true)
    var fd: Int32 = -1
    while fd < 0 {
        guard daemon.process.isRunning else { throw BenchError("tokenledgerd exited before serving; see \(daemon.logPath)") }
        if let c = try? connectUnix(daemon.socketPath) { fd = c } else { usleep(1000) }
        if Double(nowNanos() - t0) / 1e9 > 1200 { throw BenchError("no socket after 20 minutes") }
    }
    close(fd)
    let conn = try LineConnection(path: daemon.socketPath)
    let ping = try conn.request("{\"op\":\"ping\"}")
    let t1 = nowNanos()
    guard ping.contains("\"ok\":true") else { throw BenchError("ping: \(ping)") }
    var stats = ""
    while true {
        stats = try conn.request("{\"op\":\"stats\"}")
        // Every read model's lag is 0.
        if !stats.contains("\"lag\":") || stats.components(separatedBy: "\"lag\":0").count - 1
            == stats.components(separatedBy: "\"lag\":").count - 1
        {
            break
        }
        usleep(2000)
    }
    let t2 = nowNanos()
    return (daemon, StartupTiming(pingSeconds: Double(t1 - t0) / 1e9, viewsSeconds: Double(t2 - t0) / 1e9, stats: stats))
}

/// Appends consumes until the log holds `target` events: `connections` threads, each writing a
/// window of lines and reading its answers. Keys are unique (`fill-<run>-<conn>-<n>`).
func fillLog(socket: String, target: Int, config: StartupConfig, run: String, log: (String) -> Void) throws {
    let admin = try LineConnection(path: socket)
    guard var head = jsonInt("seq", in: try admin.request("{\"op\":\"ping\"}")) else { throw BenchError("ping") }
    let started = Date()
    final class FailureBox: @unchecked Sendable {
        let lock = NSLock()
        var first: String?
        func note(_ s: String) {
            lock.lock()
            first = first ?? s
            lock.unlock()
        }
    }
    let failure = FailureBox()
    while head < target {
        let base = head
        let todo = min(target - head, 2_000_000)
        let perConnection = (todo + config.connections - 1) / config.connections
        let group = DispatchGroup()
        for c in 0..<config.connections {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                do {
                    let fd = try connectUnix(socket)
                    defer { close(fd) }
                    var sent = 0
                    var pending: [UInt8] = []
                    while sent < perConnection {
                        let n = min(config.window, perConnection - sent)
                        var out: [UInt8] = []
                        out.reserveCapacity(n * 160)
                        for i in 0..<n {
                            let k = base + c * perConnection + sent + i
                            let team = k % config.teams
                            let line =
                                "{\"op\":\"consume\",\"team\":\"t\(team)\",\"user\":\"u\(k / config.teams % config.usersPerTeam)\",\"pod\":\"p\(k % config.podsPerTeam)\",\"task\":\"k\(k % 7)\",\"model\":\"m\",\"cost\":\(1 + k % 5),\"key\":\"f\(run)-\(base)-\(c)-\(sent + i)\"}\n"
                            out.append(contentsOf: line.utf8)
                        }
                        var off = 0
                        while off < out.count {
                            let w = out[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                            if w < 0 { throw BenchError("write: \(errnoText())") }
                            off += w
                        }
                        var answers = 0
                        var buf = [UInt8](repeating: 0, count: 1 << 16)
                        while answers < n {
                            let r = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                            if r <= 0 { throw BenchError("read: \(errnoText())") }
                            pending.append(contentsOf: buf[..<r])
                            while let nl = pending.firstIndex(of: 10) {
                                let answer = pending[..<nl]
                                if !answer.starts(with: Array("{\"ok\":true".utf8)) && !String(decoding: answer, as: UTF8.self).contains("\"ok\":true") {
                                    throw BenchError("answer: \(String(decoding: answer, as: UTF8.self))")
                                }
                                pending.removeSubrange(...nl)
                                answers += 1
                            }
                        }
                        sent += n
                    }
                } catch {
                    failure.note("\(error)")
                }
            }
            thread.start()
        }
        group.wait()
        if let f = failure.first { throw BenchError("fill: \(f)") }
        guard let h = jsonInt("seq", in: try admin.request("{\"op\":\"ping\"}")) else { throw BenchError("ping") }
        head = h
        let rate = Double(head) / Date().timeIntervalSince(started)
        log("filled to \(head) events (\(Int(rate)) events/s so far)")
    }
}

func setUpTeams(socket: String, config: StartupConfig) throws {
    var lines: [String] = []
    for t in 0..<config.teams {
        lines.append("{\"op\":\"team.create\",\"team\":\"t\(t)\",\"plan\":\"enterprise\"}")
        for u in 0..<config.usersPerTeam { lines.append("{\"op\":\"user.add\",\"team\":\"t\(t)\",\"user\":\"u\(u)\"}") }
        for p in 0..<config.podsPerTeam {
            lines.append("{\"op\":\"pod.create\",\"team\":\"t\(t)\",\"pod\":\"p\(p)\",\"budget\":1000000000000}")
        }
    }
    let fd = try connectUnix(socket)
    defer { close(fd) }
    var pending: [UInt8] = []
    var start = 0
    while start < lines.count {
        let window = lines[start..<min(lines.count, start + 512)]
        let bytes = Array(window.map { $0 + "\n" }.joined().utf8)
        var off = 0
        while off < bytes.count {
            let w = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if w < 0 { throw BenchError("write: \(errnoText())") }
            off += w
        }
        var answers = 0
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while answers < window.count {
            let r = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if r <= 0 { throw BenchError("read: \(errnoText())") }
            pending.append(contentsOf: buf[..<r])
            while let nl = pending.firstIndex(of: 10) {
                let answer = String(decoding: pending[..<nl], as: UTF8.self)
                guard answer.contains("\"ok\":true") else { throw BenchError("setup: \(answer)") }
                pending.removeSubrange(...nl)
                answers += 1
            }
        }
        start += window.count
    }
}

/// `mdb_stat -a` per database: pages × page size, when lmdb-utils is installed.
func databaseBytes(_ dataPath: String) -> [(String, Int)] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/mdb_stat")
    p.arguments = ["-a", dataPath]
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return [] }
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    var out: [(String, Int)] = []
    var name = "main"
    var pageSize = 4096
    var pages = 0
    for line in text.split(separator: "\n") {
        let l = line.trimmingCharacters(in: .whitespaces)
        if l.hasPrefix("Page size:") { pageSize = Int(l.split(separator: " ").last ?? "") ?? 4096 }
        if l.hasPrefix("Status of ") {
            if pages > 0 { out.append((name, pages * pageSize)) }
            name = String(l.dropFirst("Status of ".count))
            pages = 0
        }
        for kind in ["Branch pages:", "Leaf pages:", "Overflow pages:"] where l.hasPrefix(kind) {
            pages += Int(l.split(separator: " ").last ?? "") ?? 0
        }
    }
    if pages > 0 { out.append((name, pages * pageSize)) }
    return out
}

func runStartup(daemonPath: String, tmp: String, config c: StartupConfig, keep: Bool) throws {
    let dir: String
    if let reuse = c.reuse {
        dir = reuse
    } else {
        dir = try makeTempDirectory(base: tmp, prefix: "tlstart")
    }
    log("daemon \(daemonPath), data in \(dir)")
    let snapshotFlags =
        ["--snapshot-every-events", "\(c.snapshotEveryEvents)"]
        + (c.snapshotChunkKiB.map { ["--snapshot-chunk-kib", "\($0)"] } ?? [])
    var d = try DaemonProcess(
        executable: daemonPath, directory: dir, clock: "manual=2026-01-01T00:00:00.000Z", extraArguments: snapshotFlags,
        logLevel: "info", appendLog: true)
    try d.waitUntilServing(timeoutSeconds: 1200)
    let admin = try LineConnection(path: d.socketPath)
    let seq0 = jsonInt("seq", in: try admin.request("{\"op\":\"ping\"}")) ?? 0
    if seq0 < c.events {
        if try admin.request("{\"op\":\"balance\",\"team\":\"t0\"}").contains("not_found") {
            try setUpTeams(socket: d.socketPath, config: c)
            log("set up \(c.teams) teams, \(c.teams * c.usersPerTeam) users, \(c.teams * c.podsPerTeam) pods")
        }
        let fillStart = Date()
        try fillLog(socket: d.socketPath, target: c.events, config: c, run: "a\(seq0)", log: log)
        out("fill: \(c.events - seq0) events in \(fmt(Date().timeIntervalSince(fillStart), 1)) s")
    }
    d.stop()

    // Snapshot stalls seen while filling (the daemon logs each snapshot with the longest batch
    // during its write and the longest outside any).
    let daemonLog = (try? String(contentsOfFile: d.logPath, encoding: .utf8)) ?? ""
    var stalls: [Double] = []
    var outside = 0.0
    var sizes: [Int] = []
    var storeMs: [Double] = []
    var during = "?"
    var rest = "?"
    for line in daemonLog.split(separator: "\n") where line.contains("snapshot written") {
        func field(_ name: String) -> String? {
            guard let r = line.range(of: name + "=") else { return nil }
            return String(line[r.upperBound...].prefix { !$0.isWhitespace })
        }
        if let v = field("writer.batch_ms_max").flatMap(Double.init) { stalls.append(v) }
        if let v = field("writer.batch_ms_max_outside").flatMap(Double.init) { outside = max(outside, v) }
        if let v = field("snapshot.bytes").flatMap(Int.init) { sizes.append(v) }
        if let v = field("snapshot.store_ms").flatMap(Double.init) { storeMs.append(v) }
        during = field("writer.batch_ms_during_snapshots") ?? during
        rest = field("writer.batch_ms_outside_snapshots") ?? rest
    }
    out("snapshots written: \(sizes.count), last \(sizes.last ?? 0) bytes; store (chunked puts + commits) max \(fmt(storeMs.max() ?? 0, 1)) ms")
    out("writer batches (decide + commit, ms) while snapshots were written: \(during); outside: \(rest)")
    out("snapshot stall: longest writer batch while a snapshot was written \(fmt(stalls.max() ?? 0, 2)) ms (longest outside any snapshot \(fmt(outside, 2)) ms)")

    // Clean restarts.
    var timings: [StartupTiming] = []
    for i in 0..<c.restarts {
        let (daemon, t) = try timedStart(daemonPath: daemonPath, directory: dir, extra: snapshotFlags, log: log)
        out("restart \(i + 1): exec → ping \(fmt(t.pingSeconds * 1000, 1)) ms, → read models caught up \(fmt(t.viewsSeconds * 1000, 1)) ms; startup \(t.stats.range(of: "\"startup\":").map { String(t.stats[$0.upperBound...].prefix { $0 != "}" }) + "}" } ?? "?")")
        timings.append(t)
        daemon.stop()
        d = daemon
    }
    let sorted = timings.sorted { $0.pingSeconds < $1.pingSeconds }
    let median = sorted[sorted.count / 2]
    let events = jsonInt("events", in: median.stats) ?? c.events
    out("clean restart at \(events) events (median of \(c.restarts)): exec → ping \(fmt(median.pingSeconds, 3)) s, → read models \(fmt(median.viewsSeconds, 3)) s")

    // A crash: `crashTail` events after the last snapshot, then kill -9.
    if c.crashTail > 0 {
        let (daemon, _) = try timedStart(
            daemonPath: daemonPath, directory: dir,
            extra: ["--snapshot-every-events", "\(c.crashTail * 100)", "--snapshot-every-seconds", "100000"], log: log)
        let head = jsonInt("seq", in: try LineConnection(path: daemon.socketPath).request("{\"op\":\"ping\"}")) ?? 0
        try fillLog(socket: daemon.socketPath, target: head + c.crashTail, config: c, run: "c\(head)", log: log)
        daemon.kill9()
        let (after, t) = try timedStart(daemonPath: daemonPath, directory: dir, extra: snapshotFlags, log: log)
        out("kill -9 restart with a \(c.crashTail)-event tail: exec → ping \(fmt(t.pingSeconds, 3)) s, → read models \(fmt(t.viewsSeconds, 3)) s; startup \(t.stats.range(of: "\"startup\":").map { String(t.stats[$0.upperBound...].prefix { $0 != "}" }) + "}" } ?? "?")")
        after.stop()
    }

    // The old cost on the same data: fold and hash the whole log before serving.
    if c.fullBaseline {
        let (daemon, t) = try timedStart(
            daemonPath: daemonPath, directory: dir, extra: snapshotFlags + ["--verify-on-start", "full"], log: log)
        out("baseline --verify-on-start full (the whole log folded before serving): exec → ping \(fmt(t.pingSeconds, 3)) s")
        daemon.stop()
    }

    // On-disk bytes per event.
    let head = try { () throws -> Int in
        let (daemon, _) = try timedStart(daemonPath: daemonPath, directory: dir, extra: snapshotFlags, log: log)
        defer { daemon.stop() }
        return jsonInt("seq", in: try LineConnection(path: daemon.socketPath).request("{\"op\":\"ping\"}")) ?? 1
    }()
    var st = stat()
    stat(dir + "/data/data.mdb", &st)
    let fileBytes = Int(st.st_blocks) * 512
    out("on disk: data.mdb \(fileBytes) bytes allocated for \(head) events = \(fileBytes / max(head, 1)) bytes/event")
    let dbs = databaseBytes(dir + "/data")
    if !dbs.isEmpty {
        out("per database (mdb_stat pages): " + dbs.map { "\($0.0) \($0.1 / max(head, 1))" }.joined(separator: ", ") + " bytes/event")
    }
    if keep || c.reuse != nil {
        log("kept \(dir)")
    } else {
        try? FileManager.default.removeItem(atPath: dir)
    }
}
