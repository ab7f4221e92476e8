import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

/// `GET http://127.0.0.1:PORT/metrics` and its parse by `prometheus_client`, in python3.
struct PrometheusScrape {
    let port: Int

    /// argv: base URL, then `scrape`, or `status METHOD PATH`. `scrape` prints JSON: the
    /// Content-Type, each family's type, and every sample as `name{label="v",...}` (labels sorted).
    static let script = #"""
        import json, sys, urllib.request, urllib.error
        from prometheus_client.parser import text_string_to_metric_families
        base = sys.argv[1]
        if sys.argv[2] == "scrape":
            with urllib.request.urlopen(base + "/metrics", timeout=30) as response:
                content_type = response.headers.get("Content-Type")
                text = response.read().decode("utf-8")
            types, samples = {}, {}
            for family in text_string_to_metric_families(text):
                types[family.name] = family.type
                for s in family.samples:
                    labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
                    key = s.name + ("{" + labels + "}" if labels else "")
                    if key in samples:
                        sys.exit("duplicate sample " + key)
                    samples[key] = s.value
            print(json.dumps({"content_type": content_type, "types": types, "samples": samples}))
        else:
            request = urllib.request.Request(base + sys.argv[4], method=sys.argv[3])
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    print(response.status)
            except urllib.error.HTTPError as error:
                print(("%d %s" % (error.code, error.headers.get("Allow") or "")).strip())
        """#

    static let python: String? = {
        guard let python = findExecutable("python3"),
            (try? runProcess(python, ["-c", "import prometheus_client"], timeoutSeconds: 60))?.termination == .exited(0)
        else { return nil }
        return python
    }()

    static let skipReason: Comment =
        "needs python3 with prometheus_client (pip install prometheus_client; tools/ensure-deps --test)"

    struct Samples {
        var contentType: String
        var types: [String: String]
        var values: [String: Double]
        subscript(_ key: String) -> Double? { values[key] }
    }

    func run(_ arguments: [String]) throws -> String {
        let python = try #require(Self.python)
        let result = try runProcess(python, ["-c", Self.script, "http://127.0.0.1:\(port)"] + arguments)
        guard result.termination == .exited(0) else {
            throw LedgerTestError("python3 \(arguments): \(result.termination)\n\(result.stdout)\(result.stderr)")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func samples() throws -> Samples {
        let parsed = try JSON.parse(try run(["scrape"]))
        var types: [String: String] = [:]
        for member in parsed["types"]?.members ?? [] { types[member.key] = member.value.string }
        var values: [String: Double] = [:]
        for member in parsed["samples"]?.members ?? [] { values[member.key] = member.value.double }
        return Samples(contentType: parsed["content_type"]?.string ?? "", types: types, values: values)
    }

    /// The status code (and the Allow header, if any) of `method path`.
    func status(_ method: String, _ path: String) throws -> String { try run(["status", method, path]) }
}
