/// The hot path of sealing: a `consumed` event written straight to its RFC 8785 bytes, keys
/// already in order, without building a JSON tree. `HashChain.seal` asserts (debug builds)
/// that the result equals the generic serialisation, so the two cannot drift apart.
extension Event {
    /// Canonical bytes without `hash`, and the offset where `"hash"` belongs; nil for types
    /// without a fast path.
    func fastCanonical() -> (bytes: [UInt8], hashInsertAt: Int)? {
        guard case .consumed(let c) = body else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(384)
        var first = true
        func key(_ k: StaticString) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }
        func int(_ v: Int64) { out.append(contentsOf: String(v).utf8) }
        func str(_ s: String) { CanonicalJSON.writeString(s, to: &out) }
        out.append(UInt8(ascii: "{"))
        // Keys in RFC 8785 order (all ASCII): cost, day, draws, [hash], input_tokens, key,
        // model, operation, output_tokens, overdraft, params, pod, record, seq, task, team,
        // ts, type, user, v.
        key("cost"); int(c.cost)
        key("day"); str(c.day.description)
        key("draws")
        out.append(UInt8(ascii: "["))
        for (i, d) in c.draws.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"amount":"#.utf8)
            int(d.amount)
            out.append(contentsOf: #","bucket_seq":"#.utf8)
            out.append(contentsOf: String(d.bucketSeq).utf8)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        let hashInsertAt = out.count
        if let v = c.inputTokens { key("input_tokens"); int(v) }
        if let k = self.key { key("key"); str(k) }
        key("model"); str(c.tags.model.string)
        if let op = c.tags.operation { key("operation"); str(op) }
        if let v = c.outputTokens { key("output_tokens"); int(v) }
        key("overdraft"); int(c.overdraft)
        if let p = c.params { key("params"); CanonicalJSON.writeObject(p, to: &out) }
        if let pod = c.tags.pod { key("pod"); str(pod.string) }
        key("record"); out.append(contentsOf: (c.record ? "true" : "false").utf8)
        key("seq"); out.append(contentsOf: String(seq).utf8)
        if let task = c.tags.task { key("task"); str(task.string) }
        key("team"); str(c.tags.team.string)
        key("ts"); str(ts.rfc3339)
        key("type"); out.append(contentsOf: #""consumed""#.utf8)
        key("user"); str(c.tags.user.string)
        key("v"); int(Event.version)
        out.append(UInt8(ascii: "}"))
        return (out, hashInsertAt)
    }
}
