import Foundation

/// Runs `body` on a thread of its own; `value()` waits for it.
final class ThreadResult<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var result: Result<T, any Error>?

    init(_ body: @escaping @Sendable () throws -> T) {
        let thread = Thread { [self] in
            let r = Result { try body() }
            lock.withLock { result = r }
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    var isFinished: Bool { lock.withLock { result != nil } }

    func value() throws -> T {
        done.wait()
        done.signal()
        return try lock.withLock { result! }.get()
    }
}
