import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A `tokenledgerd` started on a fresh data directory and socket under `directory`; its output goes to
/// `directory/daemon.log`.
final class DaemonProcess {
    let process = Process()
    let socketPath: String
    let dataPath: String
    let logPath: String

    init(executable: String, directory: String, clock: String, extraArguments: [String] = []) throws {
        socketPath = directory + "/s"
        dataPath = directory + "/data"
        logPath = directory + "/daemon.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw BenchError("cannot write \(logPath)") }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--data", dataPath, "--socket", socketPath, "--clock", clock, "--log-level", "warning"]
            + extraArguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// Waits until the socket accepts a connection (the daemon folds the log and binds first).
    func waitUntilServing(timeoutSeconds: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            guard process.isRunning else {
                throw BenchError("tokenledgerd exited with \(process.terminationStatus) before serving; see \(logPath):\n"
                    + ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""))
            }
            if let fd = try? connectUnix(socketPath) {
                close(fd)
                return
            }
            usleep(20_000)
        }
        throw BenchError("tokenledgerd did not serve on \(socketPath) within \(Int(timeoutSeconds)) s")
    }

    /// `VmRSS` and `VmHWM` (peak) from /proc/PID/status, in KiB; nil where /proc is missing.
    func memoryKiB() -> (rss: Int, peak: Int)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int? {
            for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
                return Int(line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
            }
            return nil
        }
        guard let rss = field("VmRSS") else { return nil }
        return (rss, field("VmHWM") ?? rss)
    }

    /// SIGTERM, then the exit status (SIGKILL after `timeoutSeconds`).
    @discardableResult
    func stop(timeoutSeconds: Double = 30) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }
}

/// A fresh directory under `base` (short: the socket path must fit in 108 bytes).
func makeTempDirectory(base: String, prefix: String) throws -> String {
    var template = Array((base + "/" + prefix + ".XXXXXX").utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    guard made != nil else { throw BenchError("mkdtemp under \(base): \(errnoText())") }
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// One thread's counters: CPU seconds (utime + stime) and seconds spent runnable but waiting for a CPU
/// (schedstat's run delay: high when the machine is oversubscribed).
struct ThreadSample {
    var name: String
    var cpu: Double
    var runDelay: Double
}

/// Every thread of `pid` by tid, from /proc/PID/task; empty where /proc is missing.
func threadSamples(pid: Int32) -> [Int: ThreadSample] {
    let fm = FileManager.default
    guard let tids = try? fm.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return [:] }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    var out: [Int: ThreadSample] = [:]
    for t in tids {
        guard let tid = Int(t), let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(t)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { continue }
        let name = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { continue }
        var delay = 0.0
        if let sched = try? String(contentsOfFile: "/proc/\(pid)/task/\(t)/schedstat", encoding: .utf8) {
            let parts = sched.split(separator: " ")
            if parts.count >= 2, let d = Double(parts[1]) { delay = d / 1e9 }
        }
        out[tid] = ThreadSample(name: name, cpu: (u + s) / ticks, runDelay: delay)
    }
    return out
}

/// CPU and run-queue wait per thread between two samples, as percent of `seconds`, busiest first. Threads are
/// named `name/tid` (the daemon's threads may share a name: a Foundation thread started from a Dispatch worker
/// keeps the worker's name on Linux).
func threadReport(before: [Int: ThreadSample], after: [Int: ThreadSample], seconds: Double)
    -> [(name: String, threads: Int, cpuPercent: Double, runDelayPercent: Double)]
{
    var groups: [String: (threads: Int, cpu: Double, delay: Double)] = [:]
    for (tid, a) in after {
        let b = before[tid] ?? ThreadSample(name: a.name, cpu: 0, runDelay: 0)
        let key = "\(a.name)/\(tid)"
        var g = groups[key] ?? (0, 0, 0)
        g.threads += 1
        g.cpu += a.cpu - b.cpu
        g.delay += a.runDelay - b.runDelay
        groups[key] = g
    }
    return groups.map { (name: $0.key, threads: $0.value.threads, cpuPercent: $0.value.cpu / seconds * 100,
                         runDelayPercent: $0.value.delay / seconds * 100) }
        .sorted { $0.cpuPercent > $1.cpuPercent }
}
