#include "sign_baseline.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

// MARK: malloc counting (interposition: the executable's definitions win over libc's).

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Atomic uint64_t malloc_count;

void *malloc(size_t size) {
    atomic_fetch_add_explicit(&malloc_count, 1, memory_order_relaxed);
    return __libc_malloc(size);
}
void *calloc(size_t count, size_t size) {
    atomic_fetch_add_explicit(&malloc_count, 1, memory_order_relaxed);
    return __libc_calloc(count, size);
}
void *realloc(void *pointer, size_t size) {
    atomic_fetch_add_explicit(&malloc_count, 1, memory_order_relaxed);
    return __libc_realloc(pointer, size);
}
void *memalign(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&malloc_count, 1, memory_order_relaxed);
    return __libc_memalign(alignment, size);
}
void *aligned_alloc(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&malloc_count, 1, memory_order_relaxed);
    return __libc_memalign(alignment, size);
}
int posix_memalign(void **result, size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&malloc_count, 1, memory_order_relaxed);
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}
void free(void *pointer) { __libc_free(pointer); }

uint64_t sign_baseline_malloc_count(void) { return atomic_load_explicit(&malloc_count, memory_order_relaxed); }

// MARK: prepared keys

struct sign_baseline {
    int key_count;
    EVP_MAC *mac;
    EVP_MAC_CTX **mac_contexts;
    EVP_MD_CTX **inner;
    EVP_MD_CTX **outer;
    EVP_MD_CTX *work;
};

sign_baseline *sign_baseline_create(const uint8_t *keys, size_t key_length, int key_count) {
    sign_baseline *baseline = calloc(1, sizeof *baseline);
    baseline->key_count = key_count;
    baseline->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    baseline->mac_contexts = calloc((size_t)key_count, sizeof(EVP_MAC_CTX *));
    baseline->inner = calloc((size_t)key_count, sizeof(EVP_MD_CTX *));
    baseline->outer = calloc((size_t)key_count, sizeof(EVP_MD_CTX *));
    baseline->work = EVP_MD_CTX_new();
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    const EVP_MD *sha256 = EVP_sha256();
    for (int index = 0; index < key_count; index++) {
        const uint8_t *key = keys + (size_t)index * key_length;
        baseline->mac_contexts[index] = EVP_MAC_CTX_new(baseline->mac);
        if (!EVP_MAC_init(baseline->mac_contexts[index], key, key_length, params)) return NULL;
        // RFC 2104 midstates (keys here are at most one block).
        if (key_length > 64) return NULL;
        uint8_t inner_pad[64] = {0}, outer_pad[64] = {0};
        memcpy(inner_pad, key, key_length);
        memcpy(outer_pad, key, key_length);
        for (int byte = 0; byte < 64; byte++) {
            inner_pad[byte] ^= 0x36;
            outer_pad[byte] ^= 0x5c;
        }
        baseline->inner[index] = EVP_MD_CTX_new();
        baseline->outer[index] = EVP_MD_CTX_new();
        if (!EVP_DigestInit_ex(baseline->inner[index], sha256, NULL)) return NULL;
        if (!EVP_DigestUpdate(baseline->inner[index], inner_pad, 64)) return NULL;
        if (!EVP_DigestInit_ex(baseline->outer[index], sha256, NULL)) return NULL;
        if (!EVP_DigestUpdate(baseline->outer[index], outer_pad, 64)) return NULL;
    }
    return baseline;
}

void sign_baseline_destroy(sign_baseline *baseline) {
    for (int index = 0; index < baseline->key_count; index++) {
        EVP_MAC_CTX_free(baseline->mac_contexts[index]);
        EVP_MD_CTX_free(baseline->inner[index]);
        EVP_MD_CTX_free(baseline->outer[index]);
    }
    EVP_MD_CTX_free(baseline->work);
    EVP_MAC_free(baseline->mac);
    free(baseline->mac_contexts);
    free(baseline->inner);
    free(baseline->outer);
    free(baseline);
}

static size_t format_timestamp(uint64_t value, char *digits) {
    char reversed[20];
    size_t count = 0;
    do {
        reversed[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value > 0);
    for (size_t index = 0; index < count; index++) digits[index] = reversed[count - 1 - index];
    return count;
}

static void write_value(const uint8_t mac[32], uint8_t *out) {
    out[0] = 'v';
    out[1] = '1';
    out[2] = ',';
    uint8_t encoded[45];
    EVP_EncodeBlock(encoded, mac, 32);
    memcpy(out + 3, encoded, 44);
}

int sign_baseline_evp_mac(sign_baseline *baseline, const sign_baseline_message *messages, size_t count, uint8_t *out) {
    uint8_t mac[32];
    char digits[20];
    for (size_t index = 0; index < count; index++) {
        const sign_baseline_message *message = &messages[index];
        EVP_MAC_CTX *context = baseline->mac_contexts[message->key_index];
        size_t digit_count = format_timestamp(message->timestamp, digits);
        size_t mac_length = 0;
        if (!EVP_MAC_init(context, NULL, 0, NULL)) return -1;
        if (!EVP_MAC_update(context, message->id, message->id_length)) return -1;
        if (!EVP_MAC_update(context, (const uint8_t *)".", 1)) return -1;
        if (!EVP_MAC_update(context, (const uint8_t *)digits, digit_count)) return -1;
        if (!EVP_MAC_update(context, (const uint8_t *)".", 1)) return -1;
        if (!EVP_MAC_update(context, message->body, message->body_length)) return -1;
        if (!EVP_MAC_final(context, mac, &mac_length, sizeof mac)) return -1;
        write_value(mac, out + index * 47);
    }
    return 0;
}

int sign_baseline_evp_md_copy(sign_baseline *baseline, const sign_baseline_message *messages, size_t count, uint8_t *out) {
    uint8_t mac[32];
    char digits[20];
    EVP_MD_CTX *work = baseline->work;
    for (size_t index = 0; index < count; index++) {
        const sign_baseline_message *message = &messages[index];
        size_t digit_count = format_timestamp(message->timestamp, digits);
        unsigned int length = 0;
        if (!EVP_MD_CTX_copy_ex(work, baseline->inner[message->key_index])) return -1;
        if (!EVP_DigestUpdate(work, message->id, message->id_length)) return -1;
        if (!EVP_DigestUpdate(work, ".", 1)) return -1;
        if (!EVP_DigestUpdate(work, digits, digit_count)) return -1;
        if (!EVP_DigestUpdate(work, ".", 1)) return -1;
        if (!EVP_DigestUpdate(work, message->body, message->body_length)) return -1;
        if (!EVP_DigestFinal_ex(work, mac, &length)) return -1;
        if (!EVP_MD_CTX_copy_ex(work, baseline->outer[message->key_index])) return -1;
        if (!EVP_DigestUpdate(work, mac, 32)) return -1;
        if (!EVP_DigestFinal_ex(work, mac, &length)) return -1;
        write_value(mac, out + index * 47);
    }
    return 0;
}

int sign_baseline_hmac_oneshot(
    const uint8_t *keys, size_t key_length, const sign_baseline_message *messages, size_t count, uint8_t *out
) {
    uint8_t mac[32];
    size_t capacity = 0;
    uint8_t *content = NULL;
    for (size_t index = 0; index < count; index++) {
        const sign_baseline_message *message = &messages[index];
        size_t needed = message->id_length + message->body_length + 22;
        if (needed > capacity) {
            free(content);
            capacity = needed;
            content = malloc(capacity);
        }
        size_t length = 0;
        memcpy(content, message->id, message->id_length);
        length += message->id_length;
        content[length++] = '.';
        length += format_timestamp(message->timestamp, (char *)content + length);
        content[length++] = '.';
        memcpy(content + length, message->body, message->body_length);
        length += message->body_length;
        unsigned int mac_length = 0;
        const uint8_t *key = keys + (size_t)message->key_index * key_length;
        if (HMAC(EVP_sha256(), key, (int)key_length, content, length, mac, &mac_length) == NULL) return -1;
        write_value(mac, out + index * 47);
    }
    free(content);
    return 0;
}
