/// The three wire views of an event (spec §a.6), written from byte ranges of the event.
///
/// Nothing here re-serializes a tree: `payload.data` is copied from the event bytes with insignificant
/// whitespace removed, and the header fields are written from decoded values.
extension Event {
    /// The Prefect-style event JSON: the event bytes with insignificant whitespace removed.
    public func appendPrefectJSON(to target: inout [UInt8]) {
        unsafe bytes.withUnsafeBytes { raw in unsafe JSONCompactor.append(raw, to: &target) }
    }

    /// The Infrahub webhook body (spec §c.4), byte-exact:
    /// `{"data":…,"id":"…","branch":…,"account_id":…,"occured_at":"…","event":"…"}`.
    ///
    /// - `data`: `payload.data` as the producer sent it, whitespace removed (see the note for absence).
    /// - `branch`: `payload.context.branch.name`, `null` when absent or `-global-`.
    /// - `account_id`: `payload.context.account_id`, `null` when absent.
    /// - `occured_at` (sic): Python `str(datetime)` of `occurred` in the offset the producer wrote (spec §b.1:
    ///   no conversion to UTC), e.g. `2025-03-13 16:44:32.321142+00:00` for `…Z`,
    ///   `2026-11-03 06:05:06.500000+02:00` for `2026-11-03T06:05:06.5+02:00`.
    /// - strings in Python's `ensure_ascii=False` escaping, compact separators.
    ///
    /// Note: an event without `payload.data` gets `"data":null`, which is what Infrahub's
    /// `{"data": event_payload["data"], ...}` cannot produce (it raises); Sluice sends `null` rather than
    /// dropping the delivery.
    public func appendWebhookBody(to target: inout [UInt8]) {
        target.append(contentsOf: #"{"data":"#.utf8)
        appendCompacted(header.payloadDataRange, orElse: "null", to: &target)
        target.append(contentsOf: #","id":""#.utf8)
        header.id.append(to: &target)
        target.append(contentsOf: #"","branch":"#.utf8)
        appendContextString(header.contextBranchName, nullIfGlobal: true, to: &target)
        target.append(contentsOf: #","account_id":"#.utf8)
        appendContextString(header.contextAccountID, nullIfGlobal: false, to: &target)
        target.append(contentsOf: #","occured_at":""#.utf8)
        header.occurred.append(
            .pythonString,
            utcOffsetMinutes: Int(header.occurredUTCOffsetMinutes),
            to: &target
        )
        target.append(contentsOf: #"","event":"#.utf8)
        appendCanonicalString(header.nameReference.range, hasEscapes: header.nameReference.hasEscapes, to: &target)
        target.append(UInt8(ascii: "}"))
    }

    /// Appends the JSON value at `range` of the event bytes without insignificant whitespace, or
    /// `fallback` when there is no such value.
    func appendCompacted(_ range: Range<Int>?, orElse fallback: StaticString, to target: inout [UInt8]) {
        guard let range else {
            unsafe target.append(
                contentsOf: UnsafeRawBufferPointer(start: fallback.utf8Start, count: fallback.utf8CodeUnitCount)
            )
            return
        }
        unsafe bytes.withUnsafeBytes { raw in
            unsafe JSONCompactor.append(UnsafeRawBufferPointer(rebasing: raw[range]), to: &target)
        }
    }

    /// The webhook body as a new array.
    public func webhookBody() -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(bytes.count)
        appendWebhookBody(to: &body)
        return body
    }

    /// Writes a string of the event as Python would re-encode it: unescaped, then escaped per
    /// `ensure_ascii=False`. Strings without escapes are copied directly (the common case).
    private func appendCanonicalString(_ range: Range<Int>, hasEscapes: Bool = true, to target: inout [UInt8]) {
        target.append(UInt8(ascii: "\""))
        if !hasEscapes || !bytes[range].contains(UInt8(ascii: "\\")) {
            target.append(contentsOf: bytes[range])
        } else {
            var unescaped: [UInt8] = []
            unsafe bytes.withUnsafeBytes { raw in
                unsafe JSONString.appendUnescaped(UnsafeRawBufferPointer(rebasing: raw[range]), to: &unescaped)
            }
            JSONString.appendEscaped(unescaped, to: &target)
        }
        target.append(UInt8(ascii: "\""))
    }

    private func appendContextString(_ reference: StringReference?, nullIfGlobal: Bool, to target: inout [UInt8]) {
        guard let reference, !(nullIfGlobal && bytes[reference.range].elementsEqual("-global-".utf8)) else {
            target.append(contentsOf: "null".utf8)
            return
        }
        appendCanonicalString(reference.range, hasEscapes: reference.hasEscapes, to: &target)
    }
}
