import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic nanoseconds.
@inline(__always)
func nowNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// Connects a stream socket to the Unix socket at `path`; blocking unless `nonBlocking`.
func connectUnix(_ path: String, nonBlocking: Bool = false) throws -> Int32 {
    #if canImport(Glibc) || canImport(Musl)
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    #else
    let fd = socket(AF_UNIX, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw BenchError("socket: \(errnoText())") }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    let capacity = MemoryLayout.size(ofValue: addr.sun_path)
    guard bytes.count < capacity else {
        close(fd)
        throw BenchError("socket path too long (\(bytes.count) bytes, at most \(capacity - 1)): \(path)")
    }
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
    guard rc == 0 else {
        let e = errnoText()
        close(fd)
        throw BenchError("connect \(path): \(e)")
    }
    if nonBlocking {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }
    return fd
}

/// A blocking request/answer connection for setup and `stats`: one line out, one line back.
final class LineConnection {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws { fd = try connectUnix(path) }
    deinit { close(fd) }

    func request(_ line: String) throws -> String {
        var out = Array(line.utf8)
        out.append(10)
        var off = 0
        while off < out.count {
            let n = out[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BenchError("write: \(errnoText())")
            }
            off += n
        }
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                let answer = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return answer
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BenchError("read: \(errnoText())")
            }
            if n == 0 { throw BenchError("the daemon closed the connection while answering \(line)") }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}

/// The integer value of `"name":123` in a flat JSON answer (enough for `stats`; no general parser needed).
func jsonInt(_ field: String, in text: String) -> Int? {
    let needle = "\"\(field)\":"
    guard let r = text.range(of: needle) else { return nil }
    let digits = text[r.upperBound...].prefix { $0 == "-" || $0.isNumber }
    return Int(digits)
}
