import LedgerStore

/// A `subscribe` is served as a cursor over the log (`LogSubscription`), pumped by the
/// connection: never a queue of events in memory.
extension LogSubscription: EventLineStream {}
