/// Why stored snapshot bytes cannot be used (the start-up then falls back to an older one).
public enum SnapshotError: Error, Equatable, CustomStringConvertible {
    case tooShort(Int)
    case badMagic
    case unknownVersion(UInt16)
    case digestMismatch
    case truncated(at: Int)
    case trailingBytes(Int)
    case invalid(String)

    public var description: String {
        switch self {
        case .tooShort(let n): "\(n) bytes is too short for a snapshot"
        case .badMagic: "not a snapshot (bad magic)"
        case .unknownVersion(let v): "snapshot format version \(v) is not known to this build"
        case .digestMismatch: "the SHA-256 of its bytes does not match"
        case .truncated(let at): "truncated at byte \(at)"
        case .trailingBytes(let n): "\(n) bytes after the end"
        case .invalid(let m): "invalid content: \(m)"
        }
    }
}
