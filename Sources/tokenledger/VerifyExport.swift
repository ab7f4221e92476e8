import ArgumentParser
import Foundation
import LedgerCore
import LedgerJSON

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `tokenledger verify-export FILE`: the auditor's check of PROTOCOL §6 on an NDJSON export,
/// with no daemon: every hash re-derived from the text (RFC 8785 bytes of the event without
/// `hash`, after the previous hash), seqs consecutive.
struct VerifyExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-export",
        abstract: "Re-derive the hash chain of an NDJSON export offline (no daemon needed).",
        discussion: """
            Reads an export made with `tokenledger audit --format ndjson --output FILE` (unfiltered: \
            a filtered export has gaps by design) one line at a time. Each event's hash must equal \
            SHA-256(previous hash ‖ RFC 8785 bytes of the event without "hash"), from 32 zero bytes \
            before seq 1, and seqs must follow each other without gaps. An export that starts after \
            seq 1 cannot be checked from the genesis: its first event's stored hash is taken as the \
            left edge (trusted), and the output says so.

            Prints `ok: N events, seq A..B, head_hash H` and exits 0, or names the first break \
            (`seq S: hash mismatch`, `seq S: gap`, `unparseable line L`) and exits 1. Compare \
            head_hash with `tokenledger verify` or a pinned value.

            Examples:
              tokenledger audit --format ndjson --output ledger.ndjson
              tokenledger verify-export ledger.ndjson
            """)

    @Argument(help: ArgumentHelp("The NDJSON export.", valueName: "file")) var file: String

    static let brokenExitCode: Int32 = 1

    func run() throws {
        let reader: FileLineReader
        do {
            reader = try FileLineReader(path: file)
        } catch {
            printError("error: \(error)")
            throw ExitCode(Self.brokenExitCode)
        }
        var check = ChainCheck()
        var lineNumber = 0
        while true {
            let line: [UInt8]?
            do {
                line = try reader.next()
            } catch {
                printError("error: \(error)")
                throw ExitCode(Self.brokenExitCode)
            }
            guard var line else { break }
            lineNumber += 1
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            if let failure = check.add(line, lineNumber: lineNumber) {
                print(failure)
                throw ExitCode(Self.brokenExitCode)
            }
        }
        for line in check.summary() { print(line) }
    }
}

/// The chain check, one line at a time, keeping only the previous hash.
struct ChainCheck {
    private(set) var count = 0
    private(set) var firstSeq: UInt64?
    private(set) var lastSeq: UInt64 = 0
    private(set) var previous: [UInt8] = HashChain.genesis

    /// The break this line makes, or nil when it extends the chain.
    mutating func add(_ line: [UInt8], lineNumber: Int) -> String? {
        guard firstSeq != nil else { return start(line, lineNumber: lineNumber) }
        let expected = lastSeq + 1
        do {
            let (seq, hash) = try HashChain.check(line: line, previous: previous, expectedSeq: expected)
            assert(seq == expected)
            previous = hash
            lastSeq = seq
            count += 1
            return nil
        } catch {
            switch error {
            case .unreadable(let why):
                return "unparseable line \(lineNumber): \(why)"
            case .wrongSeq(let expected, let found):
                return found > expected
                    ? "seq \(found): gap (seq \(expected)\(found - expected > 1 ? "..\(found - 1)" : "") missing, line \(lineNumber))"
                    : "seq \(found): out of order (seq \(expected) expected, line \(lineNumber))"
            case .wrongHash(let derived, let stored):
                return "seq \(expected): hash mismatch (stored \(stored), derived \(derived), line \(lineNumber))"
            }
        }
    }

    /// The first event: checked from the genesis when it is seq 1, else taken as the left edge.
    private mutating func start(_ line: [UInt8], lineNumber: Int) -> String? {
        guard case .object(let o)? = try? JSONParser.parse(line) else {
            return "unparseable line \(lineNumber): not a JSON object"
        }
        guard case .number(let n)? = o["seq"], let s = n.int64, s >= 1 else {
            return "unparseable line \(lineNumber): no seq"
        }
        let seq = UInt64(s)
        if seq == 1 {
            firstSeq = 1
            lastSeq = 0
            return add(line, lineNumber: lineNumber)
        }
        guard case .string(let hex)? = o["hash"], let hash = HashChain.unhex(hex), hash.count == 32 else {
            return "unparseable line \(lineNumber): no hash"
        }
        firstSeq = seq
        lastSeq = seq
        previous = hash
        count = 1
        return nil
    }

    func summary() -> [String] {
        guard let firstSeq else { return ["ok: 0 events"] }
        var lines = ["ok: \(count) events, seq \(firstSeq)..\(lastSeq), head_hash \(HashChain.hex(previous))"]
        if firstSeq > 1 {
            lines.append(
                "note: the export starts at seq \(firstSeq), not 1: seq \(firstSeq)'s stored hash is trusted as the "
                    + "left edge; the events after it are checked against it")
        }
        return lines
    }
}

/// Lines of a file as bytes, read in chunks (an export may be far larger than memory).
final class FileLineReader {
    static let chunkBytes = 1 << 20
    /// A longer line is refused rather than buffered without end.
    static let lineBytesMax = 64 << 20

    struct ReadError: Error, CustomStringConvertible {
        var description: String
    }

    private let fd: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false

    init(path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        self.path = path
    }

    deinit { close(fd) }

    /// The next line without its `\n`; the last line may lack one; nil at the end.
    func next() throws -> [UInt8]? {
        var scanFrom = start
        while true {
            if let newline = buffer[scanFrom...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                return line
            }
            if eof {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                return line
            }
            guard buffer.count - start <= Self.lineBytesMax else {
                throw ReadError(description: "\(path) has a line longer than \(Self.lineBytesMax) bytes")
            }
            scanFrom = buffer.count
            if start > 0 {
                buffer.removeFirst(start)
                scanFrom -= start
                start = 0
            }
            let old = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: Self.chunkBytes))
            let n = buffer.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress! + old, Self.chunkBytes) }
            if n < 0 {
                buffer.removeLast(Self.chunkBytes)
                if errno == EINTR { continue }
                throw ReadError(description: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            buffer.removeLast(Self.chunkBytes - n)
            if n == 0 { eof = true }
        }
    }
}
