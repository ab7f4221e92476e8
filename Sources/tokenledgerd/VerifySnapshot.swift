import ArgumentParser
import Foundation
import LedgerCore
import LedgerStore

/// `tokenledgerd verify-snapshot --data DIR`: an offline check that every stored snapshot is
/// the fold of the log up to its seq, byte for byte (and that the log up to there re-derives).
/// Opens the data directory itself (the protocol CLI stays off the store); LMDB lets it run
/// beside a live daemon, reading one consistent view per chunk of events.
struct VerifySnapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-snapshot",
        abstract: "Check that each stored snapshot equals the fold of the log up to its seq, byte for byte.",
        discussion: """
            Progress goes to stderr, one line per snapshot to stdout. Exit code 0 when every snapshot
            matches (or there is none), 1 when one differs, cannot be read, or the log fails its check.

            Example:
              tokenledgerd verify-snapshot --data /var/lib/tokenledger
            """
    )

    @Option(name: .customLong("data"), help: ArgumentHelp("Data directory (the LMDB log).", valueName: "dir"))
    var data = "./data"

    @Option(
        name: .customLong("progress-every"),
        help: ArgumentHelp("Report progress on stderr every this many events.", valueName: "n"))
    var progressEvery: UInt64 = 1_000_000

    func validate() throws {
        guard progressEvery >= 1 else { throw ValidationError("--progress-every must be at least 1") }
    }

    func run() throws {
        guard FileManager.default.fileExists(atPath: data + "/data.mdb") else {
            FileHandle.standardError.write(Data("verify-snapshot: no log in \(data)\n".utf8))
            throw ExitCode(1)
        }
        let storage = try LMDBLogStorage(directory: data, mapSizeBytes: 1 << 20)
        defer { storage.env.close() }
        let infos = try storage.snapshots().sorted { $0.seq < $1.seq }
        guard let last = infos.last else {
            print("no snapshots stored in \(data)")
            return
        }
        var expected: [UInt64: [UInt8]] = [:]
        var ok = true
        for info in infos {
            if let bytes = try storage.snapshotBytes(seq: info.seq) {
                expected[info.seq] = bytes
            } else {
                print("snapshot at seq \(info.seq): UNREADABLE (chunks missing)")
                ok = false
            }
        }
        let started = Date()
        let failure = try LogFold.run(
            storage: storage, through: last.seq, at: Set(expected.keys), progressEvery: progressEvery,
            progress: { seq in
                let rate = Double(seq) / max(Date().timeIntervalSince(started), 0.001)
                FileHandle.standardError.write(
                    Data("verify-snapshot: folded \(seq) of \(last.seq) events (\(Int(rate))/s)\n".utf8))
            }
        ) { folded in
            let mine = SnapshotCodec.encode(folded)
            let stored = expected[folded.seq]!
            if mine == stored {
                print("snapshot at seq \(folded.seq): equal to the fold of the log (\(stored.count) bytes)")
            } else {
                let why: String
                do {
                    let decoded = try SnapshotCodec.decode(stored)
                    why = decoded == folded ? "bytes differ, state equal" : "state differs"
                } catch {
                    why = "\(error)"
                }
                print("snapshot at seq \(folded.seq): DIFFERS from the fold of the log (\(why))")
                ok = false
            }
        }
        if let failure {
            print("log: \(failure.message)")
            ok = false
        }
        FileHandle.standardError.write(
            Data(
                "verify-snapshot: \(ok ? "ok" : "FAILED") in \(String(format: "%.1f", Date().timeIntervalSince(started))) s\n"
                    .utf8))
        if !ok { throw ExitCode(1) }
    }
}
