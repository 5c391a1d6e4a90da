internal import COpenSSL

/// SHA-256 of a byte string (libcrypto's one-shot `EVP_Digest` with `EVP_sha256`), and constant-time
/// comparison: for secrets kept only as hashes (the bearer tokens of `sluice serve`).
///
/// Stateless; any thread.
public enum SHA256Digest {
    /// Bytes in a digest.
    public static let byteCount = 32

    /// The SHA-256 digest of `bytes`. The corresponding C function is `EVP_Digest`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: byteCount)
        var digestByteCount: UInt32 = 0
        let status = unsafe bytes.withUnsafeBytes { message in
            unsafe digest.withUnsafeMutableBufferPointer { target in
                unsafe EVP_Digest(
                    message.baseAddress,
                    message.count,
                    target.baseAddress,
                    &digestByteCount,
                    EVP_sha256(),
                    nil
                )
            }
        }
        // Fails only when libcrypto cannot allocate a context: nothing sensible is left to do then.
        precondition(status == 1, "EVP_Digest(SHA-256) failed")
        precondition(digestByteCount == UInt32(byteCount), "a SHA-256 digest is 32 bytes")
        return digest
    }

    /// Whether `first` and `second` are equal, in time that depends on their lengths only.
    public static func equalInConstantTime(_ first: [UInt8], _ second: [UInt8]) -> Bool {
        constantTimeEqual(first, second)
    }
}
