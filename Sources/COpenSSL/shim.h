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

// SHA-256 block API for HMAC midstates (SluiceCrypto's HMACBatchSigner). OpenSSL 3 deprecates
// SHA256_Init/Update/Final in favour of EVP, but they are the only libcrypto calls that keep an HMAC's
// ipad/opad states as plain structs that copy without allocating: in 3.0, EVP_MD_CTX_copy_ex (used by
// EVP_MAC_init to reset an HMAC) allocates through the provider's dupctx. Same assembly (SHA-NI/AVX2)
// as EVP's SHA-256. The wrappers confine the deprecation to this one place; they can go if OpenSSL
// gains an allocation-free EVP digest copy.
#include <openssl/sha.h>
#include <openssl/hmac.h>
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
static inline int copenssl_sha256_init(SHA256_CTX *context) { return SHA256_Init(context); }
static inline int copenssl_sha256_update(SHA256_CTX *context, const void *bytes, size_t byteCount) {
    return SHA256_Update(context, bytes, byteCount);
}
static inline int copenssl_sha256_final(unsigned char *digest, SHA256_CTX *context) {
    return SHA256_Final(digest, context);
}
#pragma clang diagnostic pop

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
