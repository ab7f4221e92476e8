import ArgumentParser
import LedgerCore
import LedgerJSON
import LedgerProtocol

// Setup ops (admin): teams, users, pods, plans, prices. PROTOCOL §5 "Setup".

struct TeamGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "team",
        abstract: "Create and configure teams (the pool of tokens everyone in a team shares).",
        discussion: """
            Ops team.create, team.configure, team.resume.

            Examples:
              tokenledger team create --team acme --plan starter
              tokenledger team configure --team acme --monthly-budget 1500000
            """,
        subcommands: [TeamCreate.self, TeamConfigure.self, TeamResume.self])
}

struct TeamCreate: LedgerCommand {
    static let op = "team.create"
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a team and start its first billing cycle with the plan's full allowance.",
        discussion: """
            Cycles are monthly from today, starting at local midnight in the team's timezone. \
            The timezone cannot be changed later. Without --daily-limit the daemon's \
            --default-daily-limit applies (-1 = unlimited).

            Example:
              tokenledger team create --team acme --plan starter \\
                  --timezone Europe/Madrid --daily-limit 200000
            """)

    @Option(help: ArgumentHelp("Team id.", valueName: "team")) var team: String
    @Option(
        help: ArgumentHelp("Plan id: solo (default), starter, pro, enterprise or a defined one.", valueName: "plan"))
    var plan: String?
    @Option(help: ArgumentHelp("IANA timezone the team's days and cycles follow (default UTC).", valueName: "zone"))
    var timezone: String?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Tokens the whole team may consume per day; -1 = unlimited.", valueName: "n"),
        transform: Parse.integer)
    var dailyLimit: Int?
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("team", team)
        fields.add("plan", plan)
        fields.add("timezone", timezone)
        fields.add("daily_limit", dailyLimit)
        fields.add("key", idempotency.key)
        return fields
    }
}

struct TeamConfigure: LedgerCommand {
    static let op = "team.configure"
    static let configuration = CommandConfiguration(
        commandName: "configure",
        abstract: "Change a team's daily limit, monthly budget, budget action, alert thresholds or next plan.",
        discussion: """
            Only the options given are changed. A new --plan takes effect at the next cycle. \
            Alert percents also apply to the team's pods; a budget change re-arms the \
            percents above the new share.

            Example:
              tokenledger team configure --team acme --monthly-budget 1500000 \\
                  --budget-action pause --alert-at 50,75,90,100
            """)

    @Option(help: ArgumentHelp("Team id.", valueName: "team")) var team: String
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Tokens the whole team may consume per day; -1 = unlimited.", valueName: "n"),
        transform: Parse.integer)
    var dailyLimit: Int?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Tokens the team may consume per cycle before the budget action; -1 = no budget.", valueName: "n"),
        transform: Parse.integer)
    var monthlyBudget: Int?
    @Option(help: ArgumentHelp("What happens at 100% of the budget.", valueName: "action"))
    var budgetAction: BudgetAction?
    @Option(
        help: ArgumentHelp(
            "Budget percents (1..1000: an alert budget can be passed) that raise a budget_alert, comma-separated (default 50,75,90,100).",
            valueName: "list"),
        transform: Parse.integerList)
    var alertAt: [Int]?
    @Option(help: ArgumentHelp("Plan for the team from its next cycle on.", valueName: "plan")) var plan: String?
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("team", team)
        fields.add("daily_limit", dailyLimit)
        fields.add("monthly_budget", monthlyBudget)
        fields.add("budget_action", budgetAction?.rawValue)
        fields.add("alert_at", alertAt)
        fields.add("plan", plan)
        fields.add("key", idempotency.key)
        return fields
    }
}

struct TeamResume: LedgerCommand {
    static let op = "team.resume"
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Lift a team's budget pause; it may run past its budget until the cycle ends.",
        discussion: """
            Example:
              tokenledger team resume --team acme
            """)

    @Option(help: ArgumentHelp("Team id.", valueName: "team")) var team: String
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("team", team)
        fields.add("key", idempotency.key)
        return fields
    }
}

/// `--team` and `--user`: the member a user op is about.
struct UserTarget: ParsableArguments {
    @Option(help: ArgumentHelp("Team id.", valueName: "team")) var team: String
    @Option(help: ArgumentHelp("User id (unique within the team).", valueName: "user")) var user: String

    func add(to fields: inout RequestFields) {
        fields.add("team", team)
        fields.add("user", user)
    }
}

struct UserGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Add, remove and cap the members of a team.",
        discussion: """
            Ops user.add, user.remove, user.assign.

            Examples:
              tokenledger user add --team acme --user ana --daily-limit 50000
              tokenledger user assign --team acme --user ana --amount 250000
            """,
        subcommands: [UserAdd.self, UserRemove.self, UserAssign.self])
}

struct UserAdd: LedgerCommand {
    static let op = "user.add"
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a member to a team (counts toward the plan's member limit).",
        discussion: """
            Example:
              tokenledger user add --team acme --user ana --daily-limit 50000
            """)

    @OptionGroup var target: UserTarget
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Tokens this user may consume per day; -1 = unlimited (default).", valueName: "n"),
        transform: Parse.integer)
    var dailyLimit: Int?
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        target.add(to: &fields)
        fields.add("daily_limit", dailyLimit)
        fields.add("key", idempotency.key)
        return fields
    }
}

struct UserRemove: LedgerCommand {
    static let op = "user.remove"
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a member; the id stays taken and stops counting toward the plan.",
        discussion: """
            Example:
              tokenledger user remove --team acme --user ana
            """)

    @OptionGroup var target: UserTarget
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        target.add(to: &fields)
        fields.add("key", idempotency.key)
        return fields
    }
}

struct UserAssign: LedgerCommand {
    static let op = "user.assign"
    static let configuration = CommandConfiguration(
        commandName: "assign",
        abstract: "Set a user's allocation: the most they may draw from the pool per cycle.",
        discussion: """
            The allocation refills to this amount at each cycle start.

            Example:
              tokenledger user assign --team acme --user ana --amount 250000
            """)

    @OptionGroup var target: UserTarget
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Tokens per cycle; -1 = no cap.", valueName: "n"),
        transform: Parse.integer)
    var amount: Int
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        target.add(to: &fields)
        fields.add("amount", amount)
        fields.add("key", idempotency.key)
        return fields
    }
}

/// `--team` and `--pod`: the pod a pod op is about.
struct PodTarget: ParsableArguments {
    @Option(help: ArgumentHelp("Team id.", valueName: "team")) var team: String
    @Option(help: ArgumentHelp("Pod id (unique within the team).", valueName: "pod")) var pod: String

    func add(to fields: inout RequestFields) {
        fields.add("team", team)
        fields.add("pod", pod)
    }
}

struct PodGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pod",
        abstract: "Create, budget, archive and resume pods (a team's projects).",
        discussion: """
            Ops pod.create, pod.configure, pod.archive, pod.resume.

            Examples:
              tokenledger pod create --team acme --pod api-migration --budget 200000
              tokenledger pod resume --team acme --pod api-migration
            """,
        subcommands: [PodCreate.self, PodConfigure.self, PodArchive.self, PodResume.self])
}

/// `--budget` and `--budget-action`, shared by pod create and pod configure.
struct PodBudgetOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Tokens the pod may consume per cycle; -1 = no budget.", valueName: "n"),
        transform: Parse.integer)
    var budget: Int?
    @Option(help: ArgumentHelp("What happens at 100% of the budget.", valueName: "action"))
    var budgetAction: BudgetAction?

    func add(to fields: inout RequestFields) {
        fields.add("budget", budget)
        fields.add("budget_action", budgetAction?.rawValue)
    }
}

struct PodCreate: LedgerCommand {
    static let op = "pod.create"
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a pod in a team (counts toward the plan's pod limit).",
        discussion: """
            Example:
              tokenledger pod create --team acme --pod api-migration --budget 200000 \\
                  --budget-action block_new_tasks
            """)

    @OptionGroup var target: PodTarget
    @OptionGroup var budget: PodBudgetOptions
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        target.add(to: &fields)
        budget.add(to: &fields)
        fields.add("key", idempotency.key)
        return fields
    }
}

struct PodConfigure: LedgerCommand {
    static let op = "pod.configure"
    static let configuration = CommandConfiguration(
        commandName: "configure",
        abstract: "Change a pod's budget or budget action.",
        discussion: """
            Example:
              tokenledger pod configure --team acme --pod api-migration --budget 300000 \\
                  --budget-action pause
            """)

    @OptionGroup var target: PodTarget
    @OptionGroup var budget: PodBudgetOptions
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        target.add(to: &fields)
        budget.add(to: &fields)
        fields.add("key", idempotency.key)
        return fields
    }
}

struct PodArchive: LedgerCommand {
    static let op = "pod.archive"
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Archive a pod: it stops counting toward the plan and refuses further use.",
        discussion: """
            Example:
              tokenledger pod archive --team acme --pod api-migration
            """)

    @OptionGroup var target: PodTarget
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        target.add(to: &fields)
        fields.add("key", idempotency.key)
        return fields
    }
}

struct PodResume: LedgerCommand {
    static let op = "pod.resume"
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Lift a pod's budget pause; it may run past its budget until the cycle ends.",
        discussion: """
            Example:
              tokenledger pod resume --team acme --pod api-migration
            """)

    @OptionGroup var target: PodTarget
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        target.add(to: &fields)
        fields.add("key", idempotency.key)
        return fields
    }
}

struct PlanGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Define subscription plans (monthly allowance, pod and member limits).",
        discussion: """
            Op plan.define.

            Example:
              tokenledger plan define --plan xl --monthly-tokens 25000000 \\
                  --max-pods 20 --max-members -1
            """,
        subcommands: [PlanDefine.self])
}

struct PlanDefine: LedgerCommand {
    static let op = "plan.define"
    static let configuration = CommandConfiguration(
        commandName: "define",
        abstract: "Define or replace a plan; a replacement applies from each team's next cycle.",
        discussion: """
            Built in: solo 500,000/1/1, starter 2,000,000/5/5, pro 10,000,000/unlimited/unlimited, \
            enterprise unlimited. Use -1 for unlimited.

            Example:
              tokenledger plan define --plan team-xl --monthly-tokens 25000000 \\
                  --max-pods 20 --max-members -1
            """)

    @Option(help: ArgumentHelp("Plan id.", valueName: "plan")) var plan: String
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Allowance granted at each cycle start; -1 = unlimited.", valueName: "n"),
        transform: Parse.integer)
    var monthlyTokens: Int
    @Option(
        parsing: .unconditional, help: ArgumentHelp("Most active pods; -1 = unlimited.", valueName: "n"),
        transform: Parse.integer)
    var maxPods: Int
    @Option(
        parsing: .unconditional, help: ArgumentHelp("Most active members; -1 = unlimited.", valueName: "n"),
        transform: Parse.integer)
    var maxMembers: Int
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("plan", plan)
        fields.add("monthly_tokens", monthlyTokens)
        fields.add("max_pods", maxPods)
        fields.add("max_members", maxMembers)
        fields.add("key", idempotency.key)
        return fields
    }
}

struct PriceGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "price",
        abstract: "Set how a model's usage is priced in tokens.",
        discussion: """
            Op price.set.

            Example:
              tokenledger price set --model gpt-4o --kind text --output-weight 3
            """,
        subcommands: [PriceSet.self])
}

struct PriceSet: LedgerCommand {
    static let op = "price.set"
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Set a model's price: weights for text, a base and factors for image, video and audio.",
        discussion: """
            text:  cost = ceil(input_tokens × input_weight + output_tokens × output_weight)
            other: cost = ceil(base × Π factors) + floor(steps / per_steps)
            Weights and multipliers take at most 3 decimals and are sent as JSON numbers.

            Examples:
              tokenledger price set --model gpt-4o --kind text --input-weight 1 \\
                  --output-weight 3
              tokenledger price set --model stable-diffusion --kind image --base 10 \\
                  --factor resolution:1024x1024=1.5 --per-steps 25
            """)

    @Option(help: ArgumentHelp("Model id.", valueName: "model")) var model: String
    @Option(help: ArgumentHelp("Pricing kind.", valueName: "kind")) var kind: PriceKind
    @Option(
        help: ArgumentHelp("Text: tokens charged per input token (default 1), e.g. 1.5.", valueName: "decimal"),
        transform: Parse.decimal)
    var inputWeight: JSON?
    @Option(
        help: ArgumentHelp("Text: tokens charged per output token (default 1), e.g. 3.", valueName: "decimal"),
        transform: Parse.decimal)
    var outputWeight: JSON?
    @Option(
        help: ArgumentHelp("Image/video/audio: tokens per generation before factors.", valueName: "n"),
        transform: Parse.integer)
    var base: Int?
    @Option(
        help: ArgumentHelp(
            "A multiplier for one value of a param, repeatable: param:value=multiplier (resolution:1024x1024=1.5, quality:high=2, duration:5-10=1.5).",
            valueName: "factor"),
        transform: Parse.factor)
    var factor: [Factor] = []
    @Option(
        help: ArgumentHelp("Add one token per this many steps (params.steps); at least 1.", valueName: "n"),
        transform: Parse.integer)
    var perSteps: Int?
    @OptionGroup var idempotency: OptionalKeyOption

    @OptionGroup var global: GlobalOptions

    func fields() throws -> RequestFields {
        var fields = RequestFields()
        fields.add("model", model)
        fields.add("kind", kind.rawValue)
        fields.add("input_weight", inputWeight)
        fields.add("output_weight", outputWeight)
        fields.add("base", base)
        fields.add("factors", Factor.object(factor))
        fields.add("per_steps", perSteps)
        fields.add("key", idempotency.key)
        return fields
    }
}
