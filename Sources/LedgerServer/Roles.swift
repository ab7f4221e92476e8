import Foundation
import LedgerProtocol

/// Who may do what (PROTOCOL §5): the daemon's own uid and root are admin; `--role` maps other
/// uids and groups; the highest matching role wins; anyone else gets `forbidden`.
public struct RoleMap: Sendable, Equatable {
    public var daemonUID: UInt32
    public var uids: [UInt32: Role] = [:]
    public var gids: [UInt32: Role] = [:]

    public init(daemonUID: UInt32 = getuid()) { self.daemonUID = daemonUID }

    public func role(for peer: PeerCredentials) -> Role? {
        if peer.uid == 0 || peer.uid == daemonUID { return .admin }
        var best = uids[peer.uid]
        for g in [peer.gid] + peer.groups {
            if let r = gids[g], best == nil || r > best! { best = r }
        }
        return best
    }

    /// Adds one `--role ROLE=WHO[,WHO]` flag: WHO is a uid or user name, or `@` + a gid or group name.
    public mutating func add(flag: String) throws {
        let parts = flag.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let role = Role(name: parts[0]) else {
            throw RoleError("--role \(flag): expected ROLE=WHO[,WHO] with ROLE admin, gateway or auditor")
        }
        for who in parts[1].split(separator: ",").map(String.init) {
            if who.hasPrefix("@") {
                let name = String(who.dropFirst())
                guard let gid = UInt32(name) ?? RoleMap.groupID(name) else {
                    throw RoleError("--role \(flag): no group \"\(name)\"")
                }
                gids[gid] = max(gids[gid] ?? role, role)
            } else {
                guard let uid = UInt32(who) ?? RoleMap.userID(who) else {
                    throw RoleError("--role \(flag): no user \"\(who)\"")
                }
                uids[uid] = max(uids[uid] ?? role, role)
            }
        }
    }

    static func groupID(_ name: String) -> UInt32? {
        guard let g = getgrnam(name) else { return nil }
        return g.pointee.gr_gid
    }

    static func userID(_ name: String) -> UInt32? {
        guard let p = getpwnam(name) else { return nil }
        return p.pointee.pw_uid
    }
}

public struct RoleError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
