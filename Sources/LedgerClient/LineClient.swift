import Foundation
import LedgerJSON

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// The class has methods named `send` and `close`, so the C calls go through these.
#if canImport(Glibc)
    private func systemClose(_ fd: Int32) -> Int32 { Glibc.close(fd) }
    private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
        Glibc.connect(fd, address, length)
    }
    private func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        Glibc.send(fd, bytes, count, Int32(MSG_NOSIGNAL))
    }
    private let streamSocketType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
#else
    private func systemClose(_ fd: Int32) -> Int32 { Darwin.close(fd) }
    private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
        Darwin.connect(fd, address, length)
    }
    private func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        Darwin.send(fd, bytes, count, 0)
    }
    private let streamSocketType = SOCK_STREAM
#endif

/// A blocking client for the daemon's newline-delimited JSON protocol over a Unix stream socket.
///
/// Used by the CLI, the test kit and the benchmarks. One instance holds one connection and a
/// read buffer; it is not thread-safe. It is marked `@unchecked Sendable` only so that a
/// client made on one thread may be handed to another: use it from one thread at a time.
///
/// Requests may be pipelined: call `send` many times, then `readLine` as many times. Keep
/// the window bounded (a few hundred requests): with both socket buffers full, a client
/// that only writes and a daemon that only answers wait on each other. For unbounded
/// pipelining, one thread may call `send` while one other thread calls `readLine`: those
/// two touch disjoint state. Nothing else may overlap, and `close` only once both are done.
public final class LineClient: @unchecked Sendable {
    /// Bytes asked of the kernel per `recv`.
    public static let readChunkBytes = 64 * 1024

    public let socketPath: String
    public private(set) var timeoutSeconds: Double

    private var fd: Int32
    /// Received bytes not yet returned; `buffer[bufferStart...]` is live.
    private var buffer: [UInt8] = []
    private var bufferStart = 0
    /// Where the next newline scan starts (everything before it in the live part has none).
    private var scanFrom = 0
    private var chunk: [UInt8]
    private var sawEOF = false

    /// Connects to the daemon's socket.
    ///
    /// - Parameter timeoutSeconds: applies to every send and every read (`SO_SNDTIMEO`,
    ///   `SO_RCVTIMEO`) and to a connect that waits on a full backlog; `0` or less waits forever.
    /// - Throws: `LineClientError` naming the path and the cause (no such socket, permission
    ///   denied, connection refused, ...).
    public init(socketPath: String, timeoutSeconds: Double = 30) throws {
        self.socketPath = socketPath
        self.timeoutSeconds = timeoutSeconds
        self.chunk = [UInt8](repeating: 0, count: Self.readChunkBytes)

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        let pathCapacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !pathBytes.isEmpty else {
            throw LineClientError(.invalidPath, path: socketPath, "socket path is empty")
        }
        guard pathBytes.count < pathCapacity else {
            throw LineClientError(
                .invalidPath, path: socketPath,
                "socket path too long (\(pathBytes.count) bytes; a Unix socket path takes at most \(pathCapacity - 1)): \(socketPath)"
            )
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }

        let descriptor = socket(AF_UNIX, streamSocketType, 0)
        guard descriptor >= 0 else {
            throw LineClientError(.io, path: socketPath, errno: errno, "cannot create a socket")
        }
        self.fd = descriptor
        #if canImport(Darwin)
            var one: Int32 = 1
            _ = setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif

        do {
            try Self.setTimeouts(descriptor, seconds: timeoutSeconds, path: socketPath)
            try Self.connect(descriptor, address: address, path: socketPath)
        } catch {
            _ = systemClose(descriptor)
            self.fd = -1
            throw error
        }
    }

    deinit {
        if fd >= 0 {
            _ = systemClose(fd)
        }
    }

    /// Sends `line` followed by `"\n"`.
    public func send(_ line: String) throws {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        try send(raw: bytes)
    }

    /// Sends exactly `bytes`, nothing added (for tests of malformed input).
    public func send(raw bytes: [UInt8]) throws {
        try ensureOpen()
        var offset = 0
        var deadline = Deadline(seconds: timeoutSeconds)
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                systemSend(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                let code = errno
                if code == EINTR && !deadline.passedAfterInterrupt() { continue }
                if code == EAGAIN || code == EWOULDBLOCK || code == EINTR {
                    throw LineClientError(
                        .timeout, path: socketPath,
                        "timed out after \(Self.seconds(timeoutSeconds)) writing to \(socketPath)")
                }
                if code == EPIPE || code == ECONNRESET {
                    throw LineClientError(
                        .closed, path: socketPath, errno: code, "the daemon at \(socketPath) closed the connection")
                }
                throw LineClientError(.io, path: socketPath, errno: code, "write to \(socketPath) failed")
            }
            offset += written
        }
        assert(offset == bytes.count)
    }

    /// The next line received, without its `"\n"`; `nil` at end of stream.
    ///
    /// Bytes after the last newline at end of stream come back as one final line.
    /// - Throws: `LineClientError` of kind `.timeout` when nothing completes a line in time.
    public func readLine() throws -> String? {
        try ensureOpen()
        while true {
            let end = buffer.count
            if let newline = Self.newline(in: buffer, from: scanFrom, to: end) {
                let line = String(decoding: buffer[bufferStart..<newline], as: UTF8.self)
                bufferStart = newline + 1
                scanFrom = bufferStart
                compactIfWorthIt()
                return line
            }
            scanFrom = end
            if sawEOF {
                guard bufferStart < end else { return nil }
                let line = String(decoding: buffer[bufferStart..<end], as: UTF8.self)
                bufferStart = end
                scanFrom = end
                compactIfWorthIt()
                return line
            }
            try fill()
        }
    }

    /// The index of the first `\n` in `bytes[from..<to]`, by `memchr` (a generic scan costs
    /// ~100× more in debug builds, where the tests run).
    private static func newline(in bytes: [UInt8], from: Int, to: Int) -> Int? {
        guard from < to else { return nil }
        return bytes.withUnsafeBufferPointer { buffer in
            guard let found = memchr(buffer.baseAddress! + from, Int32(UInt8(ascii: "\n")), to - from) else {
                return nil
            }
            return UnsafeRawPointer(buffer.baseAddress!).distance(to: UnsafeRawPointer(found))
        }
    }

    /// Sends `line` and returns the next line received.
    /// - Throws: `LineClientError` of kind `.closed` when the stream ends first.
    public func request(_ line: String) throws -> String {
        try send(line)
        guard let response = try readLine() else {
            throw LineClientError(
                .closed, path: socketPath, "the daemon at \(socketPath) closed the connection before answering")
        }
        return response
    }

    /// Sends `request` as one JSON line (members in order) and parses the answer line.
    public func request(_ request: JSON) throws -> JSON {
        let response = try self.request(request.line)
        guard let parsed = try? JSONParser.parse(Array(response.utf8)), parsed.isObject else {
            throw LineClientError(.badResponse, path: socketPath, "response is not a JSON object: \(response)")
        }
        return parsed
    }

    /// Changes the send and read timeout from now on (`0` or less waits forever), e.g. to
    /// follow a `subscribe` stream that may stay quiet for long.
    public func setTimeout(seconds: Double) throws {
        try ensureOpen()
        try Self.setTimeouts(fd, seconds: seconds, path: socketPath)
        timeoutSeconds = seconds
    }

    /// Half-closes the connection: the daemon sees end of stream, responses can still be read.
    public func shutdownWrite() {
        guard fd >= 0 else { return }
        _ = shutdown(fd, Int32(SHUT_WR))
    }

    /// Closes the connection; later calls throw. Calling it again does nothing.
    public func close() {
        guard fd >= 0 else { return }
        _ = systemClose(fd)
        fd = -1
        buffer = []
        bufferStart = 0
        scanFrom = 0
    }

    // MARK: - Private

    private func ensureOpen() throws {
        guard fd >= 0 else {
            throw LineClientError(.closed, path: socketPath, "the client was closed")
        }
    }

    /// Appends one `recv` worth of bytes to the buffer, or sets `sawEOF`.
    private func fill() throws {
        var deadline = Deadline(seconds: timeoutSeconds)
        while true {
            let count = chunk.withUnsafeMutableBytes { raw in
                recv(fd, raw.baseAddress!, raw.count, 0)
            }
            if count > 0 {
                buffer.append(contentsOf: chunk[0..<count])
                return
            }
            if count == 0 {
                sawEOF = true
                return
            }
            let code = errno
            if code == EINTR && !deadline.passedAfterInterrupt() { continue }
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR {
                throw LineClientError(
                    .timeout, path: socketPath,
                    "no response from \(socketPath) within \(Self.seconds(timeoutSeconds))")
            }
            if code == ECONNRESET {
                sawEOF = true
                return
            }
            throw LineClientError(.io, path: socketPath, errno: code, "read from \(socketPath) failed")
        }
    }

    /// Drops consumed bytes once they are most of the buffer, so memory stays bounded by
    /// the longest pending data rather than everything ever read.
    private func compactIfWorthIt() {
        guard bufferStart > 0 else { return }
        if bufferStart == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            bufferStart = 0
            scanFrom = 0
        } else if bufferStart >= Self.readChunkBytes && bufferStart * 2 >= buffer.count {
            buffer.removeSubrange(0..<bufferStart)
            scanFrom -= bufferStart
            bufferStart = 0
        }
        assert(bufferStart <= scanFrom && scanFrom <= buffer.count)
    }

    private static func setTimeouts(_ fd: Int32, seconds: Double, path: String) throws {
        var value = timeval()
        if seconds > 0 {
            let whole = seconds.rounded(.down)
            value.tv_sec = Int(whole)
            value.tv_usec = Int(((seconds - whole) * 1_000_000).rounded())
            if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 }
        }
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            if setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size)) != 0 {
                throw LineClientError(.io, path: path, errno: errno, "cannot set the socket timeout")
            }
        }
    }

    private static func connect(_ fd: Int32, address: sockaddr_un, path: String) throws {
        var address = address
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { systemConnect(fd, $0, length) }
        }
        if result == 0 { return }
        var code = errno
        if code == EINTR {
            // The connect goes on in the background; wait for it and fetch its outcome.
            code = waitForConnect(fd)
            if code == 0 { return }
        }
        throw connectError(code, path: path)
    }

    /// After an interrupted `connect`: waits until the socket is writable, then returns its
    /// pending error (0 when connected).
    private static func waitForConnect(_ fd: Int32) -> Int32 {
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        while true {
            let ready = poll(&descriptor, 1, -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { return errno }
            break
        }
        var pending: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &size) != 0 {
            return errno
        }
        return pending
    }

    private static func connectError(_ code: Int32, path: String) -> LineClientError {
        switch code {
        case ENOENT:
            return LineClientError(.noSuchSocket, path: path, errno: code, "no such socket: \(path)")
        case EACCES, EPERM:
            return LineClientError(
                .permissionDenied, path: path, errno: code,
                "permission denied opening \(path) (the socket is mode 0660: join its group)")
        case ECONNREFUSED:
            return LineClientError(
                .refused, path: path, errno: code,
                "connection refused at \(path) (the socket file exists but no daemon is listening)")
        case ENOTDIR:
            return LineClientError(
                .noSuchSocket, path: path, errno: code, "no such socket: \(path) (a parent is not a directory)")
        case EAGAIN, EWOULDBLOCK:
            return LineClientError(
                .timeout, path: path, errno: code, "timed out connecting to \(path) (the daemon's backlog is full)")
        default:
            return LineClientError(.io, path: path, errno: code, "cannot connect to \(path)")
        }
    }

    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}

/// The kernel restarts `SO_RCVTIMEO`/`SO_SNDTIMEO` after every interrupted call, so under a
/// stream of signals a blocked call would never time out; this keeps the caller's deadline.
/// The clock is read only once a call has been interrupted.
private struct Deadline {
    let seconds: Double
    private var startNanoseconds: UInt64?

    init(seconds: Double) { self.seconds = seconds }

    mutating func passedAfterInterrupt() -> Bool {
        guard seconds > 0 else { return false }
        let now = DispatchTime.now().uptimeNanoseconds
        guard let startNanoseconds else {
            startNanoseconds = now
            return false
        }
        return Double(now - startNanoseconds) / 1e9 >= seconds
    }
}

/// What went wrong talking to the daemon. `description` is a full sentence fit for a user.
public struct LineClientError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case noSuchSocket = "no_such_socket"
        case permissionDenied = "permission_denied"
        case refused
        case invalidPath = "invalid_path"
        case timeout
        /// The daemon closed the connection, or the client was closed.
        case closed
        /// A response that is not what was asked for (e.g. not a JSON object).
        case badResponse = "bad_response"
        case io
    }

    public var kind: Kind
    /// The socket path the client was talking to.
    public var path: String
    /// The `errno` behind the failure, when there was one.
    public var errno: Int32?
    public var description: String

    public init(_ kind: Kind, path: String, errno: Int32? = nil, _ message: String) {
        self.kind = kind
        self.path = path
        self.errno = errno
        if let errno, kind == .io || kind == .closed {
            self.description = "\(message): \(String(cString: strerror(errno)))"
        } else {
            self.description = message
        }
    }
}
