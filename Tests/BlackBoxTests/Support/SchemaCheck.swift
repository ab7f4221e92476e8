import Foundation
import LedgerJSON
import LedgerTestKit
import Testing

/// Checks recorded traffic against `schemas/` with python3 + jsonschema (Draft202012Validator and
/// a `referencing` registry for the `$ref`s into `common.json`).
///
/// The validator is a Python script kept here as a string, so the test needs no resources and no
/// file outside its own folder. When python3 or jsonschema is missing the check is skipped with a
/// message (printed once), never silently passed as checked.
enum SchemaCheck {
    static let schemasDirectory = packageRoot + "/schemas"

    /// A python3 that can import jsonschema and referencing, or why there is none.
    static let python: Result<String, SchemaCheckUnavailable> = {
        var candidates: [String] = []
        if let configured = ProcessInfo.processInfo.environment["TOKENLEDGER_PYTHON"] { candidates.append(configured) }
        if let onPath = findExecutable("python3") { candidates.append(onPath) }
        candidates += ["/usr/local/bin/python3", "/usr/bin/python3"]
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            let probe = try? runProcess(candidate, ["-c", "import jsonschema, referencing"], timeoutSeconds: 60)
            if probe?.termination == .exited(0) { return .success(candidate) }
        }
        if candidates.contains(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return .failure(
                SchemaCheckUnavailable(reason: "python3 has no jsonschema/referencing (pip install jsonschema)"))
        }
        return .failure(SchemaCheckUnavailable(reason: "no python3 found"))
    }()

    static var isAvailable: Bool {
        if case .success = python { return true }
        return false
    }

    private static let skipNotice: Void = {
        if case .failure(let why) = python {
            print("SCHEMA CHECK SKIPPED: \(why.reason); traffic is not checked against schemas/")
        }
    }()

    /// Validates every recorded line; records one issue listing the violations.
    static func run(_ traffic: TrafficRecorder, sourceLocation: SourceLocation = #_sourceLocation) {
        traffic.flush()
        guard case .success(let python) = python else {
            _ = skipNotice
            return
        }
        do {
            let result = try validate(trafficPath: traffic.path, python: python)
            if result.termination != .exited(0) {
                Issue.record(
                    "traffic violates schemas/ (\(traffic.path)):\n\(result.stdout)\(result.stderr)",
                    sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record(error, "running the schema validator", sourceLocation: sourceLocation)
        }
    }

    /// Runs the validator on an NDJSON file of `{"kind","op","line"}` records.
    static func validate(trafficPath: String, python: String) throws -> ProcessResult {
        let directory = try TemporaryDirectory(prefix: "tl-schema-")
        let scriptPath = directory.path + "/validate.py"
        try validatorScript.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        return try runProcess(python, [scriptPath, schemasDirectory, trafficPath], timeoutSeconds: 120)
    }

    /// argv: schemas directory, traffic NDJSON. Exit 0 when all lines conform, 1 with one
    /// `VIOLATION:` line per problem, 3 when jsonschema is missing.
    static let validatorScript = #"""
        import json, os, sys
        try:
            from jsonschema import Draft202012Validator, validators
            from referencing import Registry, Resource
        except ImportError as error:
            print("SKIP: " + str(error)); sys.exit(3)
        root, traffic = sys.argv[1], sys.argv[2]
        registry = Registry()
        schemas = {}
        problems = []
        for directory, _, names in os.walk(root):
            for name in sorted(names):
                if not name.endswith(".json"):
                    continue
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as f:
                    schema = json.load(f)
                try:
                    Draft202012Validator.check_schema(schema)
                except Exception as error:
                    problems.append("schema %s is not a valid draft 2020-12 schema: %s" % (path, error))
                schemas[os.path.relpath(path, root)] = schema
                registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
        # PROTOCOL §3: 100.0 is not an integer (JSON Schema would accept it by default).
        checker = Draft202012Validator.TYPE_CHECKER.redefine(
            "integer", lambda c, x: isinstance(x, int) and not isinstance(x, bool))
        Strict = validators.extend(Draft202012Validator, type_checker=checker)
        cache = {}
        def validator(rel):
            if rel not in cache:
                cache[rel] = Strict(schemas[rel], registry=registry) if rel in schemas else None
            return cache[rel]
        def floats(value, path="$"):
            if isinstance(value, float):
                yield path
            elif isinstance(value, dict):
                for k, v in value.items():
                    yield from floats(v, path + "." + k)
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    yield from floats(v, "%s[%d]" % (path, i))
        def describe(error):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            return "at %s: %s" % (where, error.message[:300])
        counts = {}
        with open(traffic, encoding="utf-8") as f:
            records = [json.loads(l) for l in f if l.strip()]
        for record in records:
            kind, op, line = record["kind"], record.get("op"), record["line"]
            counts[kind] = counts.get(kind, 0) + 1
            short = line if len(line) <= 400 else line[:400] + "..."
            try:
                value = json.loads(line)
            except ValueError as error:
                problems.append("%s (%s) is not JSON: %s: %s" % (kind, op, error, short)); continue
            if kind == "response":
                if not isinstance(value, dict):
                    problems.append("response to %s is not an object: %s" % (op, short)); continue
                rel = "responses/error.json" if value.get("ok") is False else "responses/%s.json" % op
                if value.get("ok") is not False and op is None:
                    problems.append("ok response to a request without a known op: " + short); continue
            elif kind == "event_line":
                if not isinstance(value, dict):
                    problems.append("stream line is not an object: " + short); continue
                rel = "responses/error.json" if value.get("ok") is False else "stream/event_line.json"
            elif kind == "event":
                rel = "events/%s.json" % (value.get("type") if isinstance(value, dict) else None)
                for path in floats(value):
                    problems.append("event holds a non-integer number at %s: %s" % (path, short))
            elif kind in ("request", "invalid_request"):
                rel = "requests/%s.json" % op
            else:
                problems.append("unknown record kind %r" % kind); continue
            v = validator(rel)
            if v is None:
                if kind != "invalid_request":
                    problems.append("no schema %s for %s: %s" % (rel, kind, short))
                continue
            errors = sorted(v.iter_errors(value), key=lambda e: list(e.absolute_path))
            if kind == "invalid_request":
                if not errors:
                    problems.append("schema %s accepts a request the contract rejects: %s" % (rel, short))
            elif errors:
                problems.append("%s %s violates %s: %s\n    line: %s" % (kind, op, rel, "; ".join(describe(e) for e in errors[:5]), short))
        print("checked %s against %d schemas" % (", ".join("%d %s" % (n, k) for k, n in sorted(counts.items())), len(schemas)))
        for p in problems:
            print("VIOLATION: " + p)
        sys.exit(1 if problems else 0)
        """#
}

struct SchemaCheckUnavailable: Error {
    var reason: String
}
