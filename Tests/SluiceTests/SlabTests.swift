import SluiceCore
import Testing

@testable import Sluice

/// The delivery loop's slab against a dictionary model: random inserts, removes (by `remove` and by
/// assigning `nil`), in-place updates and lookups of live and stale keys.
@Suite struct SlabTests {
    @Test func behavesLikeADictionaryAndStaleKeysFindNothing() {
        var random = SplitMix64(seed: 5)
        var slab = Slab<Int>()
        var model: [UInt64: Int] = [:]
        var stale: [UInt64] = []
        for step in 0..<20_000 {
            switch random.next() % 4 {
            case 0, 1:
                let key = slab.insert(step)
                #expect(model[key] == nil, "a key is never handed out twice while live")
                model[key] = step
            case 2:
                guard let key = model.keys.randomElement(using: &random) else { continue }
                if step % 2 == 0 { slab.remove(key) } else { slab[key] = nil }
                model[key] = nil
                stale.append(key)
            default:
                guard let key = model.keys.randomElement(using: &random) else { continue }
                slab[key]? += 1
                model[key]! += 1
            }
            #expect(slab.count == model.count)
        }
        for (key, value) in model { #expect(slab[key] == value) }
        for key in stale where model[key] == nil { #expect(slab[key] == nil, "stale key \(key)") }
    }
}
