import LedgerJSON

/// Dates and times as canonical string values, formatted in place without allocation.
extension CanonicalWriter {
    public mutating func instant(_ t: Instant) {
        quoted(room: Instant.rfc3339BytesMax) { p in
            var c = ByteCursor(p)
            t.write(to: &c)
            return c.count
        }
    }

    public mutating func day(_ d: LocalDay) {
        quoted(room: LocalDay.bytesMax) { p in
            var c = ByteCursor(p)
            d.write(to: &c)
            return c.count
        }
    }
}
