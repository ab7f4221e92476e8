import Foundation

/// RFC 3339 UTC with milliseconds, as the protocol writes times.
enum Time {
    private static func formatter() -> ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter
    }

    static func date(_ text: String) -> Date {
        guard let date = formatter().date(from: text) else { preconditionFailure("not an RFC 3339 time: \(text)") }
        return date
    }

    static func text(_ date: Date) -> String { formatter().string(from: date) }

    /// `time` plus `seconds`, in protocol form.
    static func adding(_ seconds: Int, to time: String) -> String {
        text(date(time).addingTimeInterval(TimeInterval(seconds)))
    }

    /// Whole seconds from `from` to `to`.
    static func seconds(from: String, to: String) -> Int {
        Int(date(to).timeIntervalSince(date(from)).rounded())
    }
}
