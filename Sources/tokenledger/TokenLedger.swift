import ArgumentParser

/// The `tokenledger` command line: one subcommand per protocol op (PROTOCOL.md §5),
/// nested groups for dotted ops (`team create` → `team.create`).
@main
struct TokenLedger: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenledger",
        abstract: "Talk to tokenledgerd, the hash-chained token ledger: balances, usage, setup, audit.",
        discussion: """
            Every subcommand sends one request over the daemon's Unix socket (--socket, \
            $TOKENLEDGER_SOCKET or ./tokenledger.sock) and prints the answer for people; \
            --json prints the raw response line instead. Exit status: 0 ok, 1 the daemon \
            refused (error: <code>: <message> on stderr), 2 the daemon could not be reached, \
            64 bad command-line input.

            QUICK TOUR
              tokenledger team create --team acme --plan starter --daily-limit 200000
              tokenledger user add --team acme --user ana
              tokenledger consume --team acme --user ana --model gpt-4o --input-tokens 900
              tokenledger balance --team acme --user ana
              tokenledger audit --team acme --types consumed --limit 20
              tokenledger tail --team acme --type consumed
            """,
        groupedSubcommands: [
            CommandGroup(
                name: "Usage (gateway)",
                subcommands: [Consume.self, Check.self, Estimate.self, HoldGroup.self]),
            CommandGroup(
                name: "Read",
                subcommands: [Balance.self, UsageCommand.self, Report.self, Audit.self, Tail.self, Ping.self]),
            CommandGroup(
                name: "Setup (admin)",
                subcommands: [TeamGroup.self, UserGroup.self, PodGroup.self, PlanGroup.self, PriceGroup.self]),
            CommandGroup(
                name: "Money (admin)",
                subcommands: [Topup.self, BonusGroup.self, Reset.self, Reverse.self]),
            CommandGroup(
                name: "Operations",
                subcommands: [
                    Verify.self, VerifyExport.self, Stats.self, Rebuild.self, Backup.self, ClockGroup.self, Raw.self,
                ]),
        ])
}
