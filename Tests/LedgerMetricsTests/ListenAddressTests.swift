import LedgerMetrics
import Testing

@Suite("--metrics-listen address")
struct ListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:9464", "127.0.0.1", 9464), ("localhost:0", "localhost", 0), ("[::1]:9464", "::1", 9464),
        ("0.0.0.0:65535", "0.0.0.0", 65535),
    ])
    func parse_whenWellFormed_givesHostAndPort(text: String, host: String, port: Int) throws {
        let address = try #require(ListenAddress(parsing: text))
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.description == text, "prints back as given")
    }

    @Test(arguments: [
        "", "9464", ":9464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:x", "::1:9464", "[::1:9464",
        "[]:9464", "127.0.0.1:٩٤٦٤",
    ])
    func parse_whenMalformed_givesNil(text: String) {
        #expect(ListenAddress(parsing: text) == nil)
    }
}
