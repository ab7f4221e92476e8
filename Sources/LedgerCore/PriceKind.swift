public enum PriceKind: String, Sendable, CaseIterable {
    case text, image, video, audio
}
