internal import SluiceCore

/// One `webhook-signature` entry, `v1,<base64 of the 32-byte HMAC-SHA256>` (47 ASCII bytes), stored
/// inline so a batch of them is one flat buffer the caller owns.
public struct SignatureValue: Sendable, Equatable, CustomStringConvertible {
    /// `"v1,".count + 44`.
    public static let byteCount = 47

    /// 48 bytes of inline storage; the last one stays zero.
    var storage: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)

    public init() {}

    /// The 47 bytes, without copying.
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        var copy = storage
        return try unsafe Swift.withUnsafeBytes(of: &copy) { (raw) throws(Failure) -> Result in
            try unsafe body(UnsafeRawBufferPointer(rebasing: raw[0..<Self.byteCount]))
        }
    }

    /// The 47 bytes as an array (allocates; control plane and tests).
    public var bytes: [UInt8] { unsafe withUnsafeBytes { unsafe Array($0) } }

    /// The value as text, e.g. `v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=`.
    public var description: String { String(decoding: bytes, as: UTF8.self) }

    public static func == (first: SignatureValue, second: SignatureValue) -> Bool {
        first.storage == second.storage
    }

    /// Writes `v1,` and the base64 of `mac` (32 bytes) into this value.
    mutating func set(mac: UnsafeRawBufferPointer) {
        precondition(mac.count == HMACMidstates.macByteCount)
        unsafe Swift.withUnsafeMutableBytes(of: &storage) { raw in
            unsafe raw[0] = UInt8(ascii: "v")
            unsafe raw[1] = UInt8(ascii: "1")
            unsafe raw[2] = UInt8(ascii: ",")
            let written = unsafe Base64.encode(mac, into: UnsafeMutableRawBufferPointer(rebasing: raw[3..<47]))
            assert(written == 44)
        }
    }
}
