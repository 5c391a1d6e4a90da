// Shim for the LZ4 block API (LZ4_compress_default, LZ4_decompress_safe). We frame, length-prefix and
// checksum blocks ourselves (FORMAT.md), so the LZ4 frame format is not used.
#include <lz4.h>

// LZ4_COMPRESSBOUND is a function-like macro Swift cannot import; LZ4_compressBound() is the function form.
static inline int clz4_compress_bound(int inputByteCount) { return LZ4_COMPRESSBOUND(inputByteCount); }
