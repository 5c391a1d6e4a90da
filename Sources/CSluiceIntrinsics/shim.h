// CPU intrinsics Swift cannot reach: the SSE4.2 `crc32` instruction and `cpuid`. Header-only (static
// inline), nothing to link. The function-level `target("sse4.2")` attribute compiles the instruction
// without a global -msse4.2, so the binary still runs on CPUs without it; callers check
// csluice_cpu_has_sse42() first. Can go when Swift exposes these intrinsics.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

static inline int csluice_cpu_has_sse42(void) {
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_SSE4_2) != 0;
}

// CRC-32C continuing from `crc` (0 to start), as the portable Swift path computes it.
__attribute__((target("sse4.2")))
static inline uint32_t csluice_crc32c_update(uint32_t crc, const void *bytes, size_t count) {
    const unsigned char *cursor = (const unsigned char *)bytes;
    uint64_t state = (uint32_t)~crc;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, cursor, 8);
        state = __builtin_ia32_crc32di(state, word);
        cursor += 8;
        count -= 8;
    }
    uint32_t narrow = (uint32_t)state;
    while (count > 0) {
        narrow = __builtin_ia32_crc32qi(narrow, *cursor);
        cursor += 1;
        count -= 1;
    }
    return ~narrow;
}
#else
static inline int csluice_cpu_has_sse42(void) { return 0; }
static inline uint32_t csluice_crc32c_update(uint32_t crc, const void *bytes, size_t count) {
    (void)bytes; (void)count; return crc;  // never called: csluice_cpu_has_sse42() is 0
}
#endif
