public enum BudgetAction: String, Sendable, CaseIterable {
    case alert, pause
    case blockNewTasks = "block_new_tasks"
}
