// Shim for OpenSSL 3 (libcrypto for HMAC via EVP_MAC, libssl for TLS over memory BIOs).
// Exists because Swift imports a C library only through a module map. Same libc-first include order as
// CLibURing so both modules agree on libc definitions.
#include <signal.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

// OPENSSL_VERSION_NUMBER is a macro Swift imports only as a literal in some versions; this keeps the
// header version and the linked library's version comparable from Swift.
static inline unsigned long copenssl_header_version_number(void) { return OPENSSL_VERSION_NUMBER; }

// The TLS driver (SluiceIO) needs these; each wraps a function-like macro Swift does not import
// (SSL_ctrl / SSL_CTX_ctrl calls). Remove when Swift imports function-like macros.
static inline long copenssl_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}
static inline long copenssl_ctx_set_min_proto_version(SSL_CTX *context, int version) {
    return SSL_CTX_set_min_proto_version(context, version);
}
static inline long copenssl_ctx_set_session_cache_mode(SSL_CTX *context, long mode) {
    return SSL_CTX_set_session_cache_mode(context, mode);
}
static inline long copenssl_ctx_set_mode(SSL_CTX *context, long mode) { return SSL_CTX_set_mode(context, mode); }
