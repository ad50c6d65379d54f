// SIMD helpers shared by all DepthNet Nano CPU kernels: SELU, aligned scratch, lane shuffles.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <new>
#include <vector>

namespace dn {

constexpr float kAlpha = 1.6732632423543772f, kLambda = 1.0507009873554805f;

// exp(x) for x <= 0: one-step range reduction + degree-6 fit (max rel err ~1e-7).
static inline __m512 exp_neg(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693147180559945f), x);
  __m512 p = _mm512_set1_ps(0.001385929062962532f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.008374763652682304f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.04166772589087486f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.1666642129421234f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.4999999403953552f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// SELU(x) = lambda * (x > 0 ? x : alpha * (exp(x) - 1)).
static inline __m512 selu(__m512 x) {
  const __m512 al = _mm512_set1_ps(kAlpha * kLambda);
  __m512 e = exp_neg(_mm512_min_ps(x, _mm512_setzero_ps()));
  __m512 neg = _mm512_fmsub_ps(e, al, al);  // 0 exactly when x >= 0
  return _mm512_fmadd_ps(_mm512_max_ps(x, _mm512_setzero_ps()), _mm512_set1_ps(kLambda), neg);
}

// Mask of the first n (0..16) lanes.
static inline __mmask16 lanes(int n) {
  return n >= 16 ? (__mmask16)0xFFFF : (n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1));
}

// Index vectors that pick the even / odd lanes of a 32-float pair (a, b).
static inline __m512i even_idx() {
  return _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
}
static inline __m512i odd_idx() {
  return _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
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
