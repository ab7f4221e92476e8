/// `budget_alert` (PROTOCOL §6): appended with the consumption that first reaches an
/// `alert_at` percent of a budget in a cycle, one per percent, ascending. Holds do not count.
public enum Alerts {
    public static func reached(team t: TeamState, tags: UsageTags, cost: Int64) -> [EventBody] {
        var out: [EventBody] = []
        func scan(_ b: BudgetState, scope: String, pod: ID?) {
            guard b.budget != -1 else { return }
            let used = b.used + cost
            for p in t.alertAt where !b.alerted.contains(p) && Int128(used) * 100 >= Int128(p) * Int128(b.budget) {
                out.append(.budgetAlert(team: t.id, scope: scope, pod: pod, percent: p, used: used, budget: b.budget))
            }
        }
        scan(t.budget, scope: "team", pod: nil)
        if let pod = tags.pod, let p = t.pods[pod] { scan(p.budget, scope: "pod", pod: pod) }
        return out
    }
}
