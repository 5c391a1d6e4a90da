// The C anchors of sign-ratio (issue 5): HMAC-SHA256 webhook signatures computed the ways a C programmer
// would with OpenSSL 3, over the same messages as Sluice's HMACBatchSigner, plus a malloc counter.
#ifndef SIGN_BASELINE_H
#define SIGN_BASELINE_H
#include <stddef.h>
#include <stdint.h>

/// One message: the Standard Webhooks content is `id "." decimal(timestamp) "." body`.
typedef struct sign_baseline_message {
    const uint8_t *id;
    size_t id_length;
    uint64_t timestamp;
    const uint8_t *body;
    size_t body_length;
    int key_index;
} sign_baseline_message;

typedef struct sign_baseline sign_baseline;

/// Prepares `key_count` keys of `key_length` bytes each (contiguous in `keys`): one EVP_MAC_CTX per key
/// initialised with its key (EVP_MAC fetched once), and per key the inner/outer EVP_MD_CTX midstates.
sign_baseline *sign_baseline_create(const uint8_t *keys, size_t key_length, int key_count);
void sign_baseline_destroy(sign_baseline *baseline);

/// EVP_MAC loop: per message `EVP_MAC_init(ctx, NULL, 0, NULL)` (re-use the key), five updates, final,
/// then `EVP_EncodeBlock` into `"v1," + base64` (47 bytes per message in `out`). Returns 0 on success.
int sign_baseline_evp_mac(sign_baseline *baseline, const sign_baseline_message *messages, size_t count, uint8_t *out);

/// HMAC from EVP_MD_CTX midstates: per message `EVP_MD_CTX_copy_ex` from the key's prepared inner and
/// outer digest contexts, updates, finals; same output. Returns 0 on success.
int sign_baseline_evp_md_copy(sign_baseline *baseline, const sign_baseline_message *messages, size_t count, uint8_t *out);

/// Naive: per message, build the content in a buffer and call one-shot `HMAC(EVP_sha256(), key, …)`.
int sign_baseline_hmac_oneshot(
    const uint8_t *keys, size_t key_length, const sign_baseline_message *messages, size_t count, uint8_t *out
);

/// Calls to malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign in this process so far
/// (this target interposes them and forwards to glibc's `__libc_*` implementations).
uint64_t sign_baseline_malloc_count(void);

#endif
