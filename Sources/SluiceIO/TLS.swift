internal import COpenSSL

#if canImport(Glibc)
internal import Glibc
#endif

/// Client TLS settings for one origin.
package struct TLSClientOptions: Sendable, Hashable {
    /// Verify the certificate chain and the host name (the default). `false` is the per-webhook
    /// `validate_certificates: false` of spec §c.7.
    package var validateCertificates: Bool
    /// A PEM file of trusted CA certificates; `nil` uses the system store (`SSL_CTX_set_default_verify_paths`).
    package var caFile: String?

    package init(validateCertificates: Bool = true, caFile: String? = nil) {
        self.validateCertificates = validateCertificates
        self.caFile = caFile
    }
}

/// An OpenSSL `SSL_CTX`: configured once (control plane), then shared read-only by connections.
@safe package final class TLSContext: @unchecked Sendable {
    // @unchecked: after init the SSL_CTX is only read (SSL_new), which OpenSSL documents as thread-safe.
    let context: OpaquePointer
    package let isServer: Bool
    package let validatesCertificates: Bool

    /// A client context verifying against `options.caFile` or the system store, TLS 1.2 minimum.
    package init(client options: TLSClientOptions) throws(IOError) {
        guard let context = unsafe SSL_CTX_new(TLS_client_method()) else {
            throw IOError(code: .tls, operation: "SSL_CTX_new", subject: tlsErrorQueueText())
        }
        unsafe self.context = context
        isServer = false
        validatesCertificates = options.validateCertificates
        _ = unsafe copenssl_ctx_set_min_proto_version(context, TLS1_2_VERSION)
        _ = unsafe copenssl_ctx_set_mode(context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE))
        // Sessions are kept by the driver per origin (SSL_get1_session / SSL_set_session).
        _ = unsafe copenssl_ctx_set_session_cache_mode(context, Int(SSL_SESS_CACHE_CLIENT))
        if options.validateCertificates {
            unsafe SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            let loaded =
                if let caFile = options.caFile {
                    unsafe SSL_CTX_load_verify_locations(context, caFile, nil)
                } else {
                    unsafe SSL_CTX_set_default_verify_paths(context)
                }
            guard loaded == 1 else {
                throw IOError(
                    code: .tls,
                    operation: "loading trusted certificates",
                    subject: "\(options.caFile ?? "system store"): \(tlsErrorQueueText())"
                )
            }
        } else {
            unsafe SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
    }

    /// A server context presenting the PEM certificate chain and private key in the given files.
    package init(serverCertificateFile: String, privateKeyFile: String) throws(IOError) {
        guard let context = unsafe SSL_CTX_new(TLS_server_method()) else {
            throw IOError(code: .tls, operation: "SSL_CTX_new", subject: tlsErrorQueueText())
        }
        unsafe self.context = context
        isServer = true
        validatesCertificates = false
        _ = unsafe copenssl_ctx_set_min_proto_version(context, TLS1_2_VERSION)
        _ = unsafe copenssl_ctx_set_mode(context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE))
        guard unsafe SSL_CTX_use_certificate_chain_file(context, serverCertificateFile) == 1 else {
            throw IOError(
                code: .tls,
                operation: "loading certificate",
                subject: "\(serverCertificateFile): \(tlsErrorQueueText())"
            )
        }
        guard unsafe SSL_CTX_use_PrivateKey_file(context, privateKeyFile, SSL_FILETYPE_PEM) == 1,
            unsafe SSL_CTX_check_private_key(context) == 1
        else {
            throw IOError(
                code: .tls,
                operation: "loading private key",
                subject: "\(privateKeyFile): \(tlsErrorQueueText())"
            )
        }
    }

    deinit { unsafe SSL_CTX_free(context) }
}

/// A resumable TLS session kept per origin (`SSL_SESSION`, reference-counted by OpenSSL).
@safe package final class TLSSession {
    let session: OpaquePointer
    init(_ session: OpaquePointer) { unsafe self.session = session }
    deinit { unsafe SSL_SESSION_free(session) }
}

/// One TLS connection over memory BIOs: the loop moves ciphertext between the socket and the BIOs, and
/// plaintext in and out through ``write(_:)`` and ``read(into:)``. Not thread-safe; owned by a loop thread.
@safe package final class TLSConnection {
    /// The result of a TLS step.
    package enum Step: Equatable {
        /// Done (handshake finished, or bytes were produced).
        case done
        /// OpenSSL needs more ciphertext from the peer.
        case wantsInput
        /// The peer closed the TLS session (close_notify).
        case closed
        /// A TLS failure, with OpenSSL's reason (for certificates: the verification result).
        case failed(String)
    }

    private let ssl: OpaquePointer
    /// Ciphertext from the network, read by OpenSSL.
    private let networkInput: OpaquePointer
    /// Ciphertext produced by OpenSSL, to be sent.
    private let networkOutput: OpaquePointer
    private let serverName: String

    /// A client connection to `serverName` (SNI and, when the context verifies, the checked host name).
    package init(context: TLSContext, serverName: String, session: TLSSession?) throws(IOError) {
        self.serverName = serverName
        unsafe (ssl, networkInput, networkOutput) = unsafe try Self.make(context)
        unsafe SSL_set_connect_state(ssl)
        let isAddress = SocketAddress(numericHost: serverName, port: 0) != nil
        if !isAddress {
            // SNI carries names only (RFC 6066 §3).
            _ = unsafe copenssl_set_tlsext_host_name(ssl, serverName)
        }
        if context.validatesCertificates {
            let checked =
                isAddress
                ? unsafe X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName)
                : unsafe SSL_set1_host(ssl, serverName)
            guard checked == 1 else {
                throw IOError(code: .tls, operation: "SSL_set1_host", subject: serverName)
            }
        }
        if let session { _ = unsafe SSL_set_session(ssl, session.session) }
    }

    /// A server connection.
    package init(serverContext context: TLSContext) throws(IOError) {
        serverName = ""
        unsafe (ssl, networkInput, networkOutput) = unsafe try Self.make(context)
        unsafe SSL_set_accept_state(ssl)
    }

    private static func make(_ context: TLSContext) throws(IOError) -> (OpaquePointer, OpaquePointer, OpaquePointer) {
        guard let ssl = unsafe SSL_new(context.context),
            let input = unsafe BIO_new(BIO_s_mem()),
            let output = unsafe BIO_new(BIO_s_mem())
        else {
            throw IOError(code: .tls, operation: "SSL_new", subject: tlsErrorQueueText())
        }
        // SSL_set_bio takes ownership of both BIOs; SSL_free releases them.
        unsafe SSL_set_bio(ssl, input, output)
        return unsafe (ssl, input, output)
    }

    deinit { unsafe SSL_free(ssl) }

    /// Hands ciphertext received from the peer to OpenSSL.
    package func receiveCiphertext(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        let written = unsafe BIO_write(networkInput, bytes.baseAddress, Int32(bytes.count))
        // A memory BIO grows as needed; a short write would mean allocation failure.
        precondition(written == Int32(bytes.count), "BIO_write to a memory BIO wrote \(written) of \(bytes.count)")
    }

    /// Ciphertext waiting to be sent, copied into `buffer`; returns the byte count (0 when none).
    package func takeCiphertext(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = unsafe BIO_read(networkOutput, buffer.baseAddress, Int32(buffer.count))
        return count > 0 ? Int(count) : 0
    }

    /// Bytes of ciphertext waiting to be sent.
    package var pendingCiphertextCount: Int { Int(unsafe BIO_ctrl_pending(networkOutput)) }

    /// Advances the handshake.
    package func handshake() -> Step {
        let result = unsafe SSL_do_handshake(ssl)
        return result == 1 ? .done : step(forFailure: result)
    }

    package var isHandshakeDone: Bool { unsafe SSL_is_init_finished(ssl) == 1 }

    /// Records that the connection ended in good order (complete responses, no TLS error), so its
    /// session stays resumable: `SSL_free` without a shutdown marks the session not resumable.
    package func markCleanShutdown() {
        unsafe SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN)
    }

    /// Whether this connection resumed a session.
    package var resumedSession: Bool { unsafe SSL_session_reused(ssl) == 1 }

    /// The session to resume next time, if the server issued a resumable one.
    package func resumableSession() -> TLSSession? {
        guard let session = unsafe SSL_get1_session(ssl) else { return nil }
        guard unsafe SSL_SESSION_is_resumable(session) == 1 else {
            unsafe SSL_SESSION_free(session)
            return nil
        }
        return unsafe TLSSession(session)
    }

    /// Encrypts up to `bytes.count` plaintext bytes; returns how many were taken (ciphertext is then pending).
    package func write(_ bytes: UnsafeRawBufferPointer) -> (count: Int, step: Step) {
        guard bytes.count > 0 else { return (0, .done) }
        var written = 0
        let result = unsafe SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &written)
        return result == 1 ? (written, .done) : (0, step(forFailure: result))
    }

    /// Decrypts available plaintext into `buffer`; returns the byte count and the step.
    package func read(into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, step: Step) {
        var count = 0
        let result = unsafe SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
        return result == 1 ? (count, .done) : (0, step(forFailure: result))
    }

    private func step(forFailure result: Int32) -> Step {
        let code = unsafe SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wantsInput
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            let verification = unsafe SSL_get_verify_result(ssl)
            if verification != X509_V_OK {
                let reason = unsafe String(validatingCString: X509_verify_cert_error_string(verification)) ?? "?"
                _ = tlsErrorQueueText()  // clear the queue; the verification result is the useful part
                return .failed("certificate verification failed for \(serverName): \(reason)")
            }
            return .failed(tlsErrorQueueText())
        }
    }
}

/// OpenSSL's error queue as text (and cleared), e.g. `error:0A000086:SSL routines::certificate verify failed`.
func tlsErrorQueueText() -> String {
    var parts: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var text = [CChar](repeating: 0, count: 256)
        unsafe ERR_error_string_n(code, &text, text.count)
        parts.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return parts.isEmpty ? "unknown TLS error" : parts.joined(separator: "; ")
}
