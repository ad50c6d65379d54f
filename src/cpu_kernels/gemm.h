// Pointwise (1x1 conv) GEMM micro-kernels over channel-major rows, optional fused SELU.
#pragma once
#include "simd.h"

namespace dn {

// out[co][p] = act(bias[co] + sum_k w[k][co] * in[k][p]) for NB channels and NV*16 pixels
// (the last vector masked by `mask`); bias == nullptr accumulates onto out.
template <int NB, int NV, bool ACT, bool PF = false>
static inline void mk(const float* in, size_t in_cs, int K, const float* w, const float* bias,
                      float* out, size_t out_cs, __mmask16 mask) {
  __m512 acc[NB][NV];
  if (bias) {
    _Pragma("GCC unroll 16") for (int j = 0; j < NB; ++j) {
      __m512 b = _mm512_set1_ps(bias[j]);
      _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v) acc[j][v] = b;
    }
  } else {
    _Pragma("GCC unroll 16") for (int j = 0; j < NB; ++j)
      _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v)
        acc[j][v] = _mm512_maskz_loadu_ps(v == NV - 1 ? mask : (__mmask16)0xFFFF, out + j * out_cs + 16 * v);
  }
  for (int k = 0; k < K; ++k) {
    const float* ip = in + k * in_cs;
    if (PF) {
      _mm_prefetch((const char*)(ip + 64), _MM_HINT_T0);
      _mm_prefetch((const char*)(ip + 80), _MM_HINT_T0);
    }
    __m512 x[NV];
    _Pragma("GCC unroll 16") for (int v = 0; v < NV - 1; ++v) x[v] = _mm512_loadu_ps(ip + 16 * v);
    x[NV - 1] = _mm512_maskz_loadu_ps(mask, ip + 16 * (NV - 1));
    const float* wk = w + k * NB;
    _Pragma("GCC unroll 16") for (int j = 0; j < NB; ++j) {
      __m512 wj = _mm512_set1_ps(wk[j]);
      _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_fmadd_ps(wj, x[v], acc[j][v]);
    }
  }
  _Pragma("GCC unroll 16") for (int j = 0; j < NB; ++j) {
    float* op = out + j * out_cs;
    _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v) {
      __m512 r = ACT ? selu(acc[j][v]) : acc[j][v];
      if (v == NV - 1) _mm512_mask_storeu_ps(op + 16 * v, mask, r);
      else _mm512_storeu_ps(op + 16 * v, r);
    }
  }
}

// mk() for a runtime block width nb (1..8).
template <int NV, bool ACT, bool PF = false>
static void mk_nb(int nb, const float* in, size_t in_cs, int K, const float* w, const float* bias,
                  float* out, size_t out_cs, __mmask16 mask) {
  switch (nb) {
#define DN_MK(N) case N: mk<N, NV, ACT, PF>(in, in_cs, K, w, bias, out, out_cs, mask); break;
    DN_MK(1) DN_MK(2) DN_MK(3) DN_MK(4) DN_MK(5) DN_MK(6) DN_MK(7) DN_MK(8)
#undef DN_MK
  }
}

// Full 1x1 conv over npix contiguous pixels per channel into Nout channels; weights packed in
// blocks of 8 output channels, each [K][nb] (see graph_fused.pack_1x1).
template <bool ACT, bool PF = false>
static void gemm(const float* in, size_t in_cs, int K, int npix, const float* wp, const float* bias,
                 int Nout, float* out, size_t out_cs) {
  int p = 0;
  for (; p + 32 <= npix; p += 32)
    for (int c0 = 0; c0 < Nout; c0 += 8) {
      const int nb = std::min(8, Nout - c0);
      const float* b = bias ? bias + c0 : nullptr;
      if (PF && c0 == 0)
        mk_nb<2, ACT, true>(nb, in + p, in_cs, K, wp + (size_t)c0 * K, b, out + c0 * out_cs + p, out_cs, 0xFFFF);
      else
        mk_nb<2, ACT>(nb, in + p, in_cs, K, wp + (size_t)c0 * K, b, out + c0 * out_cs + p, out_cs, 0xFFFF);
    }
  const int rem = npix - p;
  if (rem > 16) {
    for (int c0 = 0; c0 < Nout; c0 += 8)
      mk_nb<2, ACT>(std::min(8, Nout - c0), in + p, in_cs, K, wp + (size_t)c0 * K, bias ? bias + c0 : nullptr,
                    out + c0 * out_cs + p, out_cs, lanes(rem - 16));
  } else if (rem > 0) {
    for (int c0 = 0; c0 < Nout; c0 += 8)
      mk_nb<1, ACT>(std::min(8, Nout - c0), in + p, in_cs, K, wp + (size_t)c0 * K, bias ? bias + c0 : nullptr,
                    out + c0 * out_cs + p, out_cs, lanes(rem));
  }
}

}  // namespace dn
