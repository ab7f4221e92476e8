import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

struct LoadConfig {
    var connections = 64
    var window = 256
    var warmupSeconds = 2.0
    var durationSeconds = 10.0
    /// Sizes the pre-encoded requests: each connection gets enough for this aggregate rate over warm-up + duration.
    var maxRate = 300_000.0
    var team = "bench"
    var user = "u1"
    /// Every money rule active (issue 3's bar): a limited pool, team and user daily limits, an
    /// allocation, a team budget and a pod budget with alerts, and consumes naming pod and task.
    /// The limits are far above what a run spends, so nothing is refused.
    var rules = false
}

/// When the measurement runs; written by the main thread before the start signal, read-only afterwards.
final class Timing: @unchecked Sendable {
    var measureStart: UInt64 = 0
    var measureEnd: UInt64 = 0
}

/// One pipelining client on its own thread. Its requests are encoded before the clock starts as one contiguous
/// buffer of fixed-length lines (so line `i` is bytes `i*L ..< (i+1)*L` and no formatting happens while measuring).
final class LoadConnection: @unchecked Sendable {
    let index: Int
    let lines: [UInt8]
    let lineLength: Int
    let lineCount: Int
    let window: Int

    // Results, read by the main thread after the thread has finished.
    var histogram = Histogram()
    var ackedInWindow = 0
    var answered = 0
    var failures = 0
    var firstFailure: String?
    var exhaustedBeforeEnd = false
    var error: String?

    init(index: Int, team: String, user: String, count: Int, window: Int, rules: Bool = false) {
        self.index = index
        self.window = window
        let tags = rules ? "\"pod\":\"p\",\"task\":\"t\(index)\"," : ""
        let prefix = Array("{\"op\":\"consume\",\"team\":\"\(team)\",\"user\":\"\(user)\",\(tags)\"model\":\"m\",\"cost\":1,\"key\":\"".utf8)
        let suffix = Array("\"}\n".utf8)
        let connDigits = 3, seqDigits = 9
        let length = prefix.count + connDigits + 1 + seqDigits + suffix.count
        var buffer = [UInt8](repeating: 0, count: length * count)
        buffer.withUnsafeMutableBufferPointer { out in
            var at = 0
            for n in 0..<count {
                for b in prefix { out[at] = b; at += 1 }
                var c = index
                for k in stride(from: connDigits - 1, through: 0, by: -1) { out[at + k] = UInt8(48 + c % 10); c /= 10 }
                at += connDigits
                out[at] = UInt8(ascii: "-"); at += 1
                var s = n
                for k in stride(from: seqDigits - 1, through: 0, by: -1) { out[at + k] = UInt8(48 + s % 10); s /= 10 }
                at += seqDigits
                for b in suffix { out[at] = b; at += 1 }
            }
        }
        lines = buffer
        lineLength = length
        lineCount = count
    }

    /// Connects, waits for `start`, then keeps up to `window` requests in flight until `timing.measureEnd`,
    /// then drains what is in flight.
    func run(socketPath: String, ready: DispatchSemaphore, start: DispatchSemaphore, timing: Timing) {
        let fd: Int32
        do {
            fd = try connectUnix(socketPath, nonBlocking: true)
        } catch {
            self.error = "\(error)"
            ready.signal()
            return
        }
        defer { close(fd) }
        ready.signal()
        start.wait()
        let measureStart = timing.measureStart, measureEnd = timing.measureEnd

        var sendTimes = [UInt64](repeating: 0, count: window)
        var sentBytes = 0
        var readBuffer = [UInt8](repeating: 0, count: 1 << 18)
        var carry: [UInt8] = []
        carry.reserveCapacity(4096)
        let okNeedle = Array("\"ok\":true".utf8)
        var drainDeadline: UInt64 = 0

        lines.withUnsafeBytes { lineBytes in
            readBuffer.withUnsafeMutableBytes { rb in
                okNeedle.withUnsafeBytes { needle in
                    loop: while true {
                        var progressed = false
                        var writeBlocked = false
                        let now = nowNanos()
                        let sentLines = sentBytes / lineLength
                        // Send while measuring; after the end only finish a line already begun.
                        let limitLine: Int
                        if now < measureEnd {
                            limitLine = min(answered + window, lineCount)
                            if limitLine == lineCount && sentBytes == lineCount * lineLength && !exhaustedBeforeEnd {
                                exhaustedBeforeEnd = true
                            }
                        } else {
                            limitLine = (sentBytes + lineLength - 1) / lineLength
                            if drainDeadline == 0 { drainDeadline = now + 60_000_000_000 }
                        }
                        let limitBytes = limitLine * lineLength
                        if sentBytes < limitBytes {
                            let n = write(fd, lineBytes.baseAddress! + sentBytes, limitBytes - sentBytes)
                            if n > 0 {
                                let t = nowNanos()
                                let newSent = sentBytes + n
                                for i in sentLines..<(newSent / lineLength) { sendTimes[i % window] = t }
                                sentBytes = newSent
                                progressed = true
                            } else if n < 0 && errno != EAGAIN && errno != EINTR {
                                error = "write: \(errnoText())"
                                break loop
                            } else {
                                writeBlocked = true
                            }
                        }

                        let n = read(fd, rb.baseAddress!, rb.count)
                        if n > 0 {
                            progressed = true
                            let t = nowNanos()
                            let inWindow = t >= measureStart && t <= measureEnd
                            var segStart = 0
                            let base = rb.baseAddress!.assumingMemoryBound(to: UInt8.self)
                            while let hit = memchr(base + segStart, 10, n - segStart) {
                                let nl = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
                                let ok: Bool
                                if carry.isEmpty {
                                    ok = contains(UnsafeRawPointer(base + segStart), nl - segStart, needle)
                                    if !ok { noteFailure(UnsafeRawBufferPointer(start: base + segStart, count: nl - segStart)) }
                                } else {
                                    carry.append(contentsOf: UnsafeRawBufferPointer(start: base + segStart, count: nl - segStart))
                                    ok = carry.withUnsafeBytes { contains($0.baseAddress!, $0.count, needle) }
                                    if !ok { carry.withUnsafeBytes { noteFailure($0) } }
                                    carry.removeAll(keepingCapacity: true)
                                }
                                guard answered < sentBytes / lineLength else {
                                    error = "an answer arrived for a request not yet sent"
                                    break loop
                                }
                                if inWindow {
                                    histogram.record(t &- sendTimes[answered % window])
                                    ackedInWindow += 1
                                }
                                answered += 1
                                segStart = nl + 1
                            }
                            if segStart < n {
                                carry.append(contentsOf: UnsafeRawBufferPointer(start: base + segStart, count: n - segStart))
                            }
                        } else if n == 0 {
                            if now < measureEnd || answered < sentBytes / lineLength {
                                error = "the daemon closed the connection (\(answered) answered)"
                            }
                            break loop
                        } else if errno != EAGAIN && errno != EINTR {
                            error = "read: \(errnoText())"
                            break loop
                        }

                        if now >= measureEnd && sentBytes % lineLength == 0 && answered == sentBytes / lineLength {
                            break loop
                        }
                        if drainDeadline != 0 && now > drainDeadline {
                            error = "\(sentBytes / lineLength - answered) answers still missing 60 s after the end"
                            break loop
                        }
                        if !progressed {
                            var p = pollfd(fd: fd, events: Int16(POLLIN) | (writeBlocked ? Int16(POLLOUT) : 0), revents: 0)
                            _ = poll(&p, 1, 20)
                        }
                    }
                }
            }
        }
    }

    private func noteFailure(_ line: UnsafeRawBufferPointer) {
        failures += 1
        if firstFailure == nil { firstFailure = String(decoding: line, as: UTF8.self) }
    }
}

struct LoadResult {
    var consumesPerSecond: Double
    var acked: Int
    var measuredSeconds: Double
    var histogram: Histogram
    var failures: Int
    var firstFailure: String?
    var exhaustedConnections: Int
    var eventsAppended: Int
    var batchesCommitted: Int
    var meanBatch: Double
    var eventBytes: Int?
    var rssKiB: Int?
    var peakRssKiB: Int?
    var daemonCPUPercent: Double?
    var benchCPUPercent: Double
    var daemonThreads: [(name: String, threads: Int, cpuPercent: Double, runDelayPercent: Double)]
}

/// utime + stime of `pid` in seconds, from /proc/PID/stat.
func processCPUSeconds(pid: Int32) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command: state(0) ppid(1) ... utime(11) stime(12).
    guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
    return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func selfCPUSeconds() -> Double {
    var usage = rusage()
    #if canImport(Glibc)
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    func secs(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Sets up the team, runs the load, and reads `stats` and memory before the daemon is stopped.
func runLoad(daemon: DaemonProcess, config: LoadConfig, log: (String) -> Void) throws -> LoadResult {
    let admin = try LineConnection(path: daemon.socketPath)
    let huge = 1_000_000_000_000
    let setup =
        config.rules
        ? [
            "{\"op\":\"plan.define\",\"plan\":\"bench\",\"monthly_tokens\":\(huge),\"max_pods\":-1,\"max_members\":-1}",
            "{\"op\":\"team.create\",\"team\":\"\(config.team)\",\"plan\":\"bench\",\"daily_limit\":\(huge)}",
            "{\"op\":\"team.configure\",\"team\":\"\(config.team)\",\"monthly_budget\":\(huge),\"budget_action\":\"pause\",\"alert_at\":[50,75,90,100]}",
            "{\"op\":\"user.add\",\"team\":\"\(config.team)\",\"user\":\"\(config.user)\",\"daily_limit\":\(huge)}",
            "{\"op\":\"user.assign\",\"team\":\"\(config.team)\",\"user\":\"\(config.user)\",\"amount\":\(huge)}",
            "{\"op\":\"pod.create\",\"team\":\"\(config.team)\",\"pod\":\"p\",\"budget\":\(huge),\"budget_action\":\"block_new_tasks\"}",
        ]
        : [
            "{\"op\":\"team.create\",\"team\":\"\(config.team)\",\"plan\":\"enterprise\"}",
            "{\"op\":\"user.add\",\"team\":\"\(config.team)\",\"user\":\"\(config.user)\"}",
        ]
    for request in setup {
        let answer = try admin.request(request)
        guard answer.contains("\"ok\":true") else { throw BenchError("setup \(request) failed: \(answer)") }
    }
    let before = try admin.request("{\"op\":\"stats\"}")
    guard let events0 = jsonInt("events", in: before), let batches0 = jsonInt("batches", in: before) else {
        throw BenchError("stats has no events/batches: \(before)")
    }

    let perConnection =
        Int((config.maxRate * (config.warmupSeconds + config.durationSeconds) / Double(config.connections)).rounded(.up))
        + config.window
    let mib = Double(perConnection * config.connections * 90) / 1_048_576
    log("pre-encoding \(perConnection) requests for each of \(config.connections) connections (~\(Int(mib)) MiB)")
    var connections: [LoadConnection] = []
    for i in 0..<config.connections {
        connections.append(
            LoadConnection(
                index: i, team: config.team, user: config.user, count: perConnection, window: config.window,
                rules: config.rules))
    }

    let ready = DispatchSemaphore(value: 0)
    let start = DispatchSemaphore(value: 0)
    let timing = Timing()
    let done = DispatchGroup()
    let socketPath = daemon.socketPath
    for c in connections {
        done.enter()
        let t = Thread {
            c.run(socketPath: socketPath, ready: ready, start: start, timing: timing)
            done.leave()
        }
        t.stackSize = 1 << 20
        t.start()
    }
    for _ in connections { ready.wait() }
    if let e = connections.compactMap(\.error).first { throw BenchError("connect: \(e)") }

    let t0 = nowNanos()
    timing.measureStart = t0 + UInt64(config.warmupSeconds * 1e9)
    timing.measureEnd = timing.measureStart + UInt64(config.durationSeconds * 1e9)
    log("running: \(config.warmupSeconds) s warm-up, then \(config.durationSeconds) s measured")
    for _ in connections { start.signal() }

    // CPU of both sides over the measured window only.
    var daemonCPU0: Double?, daemonCPU1: Double?, benchCPU0 = 0.0, benchCPU1 = 0.0
    var statsStart: String?
    sleepUntil(timing.measureStart)
    daemonCPU0 = processCPUSeconds(pid: daemon.pid)
    let threads0 = threadSamples(pid: daemon.pid)
    benchCPU0 = selfCPUSeconds()
    statsStart = try? admin.request("{\"op\":\"stats\"}")
    sleepUntil(timing.measureEnd)
    daemonCPU1 = processCPUSeconds(pid: daemon.pid)
    let threads1 = threadSamples(pid: daemon.pid)
    benchCPU1 = selfCPUSeconds()
    let statsEnd = try? admin.request("{\"op\":\"stats\"}")
    done.wait()

    if let e = connections.compactMap(\.error).first { throw BenchError("load connection failed: \(e)") }
    var histogram = Histogram()
    var acked = 0, failures = 0, exhausted = 0
    var firstFailure: String?
    for c in connections {
        histogram.merge(c.histogram)
        acked += c.ackedInWindow
        failures += c.failures
        if c.exhaustedBeforeEnd { exhausted += 1 }
        if firstFailure == nil { firstFailure = c.firstFailure }
    }

    let after = try admin.request("{\"op\":\"stats\"}")
    guard let events1 = jsonInt("events", in: after), let batches1 = jsonInt("batches", in: after) else {
        throw BenchError("stats has no events/batches: \(after)")
    }
    // Mean batch over the measured window when both samples are there; over the whole load otherwise.
    var eventsAppended = events1 - events0, batches = batches1 - batches0
    if let s = statsStart, let e = statsEnd, let ev0 = jsonInt("events", in: s), let b0 = jsonInt("batches", in: s),
        let ev1 = jsonInt("events", in: e), let b1 = jsonInt("batches", in: e), b1 > b0
    {
        eventsAppended = ev1 - ev0
        batches = b1 - b0
    }

    // The stored size of one consume event: audit returns it as stored (JCS with hash), plus a version byte.
    var eventBytes: Int?
    let audit = try admin.request("{\"op\":\"audit\",\"after_seq\":\(max(events1 - 1, 0)),\"limit\":1}")
    if let open = audit.range(of: "\"events\":["), let close = audit.range(of: "],\"next_after_seq\"") {
        eventBytes = audit.utf8.distance(from: open.upperBound, to: close.lowerBound) + 1
    }
    let memory = daemon.memoryKiB()
    let seconds = config.durationSeconds
    var daemonCPU: Double?
    if let a = daemonCPU0, let b = daemonCPU1 { daemonCPU = (b - a) / seconds * 100 }
    return LoadResult(
        consumesPerSecond: Double(acked) / seconds, acked: acked, measuredSeconds: seconds, histogram: histogram,
        failures: failures, firstFailure: firstFailure, exhaustedConnections: exhausted,
        eventsAppended: eventsAppended, batchesCommitted: batches,
        meanBatch: batches > 0 ? Double(eventsAppended) / Double(batches) : 0,
        eventBytes: eventBytes, rssKiB: memory?.rss, peakRssKiB: memory?.peak,
        daemonCPUPercent: daemonCPU, benchCPUPercent: (benchCPU1 - benchCPU0) / seconds * 100,
        daemonThreads: threadReport(before: threads0, after: threads1, seconds: seconds))
}

func sleepUntil(_ t: UInt64) {
    while true {
        let now = nowNanos()
        if now >= t { return }
        let d = t - now
        var ts = timespec(tv_sec: Int(d / 1_000_000_000), tv_nsec: Int(d % 1_000_000_000))
        _ = nanosleep(&ts, nil)
    }
}

/// Whether `needle` occurs in the `count` bytes at `p` (memchr on its first byte, then memcmp).
@inline(__always)
func contains(_ p: UnsafeRawPointer, _ count: Int, _ needle: UnsafeRawBufferPointer) -> Bool {
    let m = needle.count
    guard m > 0, count >= m else { return m == 0 }
    let first = Int32(needle[0])
    var at = 0
    while at <= count - m, let hit = memchr(p + at, first, count - m - at + 1) {
        let i = UnsafeRawPointer(hit) - p
        if memcmp(hit, needle.baseAddress!, m) == 0 { return true }
        at = i + 1
    }
    return false
}
