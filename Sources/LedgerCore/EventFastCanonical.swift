import LedgerJSON

/// The hot path of sealing: a `consumed` event written straight to its RFC 8785 bytes, keys
/// already in order, without building a JSON tree. `HashChain.seal` asserts (debug builds)
/// that the result equals the generic serialisation, so the two cannot drift apart.
extension Event {
    /// Writes the canonical bytes without `hash` and returns the offset where `"hash"` belongs;
    /// nil (having written nothing) for types without a fast path.
    func writeFastCanonical(to w: inout CanonicalWriter) -> Int? {
        guard case .consumed(let c) = body else { return nil }
        assert(EventType.consumed.rawValue == "consumed", "the fast path writes the type as a StaticString")
        w.beginObject()
        // Keys in RFC 8785 order (all ASCII): cost, day, draws, [hash], input_tokens, key,
        // model, operation, output_tokens, overdraft, params, pod, record, seq, task, team,
        // ts, type, user, v.
        w.key("cost"); w.int(c.cost)
        w.key("day"); w.day(c.day)
        w.key("draws")
        w.beginArray()
        for d in c.draws {
            w.beginObject()
            w.key("amount"); w.int(d.amount)
            w.key("bucket_seq"); w.uint(d.bucketSeq)
            w.endObject()
        }
        w.endArray()
        let hashInsertAt = w.count
        if let v = c.inputTokens { w.key("input_tokens"); w.int(v) }
        if let k = self.key { w.key("key"); w.string(k) }
        w.key("model"); w.string(c.tags.model.string)
        if let op = c.tags.operation { w.key("operation"); w.string(op) }
        if let v = c.outputTokens { w.key("output_tokens"); w.int(v) }
        w.key("overdraft"); w.int(c.overdraft)
        if let p = c.params { w.key("params"); w.value(.object(p)) }
        if let pod = c.tags.pod { w.key("pod"); w.string(pod.string) }
        w.key("record"); w.bool(c.record)
        w.key("seq"); w.uint(seq)
        if let task = c.tags.task { w.key("task"); w.string(task.string) }
        w.key("team"); w.string(c.tags.team.string)
        w.key("ts"); w.instant(ts)
        w.key("type"); w.string("consumed")  // EventType.consumed, as a StaticString: no escape scan
        w.key("user"); w.string(c.tags.user.string)
        w.key("v"); w.int(Event.version)
        w.endObject()
        return hashInsertAt
    }
}
