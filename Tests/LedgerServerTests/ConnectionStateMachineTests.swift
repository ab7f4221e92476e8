import Testing

@testable import LedgerServer

@Suite("ConnectionStateMachine")
struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine

    private static func lines(_ names: String...) -> [[UInt8]] { names.map { Array($0.utf8) } }

    private func receive(_ machine: inout Machine, _ names: String...) {
        for name in names { machine.lineReceived(Array(name.utf8)) }
    }

    @Test func readComplete_withNothingInFlight_dispatchesEverythingGathered() {
        var machine = Machine(batchLinesMax: 8, pendingLinesMax: 16)
        self.receive(&machine, "a", "b", "c")
        #expect(machine.readComplete() == .dispatch(Self.lines("a", "b", "c"), resumeReading: false))
        #expect(machine.isBatchInFlight)
    }

    @Test func linesArrivingWhileABatchIsInFlight_areGatheredIntoTheNextBatchInOrder() {
        var machine = Machine(batchLinesMax: 8, pendingLinesMax: 16)
        self.receive(&machine, "a")
        #expect(machine.readComplete() == .dispatch(Self.lines("a"), resumeReading: false))
        self.receive(&machine, "b", "c")
        #expect(machine.readComplete() == .none)
        self.receive(&machine, "d")
        #expect(machine.readComplete() == .none)
        #expect(machine.pendingLineCount == 3)
        #expect(
            machine.batchAnswered(startsStream: false) == .dispatch(Self.lines("b", "c", "d"), resumeReading: false))
        #expect(machine.batchAnswered(startsStream: false) == .none)
        #expect(!machine.isBatchInFlight)
    }

    @Test func batches_areCappedAtMaxBatchLines() {
        var machine = Machine(batchLinesMax: 2, pendingLinesMax: 8)
        self.receive(&machine, "1", "2", "3", "4", "5")
        #expect(machine.readComplete() == .dispatch(Self.lines("1", "2"), resumeReading: false))
        #expect(machine.batchAnswered(startsStream: false) == .dispatch(Self.lines("3", "4"), resumeReading: false))
        #expect(machine.batchAnswered(startsStream: false) == .dispatch(Self.lines("5"), resumeReading: false))
        #expect(machine.batchAnswered(startsStream: false) == .none)
    }

    @Test(arguments: [1, 3, 4])
    func reading_stopsAtThePendingBound_andResumesWhenTheNextBatchLeaves(bound: Int) {
        var machine = Machine(batchLinesMax: 1, pendingLinesMax: bound)
        self.receive(&machine, "first")
        #expect(machine.readComplete() == .dispatch(Self.lines("first"), resumeReading: false))
        for index in 0..<bound {
            #expect(machine.readRequested() == true, "below the bound at \(index)")
            machine.lineReceived([UInt8(index)])
        }
        #expect(machine.readRequested() == false, "at the bound the read is held")
        #expect(machine.readComplete() == .none)
        // The next batch takes one line out: back under the bound, so the held read goes on.
        #expect(machine.batchAnswered(startsStream: false) == .dispatch([[0]], resumeReading: true))
        #expect(machine.readRequested() == true)
    }

    @Test func anUnwritableChannel_holdsReadsAndBatches_untilWritableAgain() {
        var machine = Machine(batchLinesMax: 8, pendingLinesMax: 16)
        self.receive(&machine, "a")
        #expect(machine.readComplete() == .dispatch(Self.lines("a"), resumeReading: false))
        #expect(machine.writabilityChanged(isWritable: false) == .none)
        #expect(machine.readRequested() == false)
        self.receive(&machine, "b")
        #expect(machine.batchAnswered(startsStream: false) == .none, "no batch while the peer does not read")
        #expect(machine.writabilityChanged(isWritable: true) == .dispatch(Self.lines("b"), resumeReading: true))
    }

    @Test func aTooLongLine_isAnsweredAfterEveryEarlierLine_thenCloses() {
        var machine = Machine(batchLinesMax: 8, pendingLinesMax: 16)
        self.receive(&machine, "a")
        #expect(machine.readComplete() == .dispatch(Self.lines("a"), resumeReading: false))
        self.receive(&machine, "b")
        #expect(machine.lineTooLongReceived() == .none)
        #expect(machine.readRequested() == false)
        #expect(machine.batchAnswered(startsStream: false) == .dispatch(Self.lines("b"), resumeReading: false))
        #expect(machine.batchAnswered(startsStream: false) == .writeLineTooLongAndClose)
        #expect(machine.isClosed)
    }

    @Test func aTooLongLine_withNothingOutstanding_isAnsweredAtOnce() {
        var machine = Machine(batchLinesMax: 8, pendingLinesMax: 16)
        #expect(machine.lineTooLongReceived() == .writeLineTooLongAndClose)
        self.receive(&machine, "ignored")
        #expect(machine.pendingLineCount == 0)
    }

    @Test func inputClosed_answersWhatWasGathered_thenCloses() {
        var machine = Machine(batchLinesMax: 8, pendingLinesMax: 16)
        self.receive(&machine, "a")
        #expect(machine.readComplete() == .dispatch(Self.lines("a"), resumeReading: false))
        self.receive(&machine, "b")
        #expect(machine.inputClosed() == .none)
        #expect(machine.batchAnswered(startsStream: false) == .dispatch(Self.lines("b"), resumeReading: false))
        #expect(machine.batchAnswered(startsStream: false) == .close)
    }

    @Test func inputClosed_withNothingOutstanding_closesAtOnce() {
        var machine = Machine(batchLinesMax: 8, pendingLinesMax: 16)
        #expect(machine.inputClosed() == .close)
    }

    @Test func shutdown_stopsReading_answersWhatWasRead_evenUnwritable_thenCloses() {
        var machine = Machine(batchLinesMax: 1, pendingLinesMax: 16)
        self.receive(&machine, "a", "b")
        #expect(machine.readComplete() == .dispatch(Self.lines("a"), resumeReading: false))
        #expect(machine.writabilityChanged(isWritable: false) == .none)
        #expect(machine.shutdownRequested() == .none)
        #expect(machine.readRequested() == false)
        #expect(machine.batchAnswered(startsStream: false) == .dispatch(Self.lines("b"), resumeReading: false))
        #expect(machine.batchAnswered(startsStream: false) == .close)
        #expect(machine.shutdownRequested() == .none, "closes once")
    }

    @Test func aStream_dropsGatheredAndLaterLines_keepsReading_andClosesWhenItEnds() {
        var machine = Machine(batchLinesMax: 8, pendingLinesMax: 16)
        self.receive(&machine, "subscribe")
        #expect(machine.readComplete() == .dispatch(Self.lines("subscribe"), resumeReading: false))
        self.receive(&machine, "queued")
        #expect(machine.batchAnswered(startsStream: true) == .none)
        #expect(machine.isStreaming)
        #expect(machine.pendingLineCount == 0)
        self.receive(&machine, "later")
        #expect(machine.pendingLineCount == 0)
        #expect(machine.readComplete() == .none)
        #expect(machine.readRequested() == true, "reading goes on so a closing peer is seen")
        #expect(machine.streamEnded() == .close)
    }

    @Test func aSubscribersEOF_endsTheStream() {
        var machine = Machine(batchLinesMax: 8, pendingLinesMax: 16)
        self.receive(&machine, "subscribe")
        _ = machine.readComplete()
        _ = machine.batchAnswered(startsStream: true)
        #expect(machine.inputClosed() == .close)
        #expect(machine.streamEnded() == .none, "closes once")
    }

    @Test func shutdown_whileStreaming_closesAtOnce() {
        var machine = Machine(batchLinesMax: 8, pendingLinesMax: 16)
        self.receive(&machine, "subscribe")
        _ = machine.readComplete()
        _ = machine.batchAnswered(startsStream: true)
        #expect(machine.shutdownRequested() == .close)
    }

    @Test func aSubscriptionAnsweredDuringShutdown_closesInsteadOfStreaming() {
        var machine = Machine(batchLinesMax: 8, pendingLinesMax: 16)
        self.receive(&machine, "subscribe")
        _ = machine.readComplete()
        #expect(machine.shutdownRequested() == .none)
        #expect(machine.batchAnswered(startsStream: true) == .close)
    }

    @Test func anAnswerAfterThePeerLeft_doesNothing() {
        var machine = Machine(batchLinesMax: 8, pendingLinesMax: 16)
        self.receive(&machine, "a")
        _ = machine.readComplete()
        self.receive(&machine, "b")
        machine.channelClosed()
        #expect(machine.batchAnswered(startsStream: false) == .none)
        #expect(machine.readRequested() == false)
    }
}
