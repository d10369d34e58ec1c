/* Portable fixed-width vectors for cyconv's micro-kernels.
 *
 * One vector is CY_VBYTES bytes (64: 16 floats or 8 doubles), written with the
 * GCC/Clang vector extension.  The compiler lowers each operation to the widest
 * instructions the target has: one zmm op with AVX-512, two ymm ops with AVX2,
 * four xmm ops on baseline SSE2 / NEON.  `acc + w * s` is contracted into a
 * fused multiply-add (-ffp-contract=fast) with the scalar broadcast folded
 * into the FMA's memory operand.
 *
 * The micro-kernels keep each accumulator in its own variable of these types,
 * so the register allocator can hold a whole tile in vector registers.
 */
#ifndef CYCONV_SIMD_H
#define CYCONV_SIMD_H

#if !defined(__GNUC__) && !defined(__clang__)
#error "cyconv's kernels need the GCC/Clang vector extension (gcc, clang or clang-cl)"
#endif

#define CY_VBYTES 64
#define CY_VL_F32 (CY_VBYTES / 4)
#define CY_VL_F64 (CY_VBYTES / 8)

typedef float cy_vf32 __attribute__((vector_size(CY_VBYTES)));
typedef double cy_vf64 __attribute__((vector_size(CY_VBYTES)));

#define CY_DEFINE_VEC_OPS(T, V, S)                                              \
    static inline V cy_zero_##S(void) { V v = {0}; return v; }                  \
    static inline V cy_set1_##S(T s) { V v = {0}; return v + s; }               \
    static inline V cy_load_##S(const T *p) {                                   \
        V v; __builtin_memcpy(&v, p, sizeof v); return v; }                     \
    static inline void cy_store_##S(T *p, V v) { __builtin_memcpy(p, &v, sizeof v); } \
    static inline V cy_fma_##S(V acc, V a, T s) { return acc + a * s; }         \
    static inline V cy_fmav_##S(V acc, V a, V b) { return acc + a * b; }

CY_DEFINE_VEC_OPS(float, cy_vf32, f32)
CY_DEFINE_VEC_OPS(double, cy_vf64, f64)

#endif
