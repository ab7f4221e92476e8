import NIOCore
import NIOPosix

/// Reads `SO_PEERCRED` and `SO_PEERGROUPS` of an accepted Unix-socket channel.
///
/// NIO does not hand out a channel's file descriptor, but its channels are `SocketOptionProvider`s
/// whose `unsafeGetSocketOption` runs `getsockopt` into a value of the caller's type: a `ucred`-shaped
/// struct for `SO_PEERCRED`, fixed-size group buffers for `SO_PEERGROUPS`. NIO drops the length the
/// kernel writes back, so the group count is found by probing (see `readGroups`).
enum PeerCredentialsReader {
    /// `struct ucred` from <sys/socket.h> (needs _GNU_SOURCE, so not imported): pid_t, uid_t, gid_t.
    struct UCred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    static let soPeerCred = SocketOptionName(17)  // SO_PEERCRED
    static let soPeerGroups = SocketOptionName(59)  // SO_PEERGROUPS, Linux 4.13+

    enum ReadError: Error, CustomStringConvertible {
        case notASocketChannel
        var description: String { "the channel gives no access to its socket options" }
    }

    /// Must run on the channel's event loop; the future is then already complete.
    static func read(from channel: any Channel) -> EventLoopFuture<PeerCredentials> {
        guard channel is any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ReadError.notASocketChannel)
        }
        let credentials: EventLoopFuture<UCred> = self.option(channel, self.soPeerCred)
        return credentials.flatMap { cred in
            self.readGroups(channel).map { groups in
                PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid, groups: groups)
            }
        }
    }

    /// The kernel answers `ERANGE` when the buffer is smaller than the group list, and it keeps the
    /// list sorted ascending (`groups_sort`, which `in_group_p`'s binary search relies on). So:
    /// a 0-byte buffer succeeds only for no groups, a 4-byte one only for one group, and in a larger
    /// zero-filled buffer the groups end at the last non-zero entry (gid 0 can only lead the list).
    static func readGroups(_ channel: any Channel) -> EventLoopFuture<[UInt32]> {
        self.probe(channel, Void.self) { _ in [] }
            .orElse(channel) { self.probe(channel, UInt32.self) { [$0] } }
            .orElse(channel) { self.probe(channel, InlineArray<16, UInt32>.self, self.sortedGroups) }
            .orElse(channel) { self.probe(channel, InlineArray<256, UInt32>.self, self.sortedGroups) }
            .orElse(channel) { self.probe(channel, InlineArray<4096, UInt32>.self, self.sortedGroups) }
            .orElse(channel) { self.probe(channel, InlineArray<65536, UInt32>.self, self.sortedGroups) }
            .map { $0 ?? [] }
    }

    /// `nil` when the buffer was too small (`ERANGE`); `[]` when the kernel does not report groups.
    private static func probe<Buffer: Sendable>(
        _ channel: any Channel,
        _ type: Buffer.Type,
        _ decode: @escaping @Sendable (Buffer) -> [UInt32]
    ) -> EventLoopFuture<[UInt32]?> {
        let value: EventLoopFuture<Buffer> = self.option(channel, self.soPeerGroups)
        return value.map { Optional(decode($0)) }.flatMapError { error in
            let tooSmall = (error as? IOError)?.errnoCode == ERANGE
            return channel.eventLoop.makeSucceededFuture(tooSmall ? nil : [])
        }
    }

    /// Called only after the smaller probes failed, so the list holds at least two groups.
    private static func sortedGroups<Buffer>(_ buffer: Buffer) -> [UInt32] {
        let all = withUnsafeBytes(of: buffer) { Array($0.bindMemory(to: UInt32.self)) }
        guard let last = all.lastIndex(where: { $0 != 0 }) else { return [0] }
        return Array(all[...last])
    }

    private static func option<Value: Sendable>(_ channel: any Channel, _ name: SocketOptionName)
        -> EventLoopFuture<Value>
    {
        // Checked in `read(from:)`.
        let provider = channel as! any SocketOptionProvider
        return provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: name)
    }
}

extension EventLoopFuture where Value == [UInt32]? {
    fileprivate func orElse(
        _ channel: any Channel,
        _ next: @escaping @Sendable () -> EventLoopFuture<[UInt32]?>
    ) -> EventLoopFuture<[UInt32]?> {
        self.flatMap { groups in groups.map { channel.eventLoop.makeSucceededFuture($0) } ?? next() }
    }
}
