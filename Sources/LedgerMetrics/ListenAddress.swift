/// `HOST:PORT` of `--metrics-listen`: an IPv4 address or name, or an IPv6 address in brackets
/// (`[::1]:9464`); port 0 lets the kernel choose (the bound port is logged).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        precondition(!host.isEmpty && (0...65535).contains(port))
        self.host = host
        self.port = port
    }

    /// Nil unless `text` is `HOST:PORT` with a non-empty host and a port in 0...65535.
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = Substring(text[..<colon])
        let portText = text[text.index(after: colon)...]
        if host.hasPrefix("[") {
            guard host.hasSuffix("]") else { return nil }
            host = host.dropFirst().dropLast()
        } else if host.contains(":") {
            return nil  // an IPv6 address needs brackets, or its last group reads as the port
        }
        guard !host.isEmpty, !portText.isEmpty, portText.allSatisfy(\.isASCII), let port = Int(portText),
            (0...65535).contains(port)
        else { return nil }
        self.init(host: String(host), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
