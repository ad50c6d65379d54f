// Pointwise (1x1 conv) GEMM micro-kernels over channel-major rows, optional fused SELU.
#pragma once
#include "simd.h"

namespace dn {

// out[co][p] = act(bias[co] + sum_k w[k * ws + co] * in[k][p]) for NB channels and NV*VL pixels
// (with TAIL the last vector is masked by `mask`); bias == nullptr accumulates onto out.
template <int NB, int NV, bool ACT, bool PF, bool TAIL>
static inline void mk(const float* in, size_t in_cs, int K, const float* w, int ws, const float* bias,
                      float* out, size_t out_cs, Mask mask) {
  auto ld = [&](const float* p, int v) { return (TAIL && v == NV - 1) ? vload_mask(mask, p) : vloadu(p); };
  V acc[NB][NV];
  if (bias) {
    _Pragma("GCC unroll 16") for (int j = 0; j < NB; ++j) {
      V b = vset1(bias[j]);
      _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v) acc[j][v] = b;
    }
  } else {
    _Pragma("GCC unroll 16") for (int j = 0; j < NB; ++j)
      _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v) acc[j][v] = ld(out + j * out_cs + VL * v, v);
  }
  for (int k = 0; k < K; ++k) {
    const float* ip = in + k * in_cs;
    if (PF) {
      _mm_prefetch((const char*)(ip + 64), _MM_HINT_T0);
      _mm_prefetch((const char*)(ip + 80), _MM_HINT_T0);
    }
    V x[NV];
    _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v) x[v] = ld(ip + VL * v, v);
    const float* wk = w + k * ws;
    _Pragma("GCC unroll 16") for (int j = 0; j < NB; ++j) {
      V wj = vset1(wk[j]);
      _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v) acc[j][v] = vfmadd(wj, x[v], acc[j][v]);
    }
  }
  _Pragma("GCC unroll 16") for (int j = 0; j < NB; ++j) {
    float* op = out + j * out_cs;
    _Pragma("GCC unroll 16") for (int v = 0; v < NV; ++v) {
      V r = ACT ? selu(acc[j][v]) : acc[j][v];
      if (TAIL && v == NV - 1) vstore_mask(op + VL * v, mask, r);
      else vstoreu(op + VL * v, r);
    }
  }
}

// mk() for a runtime channel count nb (1..kGemmNB).
template <int NV, bool ACT, bool PF, bool TAIL>
static void mk_nb(int nb, const float* in, size_t in_cs, int K, const float* w, int ws, const float* bias,
                  float* out, size_t out_cs, Mask mask) {
#define DN_MK(N) case N: mk<N, NV, ACT, PF, TAIL>(in, in_cs, K, w, ws, bias, out, out_cs, mask); return;
  switch (nb) { DN_MK(1) DN_MK(2) DN_MK(3) DN_MK(4) }
  if constexpr (kGemmNB > 4) {
    switch (nb) { DN_MK(5) DN_MK(6) DN_MK(7) DN_MK(8) }
  }
#undef DN_MK
}

// All Nout channels for NV vectors of pixels: packed blocks of 8 channels, kGemmNB at a time.
template <int NV, bool ACT, bool PF, bool TAIL>
static inline void all_channels(const float* in, size_t in_cs, int K, const float* wp, const float* bias,
                                int Nout, float* out, size_t out_cs, Mask mask) {
  for (int c0 = 0; c0 < Nout; c0 += 8) {
    const int nb = std::min(8, Nout - c0);
    for (int h = 0; h < nb; h += kGemmNB) {
      const int c = c0 + h, n = std::min(kGemmNB, nb - h);
      const float* w = wp + (size_t)c0 * K + h;
      const float* b = bias ? bias + c : nullptr;
      if (PF && c == 0) mk_nb<NV, ACT, true, TAIL>(n, in, in_cs, K, w, nb, b, out + c * out_cs, out_cs, mask);
      else mk_nb<NV, ACT, false, TAIL>(n, in, in_cs, K, w, nb, b, out + c * out_cs, out_cs, mask);
    }
  }
}

// Full 1x1 conv over npix contiguous pixels per channel into Nout channels; weights packed in
// blocks of 8 output channels, each [K][nb] (see graph_fused.pack_1x1).
template <bool ACT, bool PF = false>
static void gemm(const float* in, size_t in_cs, int K, int npix, const float* wp, const float* bias,
                 int Nout, float* out, size_t out_cs) {
  const Mask full = lanes(VL);
  int p = 0;
  for (; p + 2 * VL <= npix; p += 2 * VL)
    all_channels<2, ACT, PF, false>(in + p, in_cs, K, wp, bias, Nout, out + p, out_cs, full);
  const int rem = npix - p;
  if (rem > VL)
    all_channels<2, ACT, false, true>(in + p, in_cs, K, wp, bias, Nout, out + p, out_cs, lanes(rem - VL));
  else if (rem > 0)
    all_channels<1, ACT, false, true>(in + p, in_cs, K, wp, bias, Nout, out + p, out_cs, lanes(rem));
}

}  // namespace dn
