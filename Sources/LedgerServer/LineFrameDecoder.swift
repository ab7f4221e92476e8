import NIOCore

/// One frame of the newline-delimited stream.
public enum LineFrame: Equatable, Sendable {
    /// A request line without its terminator (`\n` or `\r\n`); never empty.
    case line([UInt8])
    /// The current line passed `lineBytesMax`; nothing after it is decoded.
    case tooLong
}

/// Splits the inbound bytes on `\n`, drops one trailing `\r` and skips empty lines.
///
/// A line longer than `lineBytesMax` (terminator excluded) yields `.tooLong` as soon as that is
/// certain, without waiting for its `\n`, so at most `lineBytesMax + 1` bytes of a line are kept.
/// After `.tooLong` every further byte is discarded: the connection is about to close.
/// An unterminated line at EOF is not a request (the protocol ends requests with `\n`) and is dropped.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = LineFrame

    public let lineBytesMax: Int
    /// Bytes of the current line already searched for `\n`, so each byte is scanned once.
    private var scannedBytes = 0
    private var overflowed = false

    public init(lineBytesMax: Int = 65536) {
        precondition(lineBytesMax > 0, "lineBytesMax must be positive")
        self.lineBytesMax = lineBytesMax
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let (state, frame) = self.next(&buffer)
        if let frame { context.fireChannelRead(Self.wrapInboundOut(frame)) }
        return state
    }

    /// The decoder without a channel: takes at most one frame off `buffer`. `decode(context:buffer:)`
    /// is this plus passing the frame on (and `decodeLast` is `nextLast`), so the fuzz target,
    /// which drives these directly (no channel per input), runs the server's code.
    public mutating func next(_ buffer: inout ByteBuffer) -> (DecodingState, LineFrame?) {
        guard !self.overflowed else {
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return (.needMoreData, nil)
        }
        let view = buffer.readableBytesView
        guard let newline = view[(view.startIndex + self.scannedBytes)...].firstIndex(of: UInt8(ascii: "\n")) else {
            self.scannedBytes = view.count
            // max+1 bytes may still be a max-byte line waiting for the `\n` of its `\r\n`.
            if view.count > self.lineBytesMax + 1 || (view.count == self.lineBytesMax + 1 && view.last != 0x0D) {
                return self.overflow(&buffer)
            }
            return (.needMoreData, nil)
        }
        self.scannedBytes = 0
        var lineBytes = newline - view.startIndex
        if lineBytes > 0 && view[newline - 1] == UInt8(ascii: "\r") { lineBytes -= 1 }
        guard lineBytes <= self.lineBytesMax else { return self.overflow(&buffer) }
        let line = buffer.readBytes(length: lineBytes)!
        buffer.moveReaderIndex(to: newline + 1)
        return (.continue, line.isEmpty ? nil : .line(line))
    }

    /// Every frame `buffer` holds now, taken the way `ByteToMessageHandler` calls `decode`: while
    /// bytes remain and the answer is `.continue`.
    public mutating func nextFrames(_ buffer: inout ByteBuffer) -> [LineFrame] {
        var frames: [LineFrame] = []
        while buffer.readableBytes > 0 {
            let (state, frame) = self.next(&buffer)
            if let frame { frames.append(frame) }
            if state != .continue { break }
        }
        return frames
    }

    /// End of stream without a channel: the frames still in `buffer`; half a line is dropped.
    public mutating func nextLast(_ buffer: inout ByteBuffer) -> [LineFrame] {
        let frames = self.nextFrames(&buffer)
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)  // half a line at EOF: not a request
        self.scannedBytes = 0
        return frames
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        for frame in self.nextLast(&buffer) { context.fireChannelRead(Self.wrapInboundOut(frame)) }
        return .needMoreData
    }

    private mutating func overflow(_ buffer: inout ByteBuffer) -> (DecodingState, LineFrame?) {
        self.overflowed = true
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return (.needMoreData, .tooLong)
    }
}
