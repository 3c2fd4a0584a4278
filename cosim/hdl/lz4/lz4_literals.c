/* A minimal LZ4 block encoder for Verilator's FST writer (WAVES=1 builds).
 *
 * Why: the FST writer compresses its hierarchy block with LZ4, and pip cannot install the
 * lz4 headers (Debian liblz4-dev) that Verilator's build expects. An LZ4 block made of a
 * single literal run (no matches) is valid LZ4 that every reader (GTKWave, Surfer,
 * wellen) decodes; it only forgoes compression of the hierarchy, a small part of a
 * waveform (value changes are compressed by the writer itself).
 *
 * Block format (lz4_Block_format.md): token = (literal length, capped at 15) << 4, then
 * (length - 15) as bytes of 255 and a final byte < 255 when the length is >= 15, then the
 * literals. The last sequence of a block has literals only, so this is a whole block. */
#include <string.h>

#include "lz4.h"

#define LZ4_MAX_INPUT_SIZE 0x7E000000

int LZ4_compressBound(int inputSize) {
    if (inputSize < 0 || inputSize > LZ4_MAX_INPUT_SIZE) return 0;
    return inputSize + inputSize / 255 + 16;
}

int LZ4_compress_default(const char* src, char* dst, int srcSize, int dstCapacity) {
    if (srcSize < 0 || srcSize > LZ4_MAX_INPUT_SIZE || dstCapacity <= 0) return 0;
    long need = 1 + (long)srcSize + (srcSize >= 15 ? (srcSize - 15) / 255 + 1 : 0);
    if (need > dstCapacity) return 0;
    unsigned char* out = (unsigned char*)dst;
    int pos = 0;
    if (srcSize < 15) {
        out[pos++] = (unsigned char)(srcSize << 4);
    } else {
        out[pos++] = 0xF0;
        int rest = srcSize - 15;
        while (rest >= 255) {
            out[pos++] = 255;
            rest -= 255;
        }
        out[pos++] = (unsigned char)rest;
    }
    memcpy(out + pos, src, (size_t)srcSize);
    return pos + srcSize;
}
