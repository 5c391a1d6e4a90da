internal import COpenSSL

/// One HMAC-SHA256 key, prepared once: the SHA-256 states after absorbing `key ⊕ ipad` and `key ⊕ opad`
/// (RFC 2104). A MAC then costs a struct copy per state and the compression of the message, with no key
/// schedule, no lookup and no allocation.
struct HMACMidstates {
    static let blockByteCount = 64
    static let macByteCount = 32

    var inner = SHA256_CTX()
    var outer = SHA256_CTX()

    init(key: [UInt8]) {
        var block = [UInt8](repeating: 0, count: Self.blockByteCount)
        if key.count > Self.blockByteCount {
            // RFC 2104: keys longer than the block are hashed first.
            var context = SHA256_CTX()
            unsafe _ = copenssl_sha256_init(&context)
            unsafe key.withUnsafeBytes { unsafe _ = copenssl_sha256_update(&context, $0.baseAddress, $0.count) }
            unsafe block.withUnsafeMutableBytes {
                unsafe _ = copenssl_sha256_final($0.baseAddress!.assumingMemoryBound(to: UInt8.self), &context)
            }
        } else {
            block.replaceSubrange(0..<key.count, with: key)
        }
        unsafe _ = copenssl_sha256_init(&inner)
        unsafe _ = copenssl_sha256_init(&outer)
        let innerPad = block.map { $0 ^ 0x36 }
        let outerPad = block.map { $0 ^ 0x5C }
        unsafe innerPad.withUnsafeBytes { unsafe _ = copenssl_sha256_update(&inner, $0.baseAddress, $0.count) }
        unsafe outerPad.withUnsafeBytes { unsafe _ = copenssl_sha256_update(&outer, $0.baseAddress, $0.count) }
    }

    /// Writes HMAC-SHA256(key, first ‖ second ‖ third ‖ fourth ‖ fifth) to `mac` (32 bytes). Five parts
    /// because the Standard Webhooks content is `id "." timestamp "." body`; unused parts are empty.
    @inline(__always)
    func mac(
        _ first: UnsafeRawBufferPointer,
        _ second: UnsafeRawBufferPointer,
        _ third: UnsafeRawBufferPointer,
        _ fourth: UnsafeRawBufferPointer,
        _ fifth: UnsafeRawBufferPointer,
        into mac: UnsafeMutablePointer<UInt8>
    ) {
        var context = inner
        // Five explicit calls: a literal array of the parts would allocate.
        if first.count > 0 { unsafe _ = copenssl_sha256_update(&context, first.baseAddress, first.count) }
        if second.count > 0 { unsafe _ = copenssl_sha256_update(&context, second.baseAddress, second.count) }
        if third.count > 0 { unsafe _ = copenssl_sha256_update(&context, third.baseAddress, third.count) }
        if fourth.count > 0 { unsafe _ = copenssl_sha256_update(&context, fourth.baseAddress, fourth.count) }
        if fifth.count > 0 { unsafe _ = copenssl_sha256_update(&context, fifth.baseAddress, fifth.count) }
        unsafe _ = copenssl_sha256_final(mac, &context)
        context = outer
        unsafe _ = copenssl_sha256_update(&context, mac, Self.macByteCount)
        unsafe _ = copenssl_sha256_final(mac, &context)
    }

    /// HMAC-SHA256 of one message (control plane, tests).
    func mac(_ message: [UInt8]) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: Self.macByteCount)
        let empty = unsafe UnsafeRawBufferPointer(start: nil, count: 0)
        unsafe message.withUnsafeBytes { source in
            unsafe result.withUnsafeMutableBufferPointer { target in
                unsafe mac(source, empty, empty, empty, empty, into: target.baseAddress!)
            }
        }
        return result
    }
}

/// Constant-time equality of two byte buffers (OpenSSL's `CRYPTO_memcmp`); lengths are not secret.
func constantTimeEqual(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> Bool {
    guard first.count == second.count else { return false }
    guard first.count > 0 else { return true }
    return unsafe CRYPTO_memcmp(first.baseAddress, second.baseAddress, first.count) == 0
}
