import Foundation
import LedgerClient
import LedgerJSON

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The package root, found from this file's path (`<root>/Sources/LedgerTestKit/DaemonProcess.swift`).
public let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

public struct DaemonProcessError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The real `tokenledgerd` binary running on a temporary directory of its own.
///
/// Each instance owns `/tmp/tl-XXXXXX/` holding the data directory (`data/`), the socket
/// (`d.sock`, short enough for `sun_path`) and the daemon's captured stdout/stderr. The daemon is
/// killed on deinit if still running, and the directory removed, so a failing test leaves nothing
/// behind. Use from one thread at a time (the kill-9 tests signal it from the test's thread while
/// client threads use only the socket).
public final class DaemonProcess: @unchecked Sendable {
    /// `TOKENLEDGERD_BIN`, else `<package root>/.build/debug/tokenledgerd`.
    public static var binaryPath: String {
        ProcessInfo.processInfo.environment["TOKENLEDGERD_BIN"] ?? packageRoot + "/.build/debug/tokenledgerd"
    }

    public static let startTimeoutSeconds = 20.0
    public static let stopTimeoutSeconds = 30.0

    public let directory: TemporaryDirectory
    public let dataDirectory: String
    public let socketPath: String
    public let stderrPath: String
    public let stdoutPath: String
    /// Flags after `--data` and `--socket`, as given to the last start.
    public private(set) var arguments: [String]
    public private(set) var child: ChildProcess?
    /// How many times the daemon was started (1 after init).
    public private(set) var starts = 0

    /// Starts the daemon and waits until its socket answers `ping`.
    ///
    /// - Parameters:
    ///   - arguments: extra flags, e.g. `["--clock", "manual=2026-01-01T00:00:00.000Z"]`.
    ///   - dataDirectory / socketPath: override the defaults inside the temporary directory (to
    ///     point a second daemon at the first one's data or socket).
    ///   - waitForPing: `false` to only spawn it (for daemons expected to refuse to start).
    public init(
        arguments: [String] = [], dataDirectory: String? = nil, socketPath: String? = nil, waitForPing: Bool = true
    ) throws {
        directory = try TemporaryDirectory()
        self.dataDirectory = dataDirectory ?? directory.path + "/data"
        self.socketPath = socketPath ?? directory.path + "/d.sock"
        stderrPath = directory.path + "/stderr.log"
        stdoutPath = directory.path + "/stdout.log"
        self.arguments = arguments
        precondition(self.socketPath.utf8.count < 100, "socket path too long: \(self.socketPath)")
        try start(waitForPing: waitForPing)
    }

    /// The full command line of the next start.
    public var commandLine: [String] {
        [Self.binaryPath, "--data", dataDirectory, "--socket", socketPath] + arguments
    }

    /// What the daemon wrote to stderr so far (across restarts).
    public var stderr: String { readFile(stderrPath) }

    /// What the daemon itself wrote to stderr (without this class's start markers).
    public var daemonStderr: String {
        stderr.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix(Self.startMarker) }
            .joined(separator: "\n")
    }

    private static let startMarker = "---- start "

    public var pid: pid_t? { child?.pid }

    public var isRunning: Bool { child?.isRunning ?? false }

    private func start(waitForPing: Bool) throws {
        let binary = Self.binaryPath
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw DaemonProcessError("no daemon binary at \(binary) (build it, or set TOKENLEDGERD_BIN)")
        }
        starts += 1
        appendMarker("\(Self.startMarker)\(starts): \(commandLine.joined(separator: " "))\n")
        child = try ChildProcess(
            executable: binary, arguments: Array(commandLine.dropFirst()), stdoutPath: stdoutPath,
            stderrPath: stderrPath)
        if waitForPing { try waitUntilServing() }
    }

    private func appendMarker(_ text: String) {
        guard let handle = FileHandle(forWritingAtPath: stderrPath) else {
            _ = FileManager.default.createFile(atPath: stderrPath, contents: Data(text.utf8))  // a marker: best effort
            return
        }
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
        handle.closeFile()
    }

    /// Polls until a fresh connection answers `{"op":"ping"}` with `ok:true`.
    public func waitUntilServing(timeoutSeconds: Double = DaemonProcess.startTimeoutSeconds) throws {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        var lastProblem = "no attempt"
        while Date() < deadline {
            if let termination = child?.poll() {
                throw DaemonProcessError(
                    "tokenledgerd \(termination) before serving; command: \(commandLine.joined(separator: " "))\n"
                        + "stderr:\n\(stderr)")
            }
            if FileManager.default.fileExists(atPath: socketPath) {
                do {
                    let client = try LineClient(socketPath: socketPath, timeoutSeconds: 5)
                    defer { client.close() }
                    let answer = try client.request(#"{"op":"ping"}"#)
                    if let response = try? JSON.parse(answer), response["ok"]?.bool == true { return }
                    lastProblem = "ping answered \(answer)"
                } catch {
                    lastProblem = "\(error)"
                }
            } else {
                lastProblem = "no socket file at \(socketPath)"
            }
            usleep(20_000)
        }
        let description = child?.poll().map { "\($0)" } ?? "still running"
        child?.killAndReap()
        throw DaemonProcessError(
            "tokenledgerd did not answer ping within \(timeoutSeconds) s (\(description)); last: \(lastProblem)\n"
                + "command: \(commandLine.joined(separator: " "))\nstderr:\n\(stderr)")
    }

    /// A new connection to the daemon.
    public func connect(timeoutSeconds: Double = 30) throws -> LineClient {
        try LineClient(socketPath: socketPath, timeoutSeconds: timeoutSeconds)
    }

    /// SIGTERM, then waits for the exit (SIGKILL after `timeoutSeconds`, reported as a failure).
    @discardableResult
    public func stop(timeoutSeconds: Double = DaemonProcess.stopTimeoutSeconds) throws -> Termination {
        guard let child else { throw DaemonProcessError("the daemon was never started") }
        if let termination = child.poll() { return termination }
        child.signal(SIGTERM)
        guard let termination = child.wait(timeoutSeconds: timeoutSeconds) else {
            let backtraces = Self.backtraces(of: child.pid)
            child.killAndReap()
            throw DaemonProcessError(
                "tokenledgerd did not exit within \(timeoutSeconds) s of SIGTERM\nstderr:\n\(stderr)\n"
                    + "threads at the time:\n\(backtraces)")
        }
        return termination
    }

    /// Every thread's stack of a hung process, by gdb (or lldb) when installed: the one clue a
    /// hang leaves. Best effort; the process is killed afterwards anyway.
    public static func backtraces(of pid: pid_t, framesMax: Int = 12) -> String {
        let result: ProcessResult?
        if let gdb = findExecutable("gdb") {
            result = try? runProcess(
                gdb, ["-p", "\(pid)", "-batch", "-ex", "thread apply all bt \(framesMax)"], timeoutSeconds: 60)
        } else if let lldb = findExecutable("lldb") {
            result = try? runProcess(
                lldb, ["--batch", "-p", "\(pid)", "-o", "thread backtrace all"], timeoutSeconds: 60)
        } else {
            return "(no gdb or lldb to take backtraces)"
        }
        guard let result else { return "(the debugger did not finish)" }
        let lines = result.stdout.split(separator: "\n").filter {
            $0.hasPrefix("Thread ") || $0.hasPrefix("#") || $0.hasPrefix("*") || $0.contains("frame #")
                || $0.contains("thread #")
        }
        return lines.prefix(400).joined(separator: "\n")
    }

    /// SIGKILL and reap: a crash.
    public func kill9() {
        child?.killAndReap()
    }

    /// Sends a signal without waiting.
    public func signal(_ signal: Int32) {
        child?.signal(signal)
    }

    /// Waits for the daemon to end on its own (`nil` on timeout).
    public func waitForExit(timeoutSeconds: Double) -> Termination? {
        child?.wait(timeoutSeconds: timeoutSeconds)
    }

    /// Starts again on the same data directory and socket (stopping it first with SIGTERM if it
    /// still runs), with `arguments` replacing the previous flags when given.
    public func restart(arguments: [String]? = nil) throws {
        if isRunning {
            let termination = try stop()
            guard termination == .exited(0) else {
                throw DaemonProcessError("tokenledgerd \(termination) on SIGTERM before restart\nstderr:\n\(stderr)")
            }
        }
        if let arguments { self.arguments = arguments }
        try start(waitForPing: true)
    }

    deinit {
        child?.killAndReap()
    }
}
