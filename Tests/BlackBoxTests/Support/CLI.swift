import Foundation
import LedgerClient
import LedgerJSON
import LedgerTestKit

/// The real `tokenledger` binary, run against a test's daemon.
enum CLI {
    /// `TOKENLEDGER_BIN`, else `<package root>/.build/debug/tokenledger`.
    static var binaryPath: String {
        ProcessInfo.processInfo.environment["TOKENLEDGER_BIN"] ?? packageRoot + "/.build/debug/tokenledger"
    }

    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: binaryPath) }

    /// The environment that points the CLI at `daemon`, without colour.
    static func environment(_ daemon: DaemonProcess) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["TOKENLEDGER_SOCKET"] = daemon.socketPath
        environment["NO_COLOR"] = "1"
        return environment
    }

    /// Runs `tokenledger <arguments>` to completion.
    static func run(_ arguments: [String], daemon: DaemonProcess, timeoutSeconds: Double = 120) throws -> ProcessResult
    {
        guard isAvailable else {
            throw LedgerTestError("no CLI binary at \(binaryPath) (swift build --product tokenledger)")
        }
        return try runProcess(binaryPath, arguments, timeoutSeconds: timeoutSeconds, environment: environment(daemon))
    }
}

/// The daemon's resident memory from /proc/PID/status, in KiB.
struct ResidentMemory: CustomStringConvertible {
    /// VmRSS: all resident pages, including the LMDB map's file pages the process touched.
    var totalKiB: Int
    /// RssAnon: the process's own heap and stacks (what a buffering subscriber would grow).
    var anonymousKiB: Int
    /// RssFile: resident file-backed pages (mostly the memory-mapped log).
    var fileKiB: Int

    init(pid: pid_t) throws {
        let status = readFile("/proc/\(pid)/status")
        func field(_ name: String) throws -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }),
                let kib = Int(
                    line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ")[0])
            else { throw LedgerTestError("/proc/\(pid)/status has no \(name)") }
            return kib
        }
        totalKiB = try field("VmRSS")
        anonymousKiB = try field("RssAnon")
        fileKiB = try field("RssFile")
    }

    var description: String {
        "VmRSS \(totalKiB / 1024) MiB (anon \(anonymousKiB / 1024) MiB, file \(fileKiB / 1024) MiB)"
    }
}

/// Appends `total` consumes of cost 1 from `connections` threads, each pipelining batches of
/// `batch` requests (one write per batch, then its answers). Returns the seconds taken and the
/// number acknowledged `ok:true`; anything else is a failure listed in `problems`.
func appendConsumes(
    socketPath: String, team: String, user: String, total: Int, connections: Int = 4, batch: Int = 500,
    keyPrefix: String
) throws -> (seconds: Double, acked: Int, problems: [String]) {
    precondition(total % (connections * batch) == 0, "total must split into whole batches")
    let batchesPerConnection = total / (connections * batch)
    final class Tally: @unchecked Sendable {
        let lock = NSLock()
        var acked = 0
        var problems: [String] = []
    }
    let tally = Tally()
    // The requests are made before the clock starts: the figure is the daemon's, not this client's.
    let batches: [[[UInt8]]] = (0..<connections).map { worker in
        (0..<batchesPerConnection).map { b in
            var bytes: [UInt8] = []
            for i in 0..<batch {
                let key = "\(keyPrefix)-\(worker)-\(b)-\(i)"
                bytes += Array(
                    #"{"op":"consume","team":"\#(team)","user":"\#(user)","model":"m","cost":1,"key":"\#(key)"}"#.utf8)
                bytes.append(UInt8(ascii: "\n"))
            }
            return bytes
        }
    }
    let clients = try (0..<connections).map { _ in try LineClient(socketPath: socketPath, timeoutSeconds: 120) }
    defer { for client in clients { client.close() } }
    let done = DispatchGroup()
    let started = Date()
    for worker in 0..<connections {
        done.enter()
        let client = clients[worker]
        let mine = batches[worker]
        let thread = Thread {
            defer { done.leave() }
            var ok = 0
            var failures: [String] = []
            for bytes in mine {
                do {
                    try client.send(raw: bytes)
                    for _ in 0..<batch {
                        guard let answer = try client.readLine() else {
                            failures.append("connection \(worker) closed")
                            break
                        }
                        // Answers are canonical JSON: a failure's first key is "error".
                        if answer.utf8.starts(with: #"{"error":"#.utf8) {
                            if failures.count < 5 { failures.append(answer) }
                        } else {
                            ok += 1
                        }
                    }
                } catch {
                    failures.append("connection \(worker): \(error)")
                    break
                }
            }
            tally.lock.withLock {
                tally.acked += ok
                tally.problems += failures
            }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    guard done.wait(timeout: .now() + 300) == .success else {
        throw LedgerTestError("the appending clients did not finish within 300 s")
    }
    let seconds = Date().timeIntervalSince(started)
    return tally.lock.withLock { (seconds, tally.acked, tally.problems) }
}
