/* Portable fixed-width vectors for cyconv's micro-kernels.
 *
 * One vector is CY_VBYTES bytes, set per SIMD variant by setup.py:
 *   64  the avx512 variant (x86-64-v4): one zmm register, 16 floats;
 *   32  the avx2 variant (x86-64-v3): one ymm register, 8 floats;
 *   16  the baseline variant: one xmm register (SSE2) or NEON register.
 *
 * GCC and Clang (including clang-cl) use the vector extension: the compiler
 * lowers each operation to the variant's instructions, and `acc + w * s` is
 * contracted into a fused multiply-add (-ffp-contract=fast) where the target
 * has one, with the scalar broadcast folded into the FMA's memory operand.
 * MSVC has no vector extension; there the same operations are written with
 * the x86 intrinsics of the variant (/arch:AVX512, /arch:AVX2, SSE2).
 * Defining CY_SIMD_INTRINSICS selects the intrinsics on GCC/Clang too, so
 * that path can be built and tested without MSVC.
 *
 * The micro-kernels keep each accumulator in its own variable of these types,
 * so the register allocator can hold a whole tile in vector registers.
 */
#ifndef CYCONV_SIMD_H
#define CYCONV_SIMD_H

#ifndef CY_VBYTES
#error "CY_VBYTES (bytes per vector) is set by setup.py for each SIMD variant"
#endif

#define CY_VL_F32 (CY_VBYTES / 4)
#define CY_VL_F64 (CY_VBYTES / 8)

#if defined(_MSC_VER) && !defined(__clang__) && !defined(CY_SIMD_INTRINSICS)
#define CY_SIMD_INTRINSICS 1
#endif

#if !defined(CY_SIMD_INTRINSICS)

typedef float cy_vf32 __attribute__((vector_size(CY_VBYTES)));
typedef double cy_vf64 __attribute__((vector_size(CY_VBYTES)));

/* cy_loadr: a load whose value stays in a register.  Without it GCC folds a
 * loaded vector that feeds several FMAs back into each FMA as a memory
 * operand (one load per FMA), which makes the dot-product tiles load-bound.
 * The empty asm "modifies" the register, so the load cannot be repeated.
 * CY_PIN alone (the templates' cy_pin_*) keeps an unrolled tile's steps in
 * order: without it GCC sinks each step's FMAs below the next steps' loads
 * and spills accumulators to make room. */
#if defined(__x86_64__) || defined(__i386__)
#define CY_PIN(v) __asm__("" : "+v"(v))
#elif defined(__aarch64__)
#define CY_PIN(v) __asm__("" : "+w"(v))
#else
#define CY_PIN(v) ((void)0)
#endif

#define CY_DEFINE_VEC_OPS(T, V, S)                                              \
    static inline V cy_loadr_##S(const T *p) {                                  \
        V v; __builtin_memcpy(&v, p, sizeof v); CY_PIN(v); return v; }          \
    static inline V cy_zero_##S(void) { V v = {0}; return v; }                  \
    /* s - 0 (not 0 + s, which is not s for s = -0: a scalar add before  \
       the broadcast, on the FMA ports) is a plain broadcast */             \
    static inline V cy_set1_##S(T s) { V v = {0}; return s - v; }               \
    static inline V cy_load_##S(const T *p) {                                   \
        V v; __builtin_memcpy(&v, p, sizeof v); return v; }                     \
    static inline void cy_store_##S(T *p, V v) { __builtin_memcpy(p, &v, sizeof v); } \
    static inline V cy_fma_##S(V acc, V a, T s) { return acc + a * s; }         \
    static inline V cy_fmav_##S(V acc, V a, V b) { return acc + a * b; }      \
    static inline V cy_add_##S(V a, V b) { return a + b; }

CY_DEFINE_VEC_OPS(float, cy_vf32, f32)
CY_DEFINE_VEC_OPS(double, cy_vf64, f64)

typedef int cy_vi32 __attribute__((vector_size(CY_VBYTES)));
typedef long long cy_vi64 __attribute__((vector_size(CY_VBYTES)));

/* cy_lanes: a mask with the bits of lanes [lo, hi) set; cy_and applies it
 * (a mask computed once, outside a loop, costs one AND per load in it).
 * The bounds are broadcast scalars: filled lane by lane, GCC builds a
 * vector with one masked broadcast per lane. */
#define CY_DEFINE_LANES(V, VI, E, S, L)                                         \
    static inline V cy_lanes_##S(long lo, long hi) {                            \
        VI idx, z = {0};                                                        \
        lo = lo < 0 ? 0 : (lo > (L) ? (L) : lo);                                \
        hi = hi < 0 ? 0 : (hi > (L) ? (L) : hi);                                \
        for (int i = 0; i < (L); i++) idx[i] = i;                               \
        return (V)((idx >= z + (E)lo) & (idx < z + (E)hi)); }                   \
    static inline V cy_and_##S(V a, V m) { return (V)((VI)a & (VI)m); }
CY_DEFINE_LANES(cy_vf32, cy_vi32, int, f32, CY_VL_F32)
CY_DEFINE_LANES(cy_vf64, cy_vi64, long long, f64, CY_VL_F64)

/* cy_blo / cy_bhi: one butterfly step of an in-register transpose.  For a
 * pair of rows a, b and a block size h (a power of two below the lane count
 * L), the h-lane blocks of a at odd block positions trade places with those
 * of b at even ones:
 *   lo[l] = l & h ? b[l - h] : a[l],   hi[l] = l & h ? b[l] : a[l + h].
 * Applied to rows i and i + h for every i with i & h == 0 and every h, the
 * rows of an L x L block become its columns.  The lane lists are constants
 * spelled out by the preprocessor (GCC: __builtin_shuffle with a constant
 * mask, Clang: __builtin_shufflevector), so each step is one or two shuffle
 * instructions. */
#define CY_HAVE_SHUFFLE 1
#define CY_BLO(l, h, L) (((l) & (h)) ? (L) + (l) - (h) : (l))
#define CY_BHI(l, h, L) (((l) & (h)) ? (L) + (l) : (l) + (h))
#define CY_LANES2(F, h, L) F(0, h, L), F(1, h, L)
#define CY_LANES4(F, h, L) CY_LANES2(F, h, L), F(2, h, L), F(3, h, L)
#define CY_LANES8(F, h, L) CY_LANES4(F, h, L), F(4, h, L), F(5, h, L), F(6, h, L), F(7, h, L)
#define CY_LANES16(F, h, L) CY_LANES8(F, h, L), F(8, h, L), F(9, h, L), F(10, h, L), \
    F(11, h, L), F(12, h, L), F(13, h, L), F(14, h, L), F(15, h, L)
#if CY_VBYTES == 64
#define CY_LANES_F32 CY_LANES16
#define CY_LANES_F64 CY_LANES8
#elif CY_VBYTES == 32
#define CY_LANES_F32 CY_LANES8
#define CY_LANES_F64 CY_LANES4
#else
#define CY_LANES_F32 CY_LANES4
#define CY_LANES_F64 CY_LANES2
#endif
#if defined(__clang__)
#define CY_SHUFFLE(VI, a, b, lanes) __builtin_shufflevector(a, b, lanes)
#else
#define CY_SHUFFLE(VI, a, b, lanes) __builtin_shuffle(a, b, (VI){lanes})
#endif
#define cy_blo_f32(a, b, h) CY_SHUFFLE(cy_vi32, a, b, CY_LANES_F32(CY_BLO, h, CY_VL_F32))
#define cy_bhi_f32(a, b, h) CY_SHUFFLE(cy_vi32, a, b, CY_LANES_F32(CY_BHI, h, CY_VL_F32))
#define cy_blo_f64(a, b, h) CY_SHUFFLE(cy_vi64, a, b, CY_LANES_F64(CY_BLO, h, CY_VL_F64))
#define cy_bhi_f64(a, b, h) CY_SHUFFLE(cy_vi64, a, b, CY_LANES_F64(CY_BHI, h, CY_VL_F64))
/* cy_ziplo / cy_ziphi: the lanes of a and b alternated, from their first
 * halves (lo) or their second halves (hi): lo = a0 b0 a1 b1 ... */
#define CY_ZLO(l, h, L) (((l) & 1) ? (L) + (l) / 2 : (l) / 2)
#define CY_ZHI(l, h, L) (((l) & 1) ? (L) + (L) / 2 + (l) / 2 : (L) / 2 + (l) / 2)
#define cy_ziplo_f32(a, b) CY_SHUFFLE(cy_vi32, a, b, CY_LANES_F32(CY_ZLO, 0, CY_VL_F32))
#define cy_ziphi_f32(a, b) CY_SHUFFLE(cy_vi32, a, b, CY_LANES_F32(CY_ZHI, 0, CY_VL_F32))
#define cy_ziplo_f64(a, b) CY_SHUFFLE(cy_vi64, a, b, CY_LANES_F64(CY_ZLO, 0, CY_VL_F64))
#define cy_ziphi_f64(a, b) CY_SHUFFLE(cy_vi64, a, b, CY_LANES_F64(CY_ZHI, 0, CY_VL_F64))

#else  /* x86 intrinsics (MSVC, or CY_SIMD_INTRINSICS) */

#if !(defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86))
#error "the intrinsics path of _simd.h is x86 only; use GCC or Clang elsewhere"
#endif
#include <immintrin.h>
#define CY_PIN(v) ((void)0)
#include <string.h>

#if CY_VBYTES == 64
#define CY_PS(op) _mm512_##op##_ps
#define CY_PD(op) _mm512_##op##_pd
typedef __m512 cy_vf32;
typedef __m512d cy_vf64;
#define CY_HAVE_FMA 1
#elif CY_VBYTES == 32
#define CY_PS(op) _mm256_##op##_ps
#define CY_PD(op) _mm256_##op##_pd
typedef __m256 cy_vf32;
typedef __m256d cy_vf64;
#define CY_HAVE_FMA 1
#elif CY_VBYTES == 16
#define CY_PS(op) _mm_##op##_ps
#define CY_PD(op) _mm_##op##_pd
typedef __m128 cy_vf32;
typedef __m128d cy_vf64;
#define CY_HAVE_FMA 0      /* SSE2 baseline: multiply, then add */
#else
#error "CY_VBYTES must be 16, 32 or 64"
#endif

#if CY_HAVE_FMA
#define CY_DEFINE_FMA(T, V, S, P)                                                  \
    static __inline V cy_fma_##S(V acc, V a, T s) { return P(fmadd)(a, P(set1)(s), acc); } \
    static __inline V cy_fmav_##S(V acc, V a, V b) { return P(fmadd)(a, b, acc); }
#else
#define CY_DEFINE_FMA(T, V, S, P)                                                  \
    static __inline V cy_fma_##S(V acc, V a, T s) { return P(add)(acc, P(mul)(a, P(set1)(s))); } \
    static __inline V cy_fmav_##S(V acc, V a, V b) { return P(add)(acc, P(mul)(a, b)); }
#endif

#define CY_DEFINE_VEC_OPS(T, V, S, P)                                              \
    static __inline V cy_zero_##S(void) { return P(setzero)(); }                  \
    static __inline V cy_set1_##S(T s) { return P(set1)(s); }                     \
    static __inline V cy_load_##S(const T *p) { return P(loadu)(p); }             \
    static __inline V cy_loadr_##S(const T *p) { return P(loadu)(p); }            \
    static __inline void cy_store_##S(T *p, V v) { P(storeu)(p, v); }             \
    static __inline V cy_add_##S(V a, V b) { return P(add)(a, b); }               \
    CY_DEFINE_FMA(T, V, S, P)

CY_DEFINE_VEC_OPS(float, cy_vf32, f32, CY_PS)
CY_DEFINE_VEC_OPS(double, cy_vf64, f64, CY_PD)

/* cy_lanes: the bits of lanes [lo, hi) set; cy_and applies it */
#define CY_DEFINE_LANES(T, IT, V, S, L, P)                                         \
    static __inline V cy_lanes_##S(long lo, long hi) {                             \
        IT bits[L]; T buf[L]; int i;                                               \
        for (i = 0; i < (L); i++) bits[i] = (i >= lo && i < hi) ? ~(IT)0 : 0;      \
        memcpy(buf, bits, sizeof buf);                                             \
        return P(loadu)(buf); }                                                    \
    static __inline V cy_and_##S(V a, V m) { return P(and)(a, m); }
CY_DEFINE_LANES(float, unsigned int, cy_vf32, f32, CY_VL_F32, CY_PS)
CY_DEFINE_LANES(double, unsigned long long, cy_vf64, f64, CY_VL_F64, CY_PD)

/* no two-vector shuffle in common to the three widths: the micro-kernels
 * store their channel tiles lane by lane instead of transposing them */
#define CY_HAVE_SHUFFLE 0
#define cy_blo_f32(a, b, h) (a)
#define cy_bhi_f32(a, b, h) (b)
#define cy_blo_f64(a, b, h) (a)
#define cy_bhi_f64(a, b, h) (b)

#endif

/* cy_maskn: lanes >= n set to +0.0, cy_maskr: lanes outside [lo, hi) set to
 * +0.0 (bitwise, so NaN and Inf there vanish): row tails, and the lanes of an
 * input vector read in place that fall left or right of its row */
static __inline cy_vf32 cy_maskn_f32(cy_vf32 v, long n) { return cy_and_f32(v, cy_lanes_f32(0, n)); }
static __inline cy_vf64 cy_maskn_f64(cy_vf64 v, long n) { return cy_and_f64(v, cy_lanes_f64(0, n)); }
static __inline cy_vf32 cy_maskr_f32(cy_vf32 v, long lo, long hi) {
    return cy_and_f32(v, cy_lanes_f32(lo, hi)); }
static __inline cy_vf64 cy_maskr_f64(cy_vf64 v, long lo, long hi) {
    return cy_and_f64(v, cy_lanes_f64(lo, hi)); }

/* cy_storen: the first n lanes of v stored at p, the memory after them
 * untouched (a masked store on AVX-512) */
#if defined(__AVX512F__) && CY_VBYTES == 64
#if !defined(CY_SIMD_INTRINSICS)
#include <immintrin.h>
#endif
static __inline void cy_storen_f32(float *p, cy_vf32 v, long n) {
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), v); }
static __inline void cy_storen_f64(double *p, cy_vf64 v, long n) {
    _mm512_mask_storeu_pd(p, (__mmask8)((1u << n) - 1u), v); }
#else
/* (i < the vector length too: n never exceeds it, and with that bound GCC
 * does not warn about a copy whose length it cannot bound) */
static __inline void cy_storen_f32(float *p, cy_vf32 v, long n) {
    float t[CY_VL_F32]; long i; cy_store_f32(t, v);
    for (i = 0; i < n && i < CY_VL_F32; i++) p[i] = t[i]; }
static __inline void cy_storen_f64(double *p, cy_vf64 v, long n) {
    double t[CY_VL_F64]; long i; cy_store_f64(t, v);
    for (i = 0; i < n && i < CY_VL_F64; i++) p[i] = t[i]; }
#endif

/* cy_loadn: the first n lanes from p, the rest zero (nothing read there):
 * a masked load on AVX-512 and AVX2 (filled element by element through the
 * stack, the vector load waits for the scalar stores: no forwarding) */
#if defined(__AVX512F__) && CY_VBYTES == 64
static __inline cy_vf32 cy_loadn_f32(const float *p, long n) {
    return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), p); }
static __inline cy_vf64 cy_loadn_f64(const double *p, long n) {
    return _mm512_maskz_loadu_pd((__mmask8)((1u << n) - 1u), p); }
#elif defined(__AVX2__) && CY_VBYTES == 32
#if !defined(CY_SIMD_INTRINSICS)
#include <immintrin.h>
#endif
static __inline cy_vf32 cy_loadn_f32(const float *p, long n) {
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return (cy_vf32)_mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane)); }
static __inline cy_vf64 cy_loadn_f64(const double *p, long n) {
    __m256i lane = _mm256_setr_epi64x(0, 1, 2, 3);
    return (cy_vf64)_mm256_maskload_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), lane)); }
#else
static __inline cy_vf32 cy_loadn_f32(const float *p, long n) {
    float t[CY_VL_F32] = {0}; long i; for (i = 0; i < n; i++) t[i] = p[i];
    return cy_load_f32(t); }
static __inline cy_vf64 cy_loadn_f64(const double *p, long n) {
    double t[CY_VL_F64] = {0}; long i; for (i = 0; i < n; i++) t[i] = p[i];
    return cy_load_f64(t); }
#endif

/* cy_km*: lane masks for loads that keep lanes [lo, hi) and zero the rest
 * (bitwise: NaN and Inf there vanish).  On AVX-512 a mask register and a
 * zero-masking load; elsewhere a vector of lane bits and an AND.  The
 * row-block weight-gradient tiles keep 9 such masks live over their row
 * loop: as vectors they took 9 of the 32 registers. */
#if defined(__AVX512F__) && CY_VBYTES == 64
typedef __mmask16 cy_kmf32;
typedef __mmask8 cy_kmf64;
static __inline unsigned cy_kbits_(long lo, long hi, long L) {
    lo = lo < 0 ? 0 : (lo > L ? L : lo);
    hi = hi < 0 ? 0 : (hi > L ? L : hi);
    return hi > lo ? ((1u << hi) - 1u) & ~((1u << lo) - 1u) : 0u; }
static __inline cy_kmf32 cy_kmlanes_f32(long lo, long hi) { return (cy_kmf32)cy_kbits_(lo, hi, 16); }
static __inline cy_kmf64 cy_kmlanes_f64(long lo, long hi) { return (cy_kmf64)cy_kbits_(lo, hi, 8); }
static __inline cy_kmf32 cy_kmand_f32(cy_kmf32 a, cy_kmf32 b) { return (cy_kmf32)(a & b); }
static __inline cy_kmf64 cy_kmand_f64(cy_kmf64 a, cy_kmf64 b) { return (cy_kmf64)(a & b); }
static __inline cy_vf32 cy_kmload_f32(const float *p, cy_kmf32 m) {
    return (cy_vf32)_mm512_maskz_loadu_ps(m, p); }
static __inline cy_vf64 cy_kmload_f64(const double *p, cy_kmf64 m) {
    return (cy_vf64)_mm512_maskz_loadu_pd(m, p); }
/* cy_kmbits: a mask from the low lane bits of an integer (a table entry);
 * cy_kmzero: v with the lanes outside m zeroed, in the register */
static __inline cy_kmf32 cy_kmbits_f32(unsigned bits) { return (cy_kmf32)bits; }
static __inline cy_kmf64 cy_kmbits_f64(unsigned bits) { return (cy_kmf64)bits; }
static __inline cy_vf32 cy_kmzero_f32(cy_vf32 v, cy_kmf32 m) {
    return (cy_vf32)_mm512_maskz_mov_ps(m, (__m512)v); }
static __inline cy_vf64 cy_kmzero_f64(cy_vf64 v, cy_kmf64 m) {
    return (cy_vf64)_mm512_maskz_mov_pd(m, (__m512d)v); }
/* cy_kmfma: acc + a * b in the lanes of m, acc itself in the others (no
 * product at all there: a NaN in a or b outside m stays out) */
static __inline cy_vf32 cy_kmfma_f32(cy_vf32 acc, cy_vf32 a, cy_vf32 b, cy_kmf32 m) {
    return (cy_vf32)_mm512_mask3_fmadd_ps((__m512)a, (__m512)b, (__m512)acc, m); }
static __inline cy_vf64 cy_kmfma_f64(cy_vf64 acc, cy_vf64 a, cy_vf64 b, cy_kmf64 m) {
    return (cy_vf64)_mm512_mask3_fmadd_pd((__m512d)a, (__m512d)b, (__m512d)acc, m); }
#else
typedef cy_vf32 cy_kmf32;
typedef cy_vf64 cy_kmf64;
static __inline cy_kmf32 cy_kmlanes_f32(long lo, long hi) { return cy_lanes_f32(lo, hi); }
static __inline cy_kmf64 cy_kmlanes_f64(long lo, long hi) { return cy_lanes_f64(lo, hi); }
static __inline cy_kmf32 cy_kmand_f32(cy_kmf32 a, cy_kmf32 b) { return cy_and_f32(a, b); }
static __inline cy_kmf64 cy_kmand_f64(cy_kmf64 a, cy_kmf64 b) { return cy_and_f64(a, b); }
static __inline cy_vf32 cy_kmload_f32(const float *p, cy_kmf32 m) {
    return cy_and_f32(cy_load_f32(p), m); }
static __inline cy_vf64 cy_kmload_f64(const double *p, cy_kmf64 m) {
    return cy_and_f64(cy_load_f64(p), m); }
#endif

/* cy_transpose: dst[j * ds + i] = src[i * ss + j] for the m x n block
 * (m, n <= L) at src; each of the n rows of dst gets dn lanes (dn <= L),
 * lanes i >= m zero; cy_transpose_full: the whole L x L block (no tests
 * on the sizes left in it).  In registers through the butterfly steps where the
 * vector extension has shuffles, element by element otherwise. */
#if CY_HAVE_SHUFFLE
#define CY_BSTAGE(S, V, L, r, h)                                                \
    _Pragma("GCC unroll 16")                                                    \
    for (int i_ = 0; i_ < (L); i_++) if (!(i_ & (h)) && i_ + (h) < (L)) {       \
        V lo_ = cy_blo_##S(r[i_], r[i_ + (h)], h);                              \
        r[i_ + (h)] = cy_bhi_##S(r[i_], r[i_ + (h)], h); r[i_] = lo_; }
#define CY_DEFINE_TRANSPOSE(T, V, S, L)                                         \
    static __inline __attribute__((always_inline)) void                         \
    cy_transpose_in_##S(const T *src, long ss, long m, long n,                   \
                        T *dst, long ds, long dn) {                             \
        V r[L];                                                                 \
        _Pragma("GCC unroll 16")                                                \
        for (int i = 0; i < (L); i++)                                           \
            r[i] = i >= m ? cy_zero_##S() : n == (L) ? cy_load_##S(src + i * ss) \
                                              : cy_loadn_##S(src + i * ss, n);  \
        if ((L) > 8) { CY_BSTAGE(S, V, L, r, 8) }                               \
        if ((L) > 4) { CY_BSTAGE(S, V, L, r, 4) }                               \
        if ((L) > 2) { CY_BSTAGE(S, V, L, r, 2) }                               \
        CY_BSTAGE(S, V, L, r, 1)                                                \
        _Pragma("GCC unroll 16")                                                \
        for (int j = 0; j < (L); j++)                                           \
            if (j < n) {                                                        \
                if (dn == (L)) cy_store_##S(dst + j * ds, r[j]);                \
                else cy_storen_##S(dst + j * ds, r[j], dn);                     \
            } }                                                                 \
    static __inline void cy_transpose_##S(const T *src, long ss, long m, long n, \
                                          T *dst, long ds, long dn) {           \
        cy_transpose_in_##S(src, ss, m, n, dst, ds, dn); }                      \
    static __inline void cy_transpose_full_##S(const T *src, long ss, T *dst,   \
                                               long ds) {                       \
        cy_transpose_in_##S(src, ss, L, L, dst, ds, L); }
#else
#define CY_DEFINE_TRANSPOSE(T, V, S, L)                                         \
    static __inline void cy_transpose_##S(const T *src, long ss, long m, long n, \
                                          T *dst, long ds, long dn) {           \
        long i, j;                                                              \
        for (j = 0; j < n; j++)                                                 \
            for (i = 0; i < dn; i++)                                            \
                dst[j * ds + i] = i < m ? src[i * ss + j] : (T)0; }                 \
    static __inline void cy_transpose_full_##S(const T *src, long ss, T *dst,   \
                                               long ds) {                       \
        cy_transpose_##S(src, ss, L, L, dst, ds, L); }
#endif
CY_DEFINE_TRANSPOSE(float, cy_vf32, f32, CY_VL_F32)
CY_DEFINE_TRANSPOSE(double, cy_vf64, f64, CY_VL_F64)

/* cy_stores: the first n lanes of v stored s elements apart */
static __inline void cy_stores_f32(float *p, cy_vf32 v, long n, long s) {
    float t[CY_VL_F32]; long i; cy_store_f32(t, v); for (i = 0; i < n; i++) p[i * s] = t[i]; }
static __inline void cy_stores_f64(double *p, cy_vf64 v, long n, long s) {
    double t[CY_VL_F64]; long i; cy_store_f64(t, v); for (i = 0; i < n; i++) p[i * s] = t[i]; }

/* cy_stream: a non-temporal store (no read-for-ownership of the line, not
 * kept in the caches) where p is vector-aligned, else a plain store; each
 * thread calls cy_sfence after its streamed stores.  For outputs much larger
 * than the caches, written once. */
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#define CY_ALIGNED(p) ((((uintptr_t)(p)) & (CY_VBYTES - 1)) == 0)
#define CY_STREAM(T, V, vt, st) static __inline void cy_stream_##T(V *p, cy_v##T v) { \
    vt t; if (!CY_ALIGNED(p)) { cy_store_##T(p, v); return; } memcpy(&t, &v, sizeof t); st(p, t); }
#if CY_VBYTES == 64 && defined(__AVX512F__)
CY_STREAM(f32, float, __m512, _mm512_stream_ps)
CY_STREAM(f64, double, __m512d, _mm512_stream_pd)
#elif CY_VBYTES == 32 && defined(__AVX__)
CY_STREAM(f32, float, __m256, _mm256_stream_ps)
CY_STREAM(f64, double, __m256d, _mm256_stream_pd)
#elif CY_VBYTES == 16 && (defined(__SSE2__) || defined(_M_X64))
CY_STREAM(f32, float, __m128, _mm_stream_ps)
CY_STREAM(f64, double, __m128d, _mm_stream_pd)
#else
static __inline void cy_stream_f32(float *p, cy_vf32 v) { cy_store_f32(p, v); }
static __inline void cy_stream_f64(double *p, cy_vf64 v) { cy_store_f64(p, v); }
#endif
static __inline void cy_sfence(void) { _mm_sfence(); }
/* cy_prefetch: a hint to bring p's line into the caches (never faults);
 * cy_prefetch_l2: into L2 and the outer caches, not L1 */
static __inline void cy_prefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }
static __inline void cy_prefetch_l2(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T1); }
#else
static __inline void cy_stream_f32(float *p, cy_vf32 v) { cy_store_f32(p, v); }
static __inline void cy_stream_f64(double *p, cy_vf64 v) { cy_store_f64(p, v); }
static __inline void cy_sfence(void) { }
static __inline void cy_prefetch(const void *p) { (void)p; }
static __inline void cy_prefetch_l2(const void *p) { (void)p; }
#endif
/* cy_put: a whole-vector store, through cy_stream where nt */
static __inline void cy_put_f32(float *p, cy_vf32 v, int nt) {
    if (nt) cy_stream_f32(p, v); else cy_store_f32(p, v); }
static __inline void cy_put_f64(double *p, cy_vf64 v, int nt) {
    if (nt) cy_stream_f64(p, v); else cy_store_f64(p, v); }

/* cy_interleave: dst[q * s + r] = src[r * ss + q] for q < n <= L (the
 * vector's lanes) and r < s: s rows of n positions (the stride phases of a
 * transposed convolution) woven into n * s consecutive elements.  For s a
 * power of two up to 16, where the vector extension has shuffles: log2(s)
 * rounds of zips, each pairing row i with row i + s/2 (the perfect shuffle),
 * leave the s vectors in output order; element by element otherwise.  nt:
 * whole vectors stored non-temporally (cy_put). */
#if CY_HAVE_SHUFFLE
#define CY_DEFINE_INTERLEAVE_S(T, V, S, L, NS)                                  \
    static __inline void cy_interleave##NS##_##S(const T *src, long ss, long n, T *dst, int nt) { \
        V v[NS], u[NS]; long tot = n * (NS);                                    \
        _Pragma("GCC unroll 16")                                                \
        for (int i = 0; i < (NS); i++)                                          \
            v[i] = n == (L) ? cy_load_##S(src + i * ss) : cy_loadn_##S(src + i * ss, n); \
        _Pragma("GCC unroll 4")                                                 \
        for (int h = (NS); h > 1; h >>= 1) {                                    \
            _Pragma("GCC unroll 8")                                             \
            for (int i = 0; i < (NS) / 2; i++) {                                \
                u[2 * i] = cy_ziplo_##S(v[i], v[i + (NS) / 2]);                 \
                u[2 * i + 1] = cy_ziphi_##S(v[i], v[i + (NS) / 2]); }           \
            _Pragma("GCC unroll 16")                                            \
            for (int i = 0; i < (NS); i++) v[i] = u[i]; }                       \
        _Pragma("GCC unroll 16")                                                \
        for (int i = 0; i < (NS); i++) {                                        \
            if (tot >= (i + 1) * (L)) cy_put_##S(dst + i * (L), v[i], nt);      \
            else if (tot > i * (L)) cy_storen_##S(dst + i * (L), v[i], tot - i * (L)); } }
#define CY_DEFINE_INTERLEAVE(T, V, S, L)                                        \
    CY_DEFINE_INTERLEAVE_S(T, V, S, L, 2)                                       \
    CY_DEFINE_INTERLEAVE_S(T, V, S, L, 4)                                       \
    CY_DEFINE_INTERLEAVE_S(T, V, S, L, 8)                                       \
    CY_DEFINE_INTERLEAVE_S(T, V, S, L, 16)                                      \
    static __inline int cy_interleaves_##S(long s) {                            \
        return s == 2 || s == 4 || s == 8 || s == 16; }                         \
    static __inline void cy_interleave_##S(const T *src, long ss, long s, long n, T *dst, int nt) { \
        switch (s) {                                                            \
        case 2: cy_interleave2_##S(src, ss, n, dst, nt); return;                \
        case 4: cy_interleave4_##S(src, ss, n, dst, nt); return;                \
        case 8: cy_interleave8_##S(src, ss, n, dst, nt); return;                \
        case 16: cy_interleave16_##S(src, ss, n, dst, nt); return; }            \
        { long q, r; for (q = 0; q < n; q++) for (r = 0; r < s; r++)            \
              dst[q * s + r] = src[r * ss + q]; } }
#else
#define CY_DEFINE_INTERLEAVE(T, V, S, L)                                        \
    static __inline int cy_interleaves_##S(long s) { (void)s; return 0; }       \
    static __inline void cy_interleave_##S(const T *src, long ss, long s, long n, T *dst, int nt) { \
        long q, r; (void)nt; for (q = 0; q < n; q++) for (r = 0; r < s; r++)    \
            dst[q * s + r] = src[r * ss + q]; }
#endif
CY_DEFINE_INTERLEAVE(float, cy_vf32, f32, CY_VL_F32)
CY_DEFINE_INTERLEAVE(double, cy_vf64, f64, CY_VL_F64)

/* The phase-lane tiles' operations (AVX-512 only: the second broadcast of a
 * rotated pattern is merged under a mask register at no measured cost; the
 * other builds have CY_HAVE_PL 0 and run the stride phases on the channel
 * tiles).
 * cy_bcastr<P>(p, m): the P elements at p repeated along the vector (lane l
 * holds p[l % P]; P * element size at most 8 bytes: one broadcast element),
 * except the broadcast elements whose bit is set in m, which take the P
 * elements at p + 1 (a merge-masked broadcast load).
 * cy_phidx(s, e) / cy_permute(v, idx): the lanes l = p * P + r (P = L / s)
 * of a vector whose outputs start at phase e moved to their output order,
 * o = s * (r + (p < e)) + p - e (one vpermps / vpermpd). */
#if defined(__AVX512F__) && CY_VBYTES == 64
#include <immintrin.h>
#include <string.h>
#define CY_HAVE_PL 1
#if defined(CY_SIMD_INTRINSICS)      /* cy_vf32 is __m512 there: no casts */
#define CY_PL_V32(m) (m)
#define CY_PL_M32(v) (v)
#define CY_PL_V64(m) (m)
#define CY_PL_M64(v) (v)
#else
#define CY_PL_V32(m) ((cy_vf32)(m))
#define CY_PL_M32(v) ((__m512)(v))
#define CY_PL_V64(m) ((cy_vf64)(m))
#define CY_PL_M64(v) ((__m512d)(v))
#endif
typedef __m512i cy_vidx;
static __inline cy_vf32 cy_bcastr1_f32(const float *p, unsigned m) {
    return CY_PL_V32(_mm512_mask_mov_ps(_mm512_set1_ps(p[0]), (__mmask16)m, _mm512_set1_ps(p[1]))); }
static __inline cy_vf32 cy_bcastr2_f32(const float *p, unsigned m) {
    double d0, d1; memcpy(&d0, p, sizeof d0); memcpy(&d1, p + 1, sizeof d1);
    return CY_PL_V32(_mm512_castpd_ps(_mm512_mask_mov_pd(_mm512_set1_pd(d0), (__mmask8)m,
                                                          _mm512_set1_pd(d1)))); }
static __inline cy_vf64 cy_bcastr1_f64(const double *p, unsigned m) {
    return CY_PL_V64(_mm512_mask_mov_pd(_mm512_set1_pd(p[0]), (__mmask8)m, _mm512_set1_pd(p[1]))); }
static __inline cy_vidx cy_phidx_f32(int s, int e) {
    int idx[16], o, p, r, P = 16 / s;
    for (o = 0; o < 16; o++) { p = (o + e) % s; r = (o + e) / s - (p < e); idx[o] = p * P + r; }
    return _mm512_loadu_si512((const void *)idx); }
static __inline cy_vidx cy_phidx_f64(int s, int e) {
    long long idx[8]; int o, p, r, P = 8 / s;
    for (o = 0; o < 8; o++) { p = (o + e) % s; r = (o + e) / s - (p < e); idx[o] = p * P + r; }
    return _mm512_loadu_si512((const void *)idx); }
static __inline cy_vf32 cy_permute_f32(cy_vf32 v, cy_vidx idx) {
    return CY_PL_V32(_mm512_permutexvar_ps(idx, CY_PL_M32(v))); }
static __inline cy_vf64 cy_permute_f64(cy_vf64 v, cy_vidx idx) {
    return CY_PL_V64(_mm512_permutexvar_pd(idx, CY_PL_M64(v))); }
#else
#define CY_HAVE_PL 0
typedef int cy_vidx;
#endif

/* cy_opaque: the same pointer, with where it points hidden from the
 * compiler.  A loop that steps a pointer by one vector while loading several
 * vectors after it otherwise gets its loads carried from one iteration to the
 * next in a rotating set of registers (predictive commoning), which spills
 * the accumulators of a full tile. */
#if defined(__GNUC__) || defined(__clang__)
#define CY_OPAQUE(p) __asm__("" : "+r"(p))
#else
#define CY_OPAQUE(p) ((void)0)
#endif
static __inline const float *cy_opaque_f32(const float *p) { CY_OPAQUE(p); return p; }
static __inline const double *cy_opaque_f64(const double *p) { CY_OPAQUE(p); return p; }

#endif
