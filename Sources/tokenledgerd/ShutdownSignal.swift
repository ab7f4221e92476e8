import Foundation

/// SIGTERM/SIGINT as an awaitable value, by the self-pipe trick: a real handler (not
/// `SIG_IGN`) writes one byte to a pipe whichever thread the kernel picks to deliver the
/// signal on, and a dedicated thread reads it. Nothing is lost to a thread that was not
/// prepared for it, and the handler only calls `write`, which is async-signal-safe.
enum ShutdownSignal {
    nonisolated(unsafe) private static var writeFD: Int32 = -1
    nonisolated(unsafe) private static var readFD: Int32 = -1

    /// Call first in `main`, before anything can send the signal expecting an orderly stop.
    static func install() {
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { fatalError("pipe: \(String(cString: strerror(errno)))") }
        readFD = fds[0]
        writeFD = fds[1]
        _ = fcntl(writeFD, F_SETFL, fcntl(writeFD, F_GETFL) | O_NONBLOCK)
        _ = fcntl(readFD, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeFD, F_SETFD, FD_CLOEXEC)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signo in
            var byte = UInt8(truncatingIfNeeded: signo)
            _ = write(ShutdownSignal.writeFD, &byte, 1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGTERM, &action, nil)
        sigaction(SIGINT, &action, nil)
    }

    /// Returns the first SIGTERM or SIGINT received since `install()`.
    static func wait() async -> Int32 {
        await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            let t = Thread {
                var byte: UInt8 = 0
                while true {
                    let n = read(ShutdownSignal.readFD, &byte, 1)
                    if n == 1 { break }
                    if n < 0 && errno == EINTR { continue }
                    byte = UInt8(SIGTERM)
                    break
                }
                c.resume(returning: Int32(byte))
            }
            t.start()
        }
    }
}
