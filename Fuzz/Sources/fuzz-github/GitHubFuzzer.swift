import FuzzSupport
import SluiceCore

/// The GitHub receiver's normalization: a delivery (three `X-GitHub-*` headers and the body) to an event.
///
/// Input: line 1 is `X-GitHub-Event`, line 2 `X-GitHub-Delivery`, line 3 `X-GitHub-Hook-ID` (empty: not
/// sent), the rest is the body. Seeds are the fixture deliveries in this shape (`scripts/fuzz-seeds`).
///
/// Invariant (beyond "no trap, no sanitizer report"): a delivery the normalizer accepts becomes an
/// event that ``EventDecoder`` accepts (the receiver emits it into the same intake as any event), with
/// the name and id the mapping promises.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let event = String(decoding: input.line(), as: UTF8.self)
    let deliveryID = String(decoding: input.line(), as: UTF8.self)
    let hookLine = input.line()
    let delivery = GitHubDelivery(
        event: event,
        deliveryID: deliveryID,
        hookID: hookLine.isEmpty ? nil : String(decoding: hookLine, as: UTF8.self),
        body: input.rest(),
        receivedAt: Timestamp(secondsSinceEpoch: 1_780_000_000, microseconds: 123_456)
    )
    guard let draft = try? GitHubNormalizer.draft(for: delivery) else { return 0 }
    let encoded = draft.encoded()
    var decoder = EventDecoder()
    let decoded: Event
    do {
        decoded = try decoder.decode(encoded)
    } catch {
        // Bodies near the size and depth limits may legitimately make an event over EventLimits.
        if error.code == .limitExceeded { return 0 }
        fuzzRequire(false, "normalized event does not decode: \(error)\n\(String(decoding: encoded, as: UTF8.self))")
        return 0
    }
    let name = decoder.symbols.string(decoded.header.name)
    fuzzRequire(name == draft.name, "event named \(name), the draft says \(draft.name)")
    fuzzRequire(decoded.header.id == draft.id, "event id \(decoded.header.id) is not the draft's \(draft.id)")
    return 0
}
