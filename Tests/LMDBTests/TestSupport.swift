import Foundation
import LMDB

/// A fresh directory under the system temporary directory, removed after `body`.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("lmdb-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url.path)
}

/// An environment in a fresh temporary directory, closed and removed after `body`.
func withEnvironment<R>(
    options: EnvironmentOptions = .init(),
    _ body: (Environment, String) throws -> R
) throws -> R {
    try withTemporaryDirectory { directory in
        let environment = try Environment(directory: directory, options: options)
        defer { environment.close() }
        return try body(environment, directory)
    }
}

/// Options for a map that starts tiny and grows in tiny steps, so that a few megabytes force many growths.
func tinyMapOptions(mapSizeBytesMax: Int = 1 << 40) -> EnvironmentOptions {
    var options = EnvironmentOptions()
    options.mapSizeBytes = 64 << 10
    options.mapGrowthBytes = 64 << 10
    options.mapSizeBytesMax = mapSizeBytesMax
    return options
}

/// A value that encodes its sequence number, so that a reader can check any entry it sees is the one written.
func value(for seq: UInt64, bytes: Int) -> [UInt8] {
    precondition(bytes >= 8)
    return BigEndian.bytes(seq) + [UInt8](repeating: UInt8(truncatingIfNeeded: seq &* 31), count: bytes - 8)
}

func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}

func string(_ buffer: UnsafeRawBufferPointer) -> String {
    String(decoding: buffer, as: UTF8.self)
}

/// Thread-safe accumulator for what background threads observe.
final class Observations: @unchecked Sendable {
    private let lock = NSLock()
    private var failures: [String] = []
    private var reads = 0
    private var finished = false

    func fail(_ message: String) {
        lock.withLock { failures.append(message) }
    }

    func countRead() {
        lock.withLock { reads += 1 }
    }

    func finish() {
        lock.withLock { finished = true }
    }

    var isFinished: Bool { lock.withLock { finished } }
    var allFailures: [String] { lock.withLock { failures } }
    var readCount: Int { lock.withLock { reads } }
}

/// Runs `body` on a new thread; the returned group is left when it ends.
func spawn(_ group: DispatchGroup, _ body: @escaping @Sendable () -> Void) {
    group.enter()
    let thread = Thread {
        body()
        group.leave()
    }
    thread.start()
}
