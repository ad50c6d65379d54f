// SIMD layer shared by all DepthNet Nano CPU kernels: one float vector type per ISA, SELU,
// lane masks and shuffles, aligned scratch. The kernels are written once against it and
// compiled twice (CMakeLists.txt): -DDN_ISA_AVX512 (16 lanes) and -DDN_ISA_AVX2 (8 lanes, FMA).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <new>
#include <vector>

#if defined(DN_ISA_AVX512) == defined(DN_ISA_AVX2)
#error "define exactly one of DN_ISA_AVX512, DN_ISA_AVX2"
#endif

namespace dn {

constexpr float kAlpha = 1.6732632423543772f, kLambda = 1.0507009873554805f;

#if defined(DN_ISA_AVX512)
constexpr int VL = 16;  // floats per vector
constexpr int kGemmNB = 8;  // output channels per GEMM micro-kernel (2 x 8 accumulators of 32)
constexpr const char* kIsaName = "avx512";
using V = __m512;
using Mask = __mmask16;
static inline V vset1(float a) { return _mm512_set1_ps(a); }
static inline V vzero() { return _mm512_setzero_ps(); }
static inline V vload(const float* p) { return _mm512_load_ps(p); }  // 64-byte aligned
static inline V vloadu(const float* p) { return _mm512_loadu_ps(p); }
static inline void vstore(float* p, V a) { _mm512_store_ps(p, a); }
static inline void vstoreu(float* p, V a) { _mm512_storeu_ps(p, a); }
static inline V vadd(V a, V b) { return _mm512_add_ps(a, b); }
static inline V vmul(V a, V b) { return _mm512_mul_ps(a, b); }
static inline V vmax(V a, V b) { return _mm512_max_ps(a, b); }
static inline V vmin(V a, V b) { return _mm512_min_ps(a, b); }
static inline V vfmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }   // a*b+c
static inline V vfnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); } // c-a*b
static inline V vfmsub(V a, V b, V c) { return _mm512_fmsub_ps(a, b, c); }   // a*b-c
static inline V vround(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline V vscale2(V p, V n) { return _mm512_scalef_ps(p, n); }  // p * 2^n, n integral
// Lanes [lo, hi) of a vector (0 <= lo, hi <= VL).
static inline Mask mask_range(int lo, int hi) {
  const unsigned a = lo <= 0 ? 0u : (lo >= 16 ? 0xFFFFu : (1u << lo) - 1);
  const unsigned b = hi <= 0 ? 0u : (hi >= 16 ? 0xFFFFu : (1u << hi) - 1);
  return (Mask)(b & ~a);
}
static inline V vload_mask(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
static inline void vstore_mask(float* p, Mask m, V a) { _mm512_mask_storeu_ps(p, m, a); }
// [prev[VL-1], cur[0..VL-2]] and [cur[1..VL-1], next[0]]: the neighbours of cur's lanes.
static inline V shift_in_left(V prev, V cur) {
  return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(cur), _mm512_castps_si512(prev), 15));
}
static inline V shift_in_right(V cur, V next) {
  return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(cur), 1));
}
// Even / odd lanes of the 2*VL floats (a, b), in order.
static inline V even_of(V a, V b) {
  return _mm512_permutex2var_ps(a, _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0), b);
}
static inline V odd_of(V a, V b) {
  return _mm512_permutex2var_ps(a, _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1), b);
}
// The first / second VL floats of (e0, o0, e1, o1, ...).
static inline V interleave_lo(V e, V o) {
  return _mm512_permutex2var_ps(e, _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0), o);
}
static inline V interleave_hi(V e, V o) {
  return _mm512_permutex2var_ps(e, _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8), o);
}
#else
constexpr int VL = 8;
constexpr int kGemmNB = 4;  // 16 registers: 2 x 4 accumulators, 2 inputs, 1 weight
constexpr const char* kIsaName = "avx2";
using V = __m256;
using Mask = __m256i;
static inline V vset1(float a) { return _mm256_set1_ps(a); }
static inline V vzero() { return _mm256_setzero_ps(); }
static inline V vload(const float* p) { return _mm256_load_ps(p); }  // 32-byte aligned
static inline V vloadu(const float* p) { return _mm256_loadu_ps(p); }
static inline void vstore(float* p, V a) { _mm256_store_ps(p, a); }
static inline void vstoreu(float* p, V a) { _mm256_storeu_ps(p, a); }
static inline V vadd(V a, V b) { return _mm256_add_ps(a, b); }
static inline V vmul(V a, V b) { return _mm256_mul_ps(a, b); }
static inline V vmax(V a, V b) { return _mm256_max_ps(a, b); }
static inline V vmin(V a, V b) { return _mm256_min_ps(a, b); }
static inline V vfmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
static inline V vfnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
static inline V vfmsub(V a, V b, V c) { return _mm256_fmsub_ps(a, b, c); }
static inline V vround(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline V vscale2(V p, V n) {  // exponent-field add; n >= -126 here (exp_neg clamps)
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
static inline Mask mask_range(int lo, int hi) {
  const __m256i i = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(lo), i),
                             _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), i));
}
static inline V vload_mask(Mask m, const float* p) { return _mm256_maskload_ps(p, m); }
static inline void vstore_mask(float* p, Mask m, V a) { _mm256_maskstore_ps(p, m, a); }
static inline V shift_in_left(V prev, V cur) {  // t = [prev.hi, cur.lo]
  const __m256i t = _mm256_castps_si256(_mm256_permute2f128_ps(prev, cur, 0x21));
  return _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(cur), t, 12));
}
static inline V shift_in_right(V cur, V next) {  // t = [cur.hi, next.lo]
  const __m256i t = _mm256_castps_si256(_mm256_permute2f128_ps(cur, next, 0x21));
  return _mm256_castsi256_ps(_mm256_alignr_epi8(t, _mm256_castps_si256(cur), 4));
}
static inline V even_of(V a, V b) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
}
static inline V odd_of(V a, V b) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}
static inline V interleave_lo(V e, V o) {
  return _mm256_permute2f128_ps(_mm256_unpacklo_ps(e, o), _mm256_unpackhi_ps(e, o), 0x20);
}
static inline V interleave_hi(V e, V o) {
  return _mm256_permute2f128_ps(_mm256_unpacklo_ps(e, o), _mm256_unpackhi_ps(e, o), 0x31);
}
#endif

// Mask of the first n lanes (any n: clamped to [0, VL]).
static inline Mask lanes(int n) { return mask_range(0, n); }

// exp(x) for x <= 0: one-step range reduction + degree-6 fit (max rel err ~1e-7).
static inline V exp_neg(V x) {
  x = vmax(x, vset1(-87.0f));
  V n = vround(vmul(x, vset1(1.44269504088896341f)));
  V r = vfnmadd(n, vset1(0.693147180559945f), x);
  V p = vset1(0.001385929062962532f);
  p = vfmadd(p, r, vset1(0.008374763652682304f));
  p = vfmadd(p, r, vset1(0.04166772589087486f));
  p = vfmadd(p, r, vset1(0.1666642129421234f));
  p = vfmadd(p, r, vset1(0.4999999403953552f));
  p = vfmadd(p, r, vset1(1.0f));
  p = vfmadd(p, r, vset1(1.0f));
  return vscale2(p, n);
}

// SELU(x) = lambda * (x > 0 ? x : alpha * (exp(x) - 1)).
static inline V selu(V x) {
  const V al = vset1(kAlpha * kLambda);
  V e = exp_neg(vmin(x, vzero()));
  V neg = vfmsub(e, al, al);  // 0 exactly when x >= 0
  return vfmadd(vmax(x, vzero()), vset1(kLambda), neg);
}

// 64-byte aligned allocator (aligned loads in the depthwise kernel).
template <class T>
struct AAlloc {
  using value_type = T;
  AAlloc() = default;
  template <class U>
  AAlloc(const AAlloc<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const AAlloc&) const { return true; }
  bool operator!=(const AAlloc&) const { return false; }
};
using AVec = std::vector<float, AAlloc<float>>;

// Per-thread scratch buffers (grown on demand, reused across calls).
struct Scratch {
  AVec P, E, D, zero, U, T;
};
Scratch& scratch();

}  // namespace dn
