import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a child process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public var description: String {
        switch self {
        case .exited(let code): "exited with code \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }

    init(waitStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        if status & 0x7F == 0 {
            self = .exited((status >> 8) & 0xFF)
        } else {
            self = .signaled(status & 0x7F)
        }
    }
}

public struct SubprocessError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A child process started with `posix_spawn`, reaped with `waitpid`.
///
/// Not Foundation's `Process`: the tests need the child's signal mask and dispositions reset (a
/// test runner may block or ignore signals, and a daemon that inherits an ignored SIGTERM makes a
/// shutdown test lie), files as stdio, and a wait with a timeout.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let executable: String
    public let arguments: [String]
    private let lock = NSLock()
    private var termination: Termination?

    /// Starts `executable` (an absolute path) with stdin from `stdinPath` (default /dev/null) and
    /// stdout/stderr appended to the given files (default /dev/null).
    public init(
        executable: String, arguments: [String], stdinPath: String = "/dev/null",
        stdoutPath: String = "/dev/null", stderrPath: String = "/dev/null",
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        self.executable = executable
        self.arguments = arguments

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") }
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let status = (argv + [nil]).withUnsafeBufferPointer { argvPointer in
            (envp + [nil]).withUnsafeBufferPointer { envPointer in
                posix_spawn(
                    &child, executable, &actions, &attributes,
                    UnsafeMutablePointer(mutating: argvPointer.baseAddress!),
                    UnsafeMutablePointer(mutating: envPointer.baseAddress!))
            }
        }
        guard status == 0 else {
            throw SubprocessError("cannot start \(executable): \(String(cString: strerror(status)))")
        }
        self.pid = child
    }

    /// The termination if the child has ended (reaping it), else `nil`.
    public func poll() -> Termination? {
        lock.lock()
        defer { lock.unlock() }
        if let termination { return termination }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            termination = Termination(waitStatus: status)
        } else if result < 0 && errno == ECHILD {
            // Someone else reaped it; all we know is that it is gone.
            termination = .exited(-1)
        }
        return termination
    }

    public var isRunning: Bool { poll() == nil }

    /// Waits up to `timeoutSeconds` for the child to end.
    public func wait(timeoutSeconds: Double) -> Termination? {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while true {
            if let termination = poll() { return termination }
            if Date() >= deadline { return nil }
            usleep(5_000)
        }
    }

    public func signal(_ signal: Int32) {
        guard poll() == nil else { return }
        _ = kill(pid, signal)
    }

    /// SIGKILL and reap.
    public func killAndReap() {
        signal(SIGKILL)
        _ = wait(timeoutSeconds: 30)
    }

    deinit {
        if poll() == nil {
            _ = kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
    }
}

/// The outcome of `runProcess`.
public struct ProcessResult: Sendable {
    public var termination: Termination
    public var stdout: String
    public var stderr: String
}

/// Runs a program to completion and returns its output (killing it after `timeoutSeconds`).
public func runProcess(
    _ executable: String, _ arguments: [String], stdin: String? = nil, timeoutSeconds: Double = 60,
    environment: [String: String] = ProcessInfo.processInfo.environment
) throws -> ProcessResult {
    let directory = try TemporaryDirectory(prefix: "tl-run-")
    let stdinPath = directory.path + "/stdin"
    let stdoutPath = directory.path + "/stdout"
    let stderrPath = directory.path + "/stderr"
    guard FileManager.default.createFile(atPath: stdinPath, contents: Data((stdin ?? "").utf8)) else {
        throw SubprocessError("cannot create \(stdinPath)")
    }
    let child = try ChildProcess(
        executable: executable, arguments: arguments, stdinPath: stdinPath, stdoutPath: stdoutPath,
        stderrPath: stderrPath, environment: environment)
    guard let termination = child.wait(timeoutSeconds: timeoutSeconds) else {
        child.killAndReap()
        throw SubprocessError(
            "\(executable) \(arguments.joined(separator: " ")) did not finish in \(timeoutSeconds) s; stderr: "
                + readFile(stderrPath))
    }
    return ProcessResult(termination: termination, stdout: readFile(stdoutPath), stderr: readFile(stderrPath))
}

/// The file's text (invalid UTF-8 repaired), or "" when it cannot be read.
public func readFile(_ path: String) -> String {
    guard let data = FileManager.default.contents(atPath: path) else { return "" }
    return String(decoding: data, as: UTF8.self)
}

/// The first executable file named `name` on PATH, then in the usual places.
public func findExecutable(_ name: String) -> String? {
    if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let directories = path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin"]
    for directory in directories where !directory.isEmpty {
        let candidate = directory + "/" + name
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// A fresh directory under /tmp (short paths: Unix socket paths must stay under ~100 bytes),
/// removed with everything in it on deinit unless `TOKENLEDGER_KEEP_TMP` is set.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(prefix: String = "tl-") throws {
        var template = Array("/tmp/\(prefix)XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard created != nil else {
            throw SubprocessError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    deinit {
        if ProcessInfo.processInfo.environment["TOKENLEDGER_KEEP_TMP"] == nil {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}
