import ArgumentParser

/// The executable: serves (`TokenLedgerDaemon`, whose `--help` lists every daemon flag), or,
/// with `verify-snapshot` first, runs that offline check. Dispatched here rather than as an
/// argument-parser subcommand: a parent's `--data` would swallow the subcommand's own.
@main
enum TokenLedgerd {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == VerifySnapshot.configuration.commandName {
            VerifySnapshot.main(Array(arguments.dropFirst()))
        } else {
            await TokenLedgerDaemon.main(arguments)
        }
    }
}
