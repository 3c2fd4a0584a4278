/* The two LZ4 entry points Verilator's FST writer (include/fstcpp/fstcpp_writer.cpp)
 * calls, for builds on hosts without the lz4 development package. Implemented in
 * lz4_literals.c (this directory); see there for why. */
#ifndef NEURRAM_LZ4_SHIM_H
#define NEURRAM_LZ4_SHIM_H
#ifdef __cplusplus
extern "C" {
#endif

/* Largest output LZ4_compress_default can produce for inputSize bytes (0 if too big). */
int LZ4_compressBound(int inputSize);

/* Encodes src[0..srcSize) as one LZ4 block into dst; returns its size, 0 on error. */
int LZ4_compress_default(const char* src, char* dst, int srcSize, int dstCapacity);

#ifdef __cplusplus
}
#endif
#endif
