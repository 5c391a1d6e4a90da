internal import COpenSSL
public import SluiceCore

/// One message of a signing batch: the key to sign with and the three parts of the Standard Webhooks
/// signed content `{webhook-id}.{webhook-timestamp}.{body}` (spec §c.6, §e).
///
/// The buffers are borrowed for the duration of ``HMACBatchSigner/sign(_:into:)`` only.
@unsafe
public struct SigningMessage {
    /// Index into the signer's keys.
    public var keyIndex: Int
    /// The `webhook-id` header value, e.g. `msg_…`.
    public var webhookID: UnsafeRawBufferPointer
    /// The `webhook-timestamp` header value: whole Unix seconds, written in decimal.
    public var timestampSeconds: UInt64
    /// Exactly the body bytes that will be sent.
    public var body: UnsafeRawBufferPointer

    public init(
        keyIndex: Int,
        webhookID: UnsafeRawBufferPointer,
        timestampSeconds: UInt64,
        body: UnsafeRawBufferPointer
    ) {
        unsafe self.keyIndex = keyIndex
        unsafe self.webhookID = webhookID
        unsafe self.timestampSeconds = timestampSeconds
        unsafe self.body = body
    }
}

/// HMAC-SHA256 webhook signer with every key prepared once (ipad/opad SHA-256 midstates), signing
/// batches of messages into caller-provided storage.
///
/// Preparing a key (``init(keys:)``) is control-plane work. Signing copies the key's two midstates and
/// compresses the message: no key schedule, no `EVP_MAC_fetch`, no context allocation and no heap
/// allocation per signature. Batches should be grouped by key (consecutive messages with the same
/// `keyIndex`) so a key's state stays in cache. Immutable after `init`, so one signer may be shared by
/// threads.
@safe public final class HMACBatchSigner: @unchecked Sendable {
    /// How many keys were prepared; valid key indices are `0..<keyCount`.
    public let keyCount: Int
    private let states: UnsafeMutablePointer<HMACMidstates>

    /// Prepares every key; signing uses their indices in this list.
    public convenience init(keys: [WebhookSigningKey]) {
        self.init(keyBytes: keys.map(\.bytes))
    }

    /// Prepares raw HMAC keys (any length; longer than 64 bytes is hashed first, RFC 2104).
    public init(keyBytes: [[UInt8]]) {
        keyCount = keyBytes.count
        unsafe states = UnsafeMutablePointer<HMACMidstates>.allocate(capacity: max(keyBytes.count, 1))
        for (index, key) in keyBytes.enumerated() {
            unsafe (states + index).initialize(to: HMACMidstates(key: key))
        }
    }

    deinit {
        // The midstates are as good as the keys: wipe them before the memory is reused.
        unsafe OPENSSL_cleanse(states, MemoryLayout<HMACMidstates>.stride * max(keyCount, 1))
        unsafe states.deinitialize(count: keyCount)
        unsafe states.deallocate()
    }

    /// Signs every message and writes message `i`'s `v1,<base64>` entry to `values[i]`.
    /// `values` must hold at least `messages.count` entries.
    public func sign(
        _ messages: UnsafeBufferPointer<SigningMessage>,
        into values: UnsafeMutableBufferPointer<SignatureValue>
    ) {
        precondition(values.count >= messages.count, "signature storage too small for the batch")
        unsafe withMACScratch { mac, digits, dot in
            for index in messages.indices {
                let message = unsafe messages[index]
                precondition(unsafe message.keyIndex >= 0 && message.keyIndex < keyCount, "key index out of range")
                unsafe signScratch(message, mac: mac, digits: digits, dot: dot, into: &values[index])
            }
        }
    }

    /// Signs one message with each key in `keyIndices` and writes the `webhook-signature` header value
    /// (entries separated by one space, for key rotation) at the start of `target`; returns its length,
    /// `keyIndices.count * 48 - 1`. `target` must hold that many bytes.
    public func signatureHeader(
        keyIndices: Range<Int>,
        webhookID: UnsafeRawBufferPointer,
        timestampSeconds: UInt64,
        body: UnsafeRawBufferPointer,
        into target: UnsafeMutableRawBufferPointer
    ) -> Int {
        precondition(!keyIndices.isEmpty, "no keys to sign with")
        precondition(keyIndices.lowerBound >= 0 && keyIndices.upperBound <= keyCount, "key index out of range")
        let byteCount = keyIndices.count * (SignatureValue.byteCount + 1) - 1
        precondition(target.count >= byteCount, "signature header storage too small")
        var position = 0
        for keyIndex in keyIndices {
            let value = unsafe sign(
                keyIndex: keyIndex,
                webhookID: webhookID,
                timestampSeconds: timestampSeconds,
                body: body
            )
            if position > 0 {
                unsafe target[position] = UInt8(ascii: " ")
                position += 1
            }
            unsafe value.withUnsafeBytes { raw in
                unsafe UnsafeMutableRawBufferPointer(rebasing: target[position..<position + raw.count])
                    .copyMemory(from: raw)
            }
            position += SignatureValue.byteCount
        }
        assert(position == byteCount)
        return byteCount
    }

    /// Signs one message with key `keyIndex` and returns its `v1,<base64>` entry (no allocation).
    public func sign(
        keyIndex: Int,
        webhookID: UnsafeRawBufferPointer,
        timestampSeconds: UInt64,
        body: UnsafeRawBufferPointer
    ) -> SignatureValue {
        precondition(keyIndex >= 0 && keyIndex < keyCount, "key index out of range")
        var value = SignatureValue()
        let message = unsafe SigningMessage(
            keyIndex: keyIndex,
            webhookID: webhookID,
            timestampSeconds: timestampSeconds,
            body: body
        )
        unsafe withMACScratch { mac, digits, dot in
            unsafe signScratch(message, mac: mac, digits: digits, dot: dot, into: &value)
        }
        return value
    }

    /// Signs one message (convenience for the control plane and tests).
    public func signature(keyIndex: Int, webhookID: String, timestampSeconds: UInt64, body: [UInt8]) -> SignatureValue {
        let id = Array(webhookID.utf8)
        return unsafe id.withUnsafeBytes { idBytes in
            unsafe body.withUnsafeBytes { bodyBytes in
                unsafe sign(keyIndex: keyIndex, webhookID: idBytes, timestampSeconds: timestampSeconds, body: bodyBytes)
            }
        }
    }

    /// The `webhook-signature` header value for one message and the keys `keyIndices` (convenience).
    public func signatureHeader(
        keyIndices: Range<Int>,
        webhookID: String,
        timestampSeconds: UInt64,
        body: [UInt8]
    )
        -> String
    {
        var target = [UInt8](repeating: 0, count: keyIndices.count * (SignatureValue.byteCount + 1))
        let id = Array(webhookID.utf8)
        let count = unsafe id.withUnsafeBytes { idBytes in
            unsafe body.withUnsafeBytes { bodyBytes in
                unsafe target.withUnsafeMutableBytes { raw in
                    unsafe signatureHeader(
                        keyIndices: keyIndices,
                        webhookID: idBytes,
                        timestampSeconds: timestampSeconds,
                        body: bodyBytes,
                        into: raw
                    )
                }
            }
        }
        return String(decoding: target[0..<count], as: UTF8.self)
    }

    /// HMAC-SHA256 over the concatenation of `parts` with key `keyIndex` (verification, tests).
    func mac(keyIndex: Int, _ parts: UnsafeRawBufferPointer...) -> [UInt8] {
        precondition(unsafe parts.count <= 5)
        let empty = unsafe UnsafeRawBufferPointer(start: nil, count: 0)
        var padded = unsafe parts
        while unsafe padded.count < 5 { unsafe padded.append(empty) }
        var result = [UInt8](repeating: 0, count: HMACMidstates.macByteCount)
        unsafe result.withUnsafeMutableBufferPointer { target in
            unsafe states[keyIndex].mac(
                padded[0],
                padded[1],
                padded[2],
                padded[3],
                padded[4],
                into: target.baseAddress!
            )
        }
        return result
    }

    /// Signs one message using the scratch from ``withMACScratch(_:)``.
    @inline(__always)
    private func signScratch(
        _ message: SigningMessage,
        mac: UnsafeMutablePointer<UInt8>,
        digits: UnsafeMutableBufferPointer<UInt8>,
        dot: UnsafeRawBufferPointer,
        into value: inout SignatureValue
    ) {
        let digitCount = unsafe Self.writeDecimal(message.timestampSeconds, into: digits)
        unsafe states[message.keyIndex].mac(
            message.webhookID,
            dot,
            UnsafeRawBufferPointer(start: digits.baseAddress! + (20 - digitCount), count: digitCount),
            dot,
            message.body,
            into: mac
        )
        unsafe value.set(mac: UnsafeRawBufferPointer(start: mac, count: HMACMidstates.macByteCount))
    }

    /// Stack scratch for one MAC (32 bytes), the timestamp digits (20 bytes, the most a UInt64 needs) and
    /// the `.` separator.
    private func withMACScratch(
        _ body: (UnsafeMutablePointer<UInt8>, UnsafeMutableBufferPointer<UInt8>, UnsafeRawBufferPointer) -> Void
    ) {
        let macByteCount = HMACMidstates.macByteCount
        unsafe withUnsafeTemporaryAllocation(of: UInt8.self, capacity: macByteCount + 21) { scratch in
            unsafe scratch[macByteCount + 20] = UInt8(ascii: ".")
            unsafe body(
                scratch.baseAddress!,
                UnsafeMutableBufferPointer(rebasing: scratch[macByteCount..<macByteCount + 20]),
                UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: scratch[(macByteCount + 20)...]))
            )
        }
    }

    /// Writes `value` in decimal right-aligned at the end of `digits` (20 bytes); returns the digit count.
    @inline(__always)
    static func writeDecimal(_ value: UInt64, into digits: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var remaining = value
        var position = 20
        repeat {
            position -= 1
            unsafe digits[position] = UInt8(ascii: "0") + UInt8(remaining % 10)
            remaining /= 10
        } while remaining > 0
        return 20 - position
    }
}
