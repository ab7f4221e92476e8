import NIOPosix

/// The socket file's life outside NIO: is an old one stale, which group owns it, its mode.
enum SocketFile {
    /// `sun_path` holds 108 bytes with the terminating NUL.
    static let pathBytesMax = 107

    /// A group given by name, or by number when it is all digits.
    static func resolveGroup(_ spec: String) throws -> gid_t {
        if !spec.isEmpty, spec.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let gid = gid_t(spec)
        {
            return gid
        }
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var scratch = [CChar](repeating: 0, count: 16384)
        while true {
            let status = getgrnam_r(spec, &group, &scratch, scratch.count, &result)
            if status == ERANGE && scratch.count < 1 << 22 {
                scratch = [CChar](repeating: 0, count: scratch.count * 2)
                continue
            }
            guard status == 0, result != nil else { throw ServerError.unknownGroup(spec) }
            return group.gr_gid
        }
    }

    /// Makes room for a new socket at `path`: nothing there is fine; a socket nobody listens on
    /// (a dead daemon's) is removed; a live one, or anything that is not a socket, is an error.
    static func clearStale(at path: String) throws {
        guard path.utf8.count <= self.pathBytesMax else {
            throw ServerError.socketSetup(
                path: path, operation: "bind (path over \(self.pathBytesMax) bytes)", errno: ENAMETOOLONG)
        }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw ServerError.socketSetup(path: path, operation: "lstat", errno: errno)
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw ServerError.notASocket(path) }

        switch self.probe(path) {
        case 0, EAGAIN, EINPROGRESS:
            throw ServerError.socketInUse(path)  // a listener exists (EAGAIN: its backlog is full)
        case ECONNREFUSED:
            guard unlink(path) == 0 || errno == ENOENT else {
                throw ServerError.socketSetup(path: path, operation: "unlink stale socket", errno: errno)
            }
        case ENOENT:
            return
        case let code:
            throw ServerError.socketSetup(path: path, operation: "connect to existing socket", errno: code)
        }
    }

    /// Connects without blocking; returns 0 on success or the errno.
    static func probe(_ path: String) -> Int32 {
        let fd = socket(
            AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return self.withAddress(path) { address, length in connect(fd, address, length) == 0 ? 0 : errno }
    }

    /// Mode 0660 and, when given, the group; the bind already happened under umask 0177 (0600).
    static func setPermissions(at path: String, group: gid_t?) throws {
        if let group, chown(path, uid_t.max, group) != 0 {
            throw ServerError.socketSetup(path: path, operation: "chown to group \(group)", errno: errno)
        }
        guard chmod(path, 0o660) == 0 else {
            throw ServerError.socketSetup(path: path, operation: "chmod 0660", errno: errno)
        }
    }

    static func withAddress<Result>(
        _ path: String,
        _ body: (UnsafePointer<sockaddr>, socklen_t) -> Result
    ) -> Result {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8.prefix(self.pathBytesMax))
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
