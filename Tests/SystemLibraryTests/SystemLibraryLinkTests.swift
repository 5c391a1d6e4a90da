import CLZ4
import CLibURing
import COpenSSL
import Testing

/// Each system-library shim imports, links and does one real thing.
@Suite struct SystemLibraryLinkTests {
    @Test func lz4RoundTrips() {
        let source = [UInt8](repeating: UInt8(ascii: "a"), count: 4096)
        let bound = Int(LZ4_compressBound(Int32(source.count)))
        #expect(Int(clz4_compress_bound(Int32(source.count))) == bound)
        var compressed = [UInt8](repeating: 0, count: bound)
        let compressedCount = unsafe source.withUnsafeBytes { input in
            unsafe compressed.withUnsafeMutableBytes { output in
                unsafe LZ4_compress_default(
                    input.baseAddress!.assumingMemoryBound(to: CChar.self),
                    output.baseAddress!.assumingMemoryBound(to: CChar.self),
                    Int32(input.count),
                    Int32(output.count)
                )
            }
        }
        #expect(compressedCount > 0 && Int(compressedCount) < source.count)
        var restored = [UInt8](repeating: 0, count: source.count)
        let restoredCount = unsafe compressed.withUnsafeBytes { input in
            unsafe restored.withUnsafeMutableBytes { output in
                unsafe LZ4_decompress_safe(
                    input.baseAddress!.assumingMemoryBound(to: CChar.self),
                    output.baseAddress!.assumingMemoryBound(to: CChar.self),
                    compressedCount,
                    Int32(output.count)
                )
            }
        }
        #expect(Int(restoredCount) == source.count)
        #expect(restored == source)
    }

    /// RFC 4231 test case 2 through OpenSSL 3's EVP_MAC (the API the signer will use).
    @Test func openSSLComputesHMACSHA256() throws {
        #expect(OpenSSL_version_num() >= 0x3000_0000)
        let mac = unsafe try #require(unsafe EVP_MAC_fetch(nil, "HMAC", nil))
        defer { unsafe EVP_MAC_free(mac) }
        let context = unsafe try #require(unsafe EVP_MAC_CTX_new(mac))
        defer { unsafe EVP_MAC_CTX_free(context) }
        let key = Array("Jefe".utf8)
        let message = Array("what do ya want for nothing?".utf8)
        var digestName = Array("SHA256".utf8CString)
        var output = [UInt8](repeating: 0, count: 32)
        var outputCount = 0
        let ok = unsafe digestName.withUnsafeMutableBufferPointer { name in
            var parameters = unsafe [
                unsafe OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name.baseAddress, 0),
                unsafe OSSL_PARAM_construct_end(),
            ]
            return unsafe key.withUnsafeBytes { keyBytes in
                unsafe message.withUnsafeBytes { messageBytes in
                    unsafe output.withUnsafeMutableBytes { outputBytes in
                        unsafe EVP_MAC_init(
                            context,
                            keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            keyBytes.count,
                            &parameters
                        ) == 1
                            && EVP_MAC_update(
                                context,
                                messageBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                messageBytes.count
                            ) == 1
                            && EVP_MAC_final(
                                context,
                                outputBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                &outputCount,
                                32
                            ) == 1
                    }
                }
            }
        }
        #expect(ok)
        let hex = output.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(hex == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    /// Whether the kernel lets this process set up an io_uring (not ENOSYS, EPERM or EACCES).
    static var ioURingAvailable: Bool {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        defer { unsafe ring.deallocate() }
        let rc = unsafe io_uring_queue_init(8, ring, 0)
        if rc == 0 { unsafe io_uring_queue_exit(ring) }
        return !(rc == -38 || rc == -1 || rc == -13)
    }

    /// io_uring: a NOP round trip where the kernel allows io_uring; skipped with the reason otherwise.
    @Test(.enabled(if: Self.ioURingAvailable, "io_uring is unavailable here (ENOSYS, EPERM or EACCES)"))
    func ioURingRunsANop() throws {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        defer { unsafe ring.deallocate() }
        let rc = unsafe io_uring_queue_init(8, ring, 0)
        #expect(rc == 0)
        defer { unsafe io_uring_queue_exit(ring) }
        let sqe = unsafe try #require(unsafe io_uring_get_sqe(ring))
        unsafe io_uring_prep_nop(sqe)
        unsafe io_uring_sqe_set_data64(sqe, 42)
        #expect(unsafe io_uring_submit(ring) == 1)
        var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
        #expect(unsafe io_uring_wait_cqe(ring, &cqe) == 0)
        let completion = unsafe try #require(unsafe cqe)
        #expect(unsafe completion.pointee.user_data == 42)
        unsafe io_uring_cqe_seen(ring, completion)
        #expect(cliburing_sqe_flag_io_link() == 4)
    }
}
