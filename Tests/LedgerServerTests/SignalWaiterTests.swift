import Glibc
import Testing

@testable import LedgerServer

@Suite("SignalWaiter")
struct SignalWaiterTests {
    /// SIGUSR1 stands in for SIGTERM: the same path, without making the test process deaf to SIGTERM.
    @Test func wait_returnsTheSignal_evenWhenItCameBeforeTheWait() async {
        SignalWaiter.watch([SIGUSR1])
        kill(getpid(), SIGUSR1)  // caught, not fatal: the default action was replaced by the watch
        #expect(await SignalWaiter.wait(for: [SIGUSR1]) == SIGUSR1)
        #expect(await SignalWaiter.wait(for: [SIGUSR1]) == SIGUSR1, "later waits return at once")
    }

    @Test func wait_returnsWhenTheSignalArrivesLater() async {
        SignalWaiter.watch([SIGUSR2])
        async let signal = SignalWaiter.wait(for: [SIGUSR2])
        try? await Task.sleep(for: .milliseconds(50))
        kill(getpid(), SIGUSR2)
        #expect(await signal == SIGUSR2)
    }
}
