/// A tiny, fast, seedable random number generator (Steele, Lea & Flood's SplitMix64).
///
/// Deterministic for a seed on every platform, which is what fixtures and property tests need.
/// Not cryptographic.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { self.state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniformly random integer in `0..<upperBound`.
    public mutating func next(below upperBound: Int) -> Int {
        precondition(upperBound > 0)
        return Int(next() % UInt64(upperBound))
    }

    /// `true` with probability `percent`/100.
    public mutating func chance(_ percent: Int) -> Bool { next(below: 100) < percent }

    /// A random version-4 UUID.
    public mutating func nextEventID() -> EventID { EventID.random(high: next(), low: next()) }

    /// A random element. - Precondition: `elements` is not empty.
    public mutating func pick<Element>(_ elements: [Element]) -> Element { elements[next(below: elements.count)] }
}
