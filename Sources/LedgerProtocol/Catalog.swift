import Foundation
import LedgerCore
import LedgerJSON

/// The model catalog appended as `price_set` events on the first start of an empty log.
public enum Catalog {
    /// The default catalog (README lists it). Image steps add 1 token per 25; resolution,
    /// quality and duration multiply the base.
    public static let defaultJSON = """
        [
          {"model": "stable-diffusion", "kind": "image", "base": 10, "per_steps": 25,
           "factors": {"resolution": {"512x512": 1, "1024x1024": 1.5, "2048x2048": 3},
                       "quality": {"fast": 0.75, "standard": 1, "high": 1.5}}},
          {"model": "dall-e-3", "kind": "image", "base": 25, "per_steps": 25,
           "factors": {"resolution": {"512x512": 1, "1024x1024": 1.5, "2048x2048": 3},
                       "quality": {"fast": 0.75, "standard": 1, "high": 1.5}}},
          {"model": "flux", "kind": "image", "base": 20, "per_steps": 25,
           "factors": {"resolution": {"512x512": 1, "1024x1024": 1.5, "2048x2048": 3},
                       "quality": {"fast": 0.75, "standard": 1, "high": 1.5}}},
          {"model": "midjourney", "kind": "image", "base": 30, "per_steps": 25,
           "factors": {"resolution": {"512x512": 1, "1024x1024": 1.5, "2048x2048": 3},
                       "quality": {"fast": 0.75, "standard": 1, "high": 1.5}}},
          {"model": "stable-video", "kind": "video", "base": 50,
           "factors": {"resolution": {"512x512": 1, "1024x1024": 1.5, "2048x2048": 3},
                       "quality": {"fast": 0.75, "standard": 1, "high": 1.5},
                       "duration": {"2-5": 1, "5-10": 1.5, "10+": 2}}},
          {"model": "animatediff", "kind": "video", "base": 40,
           "factors": {"resolution": {"512x512": 1, "1024x1024": 1.5, "2048x2048": 3},
                       "quality": {"fast": 0.75, "standard": 1, "high": 1.5},
                       "duration": {"2-5": 1, "5-10": 1.5, "10+": 2}}},
          {"model": "google-veo", "kind": "video", "base": 60,
           "factors": {"resolution": {"512x512": 1, "1024x1024": 1.5, "2048x2048": 3},
                       "quality": {"fast": 0.75, "standard": 1, "high": 1.5},
                       "duration": {"2-5": 1, "5-10": 1.5, "10+": 2}}},
          {"model": "musicgen", "kind": "audio", "base": 30,
           "factors": {"quality": {"fast": 0.75, "standard": 1, "high": 1.5},
                       "duration": {"2-5": 1, "5-10": 1.5, "10+": 2}}},
          {"model": "audiocraft", "kind": "audio", "base": 25,
           "factors": {"quality": {"fast": 0.75, "standard": 1, "high": 1.5},
                       "duration": {"2-5": 1, "5-10": 1.5, "10+": 2}}},
          {"model": "tts", "kind": "audio", "base": 15,
           "factors": {"quality": {"fast": 0.75, "standard": 1, "high": 1.5},
                       "duration": {"2-5": 1, "5-10": 1.5, "10+": 2}}},
          {"model": "claude-3.5-sonnet", "kind": "text", "input_weight": 1.5, "output_weight": 3},
          {"model": "gpt-4o", "kind": "text", "input_weight": 1, "output_weight": 2},
          {"model": "gemini-1.5-pro", "kind": "text", "input_weight": 1, "output_weight": 2},
          {"model": "deepseek-coder", "kind": "text", "input_weight": 0.25, "output_weight": 0.5}
        ]
        """

    public static func parse(_ bytes: [UInt8], source: String) throws -> [PriceSpec] {
        let value: JSON
        do { value = try JSONParser.parse(bytes) } catch { throw CatalogError("\(source): not JSON: \(error)") }
        guard case .array(let items) = value else { throw CatalogError("\(source): expected a JSON array") }
        var specs: [PriceSpec] = []
        for (i, item) in items.enumerated() {
            guard case .object(let o) = item else { throw CatalogError("\(source): entry \(i) is not an object") }
            do {
                specs.append(try RequestParser.priceSpec(from: o))
            } catch {
                throw CatalogError("\(source): entry \(i): \(error.message)")
            }
        }
        return specs
    }

    /// The catalog at `path`, or the default one.
    public static func load(path: String?) throws -> [PriceSpec] {
        guard let path else { return try parse(Array(defaultJSON.utf8), source: "default catalog") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CatalogError("--catalog \(path): cannot read the file")
        }
        return try parse(Array(data), source: path)
    }
}

public struct CatalogError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
