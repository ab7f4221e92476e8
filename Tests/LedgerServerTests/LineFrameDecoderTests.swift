import NIOCore
import NIOEmbedded
import Testing

@testable import LedgerServer

@Suite("LineFrameDecoder")
struct LineFrameDecoderTests {
    /// The handler is built with `maximumBufferSize: max + 1`, so the channel errors if the decoder
    /// ever keeps more than that: every test here also checks the memory bound.
    private func makeChannel(lineBytesMax: Int) -> EmbeddedChannel {
        EmbeddedChannel(
            handler: ByteToMessageHandler(
                LineFrameDecoder(lineBytesMax: lineBytesMax),
                maximumBufferSize: lineBytesMax + 1
            )
        )
    }

    private func feed(_ chunks: [String], lineBytesMax: Int = 16, close: Bool = false) throws -> [LineFrame] {
        let channel = self.makeChannel(lineBytesMax: lineBytesMax)
        for chunk in chunks {
            try channel.writeInbound(channel.allocator.buffer(string: chunk))
        }
        if close { _ = try? channel.finish() }
        var frames: [LineFrame] = []
        while let frame = try channel.readInbound(as: LineFrame.self) { frames.append(frame) }
        if !close { _ = try channel.finish() }
        return frames
    }

    private static func line(_ text: String) -> LineFrame { .line(Array(text.utf8)) }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var chunks: [String]
        var expected: [LineFrame]
        var testDescription: String { self.name }
    }

    static let cases: [Case] = [
        Case(name: "one line", chunks: ["abc\n"], expected: [line("abc")]),
        Case(
            name: "a line split across reads", chunks: ["a", "bc", "d\nef", "\n"], expected: [line("abcd"), line("ef")]),
        Case(name: "crlf drops one cr", chunks: ["abc\r\n", "x\r\r\n"], expected: [line("abc"), line("x\r")]),
        Case(name: "cr split from its lf", chunks: ["abc\r", "\n"], expected: [line("abc")]),
        Case(name: "empty lines skipped", chunks: ["\n\r\n\na\n\n"], expected: [line("a")]),
        Case(name: "many lines in one read", chunks: ["1\n2\n3\n"], expected: [line("1"), line("2"), line("3")]),
        Case(name: "half a line waits", chunks: ["abc"], expected: []),
    ]

    @Test(arguments: cases)
    func decode_splitsOnNewlines(_ testCase: Case) throws {
        #expect(try self.feed(testCase.chunks) == testCase.expected)
    }

    @Test func decode_whenLineIsExactlyMax_acceptsIt() throws {
        let max = String(repeating: "x", count: 16)
        #expect(try self.feed([max + "\n"]) == [Self.line(max)])
        #expect(try self.feed([max + "\r\n"]) == [Self.line(max)])
        #expect(try self.feed([max + "\r", "\n"]) == [Self.line(max)])
        #expect(try self.feed([max, "\n"]) == [Self.line(max)])
    }

    @Test func decode_whenLineIsMaxPlusOne_rejectsIt() throws {
        let tooLong = String(repeating: "x", count: 17)
        #expect(try self.feed([tooLong + "\n"]) == [.tooLong])
        #expect(try self.feed([tooLong + "\r\n"]) == [.tooLong])
        #expect(try self.feed([String(repeating: "x", count: 16) + "\r", "x"]) == [.tooLong])
    }

    @Test func decode_whenMaxPlusOneBytesArriveWithoutNewline_rejectsBeforeTheNewline() throws {
        let channel = self.makeChannel(lineBytesMax: 16)
        try channel.writeInbound(channel.allocator.buffer(string: String(repeating: "x", count: 16)))
        #expect(try channel.readInbound(as: LineFrame.self) == nil)
        try channel.writeInbound(channel.allocator.buffer(string: "y"))
        #expect(try channel.readInbound(as: LineFrame.self) == .tooLong)
        _ = try channel.finish()
    }

    @Test func decode_afterTooLong_decodesNothingMoreAndBuffersNothing() throws {
        let channel = self.makeChannel(lineBytesMax: 16)
        try channel.writeInbound(channel.allocator.buffer(string: "ok\n" + String(repeating: "x", count: 40)))
        // 10 KB more, lines included: all dropped, and `maximumBufferSize` would trip on any buffering.
        for _ in 0..<100 {
            try channel.writeInbound(channel.allocator.buffer(string: String(repeating: "z", count: 99) + "\n"))
        }
        #expect(try channel.readInbound(as: LineFrame.self) == Self.line("ok"))
        #expect(try channel.readInbound(as: LineFrame.self) == .tooLong)
        #expect(try channel.readInbound(as: LineFrame.self) == nil)
        _ = try channel.finish()
    }

    @Test func decode_whenHalfALineIsLeftAtEOF_dropsIt() throws {
        #expect(try self.feed(["a\nhalf"], close: true) == [Self.line("a")])
        #expect(try self.feed(["a\r\n", "b\r"], close: true) == [Self.line("a")])
    }

    @Test func decode_whenTooLongIsLeftAtEOF_reportsIt() throws {
        #expect(try self.feed([String(repeating: "x", count: 17)], close: true) == [.tooLong])
    }

    /// `nextFrames` and `nextLast` without a channel, driven as the fuzz target drives them.
    private func feedWithoutChannel(_ chunks: [String], lineBytesMax: Int = 16, close: Bool) -> [LineFrame] {
        var decoder = LineFrameDecoder(lineBytesMax: lineBytesMax)
        var buffer = ByteBuffer()
        var frames: [LineFrame] = []
        for chunk in chunks {
            buffer.writeString(chunk)
            frames += decoder.nextFrames(&buffer)
        }
        return close ? frames + decoder.nextLast(&buffer) : frames
    }

    static let overLimitCases: [Case] = [
        Case(
            name: "too long, then a line", chunks: [String(repeating: "x", count: 17) + "\n", "a\n"],
            expected: [.tooLong]),
        Case(name: "too long at EOF", chunks: [String(repeating: "x", count: 17)], expected: [.tooLong]),
        Case(name: "max plus cr waits", chunks: [String(repeating: "x", count: 16) + "\r"], expected: []),
    ]

    @Test(arguments: cases + overLimitCases)
    func next_withoutAChannel_givesTheChannelsFrames(_ testCase: Case) throws {
        for close in [false, true] {
            let direct = self.feedWithoutChannel(testCase.chunks, close: close)
            #expect(direct == (try self.feed(testCase.chunks, close: close)), "close: \(close)")
        }
        #expect(self.feedWithoutChannel(testCase.chunks, close: false) == testCase.expected)
    }
}
