/// Why a snapshot was not stored (the log goes on; the previous snapshots stay).
public enum SnapshotStoreError: Error, CustomStringConvertible {
    case unsupported
    case injected
    case noRoom(needBytes: Int, freeBytes: Int)

    public var description: String {
        switch self {
        case .unsupported: "this storage keeps no snapshots"
        case .injected: "injected snapshot write failure"
        case .noRoom(let need, let free):
            "a snapshot needs about \(need) bytes of map and only \(free) are left below the maximum: the log's own writes come first"
        }
    }
}
