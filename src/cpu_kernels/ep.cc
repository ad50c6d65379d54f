// EP module core: depthwise 3x3 tiles, on-the-fly 2x upsampling, row bands.
#include "ep.h"

#include <cstring>

#include "gemm.h"

namespace dn {

static constexpr int kMargin = 16;  // zero floats left of each expanded row
// Widest depthwise/project tile: 4 vectors of accumulators (AVX2 has 16 registers, not 32).
static constexpr int kTile = 4 * VL;

Scratch& scratch() {
  static thread_local Scratch s;
  return s;
}

// Depthwise 3x3 + SELU for NV vectors (VL*NV px) at aligned r0/r1/r2 (rows y-1, y, y+1).
template <int NV>
static inline void dw_tile(const float* r0, const float* r1, const float* r2, const float* wd, float bias,
                           float* dp) {
  V acc[NV];
  const V b = vset1(bias);
  _Pragma("GCC unroll 8") for (int i = 0; i < NV; ++i) acc[i] = b;
  const float* rr[3] = {r0, r1, r2};
  _Pragma("GCC unroll 3") for (int dy = 0; dy < 3; ++dy) {
    const V wl = vset1(wd[dy * 3]), wc = vset1(wd[dy * 3 + 1]), wr = vset1(wd[dy * 3 + 2]);
    V row[NV + 2];
    _Pragma("GCC unroll 10") for (int i = 0; i < NV + 2; ++i) row[i] = vload(rr[dy] + VL * (i - 1));
    _Pragma("GCC unroll 8") for (int i = 0; i < NV; ++i) {
      acc[i] = vfmadd(wl, shift_in_left(row[i], row[i + 1]), acc[i]);
      acc[i] = vfmadd(wc, row[i + 1], acc[i]);
      acc[i] = vfmadd(wr, shift_in_right(row[i + 1], row[i + 2]), acc[i]);
    }
  }
  _Pragma("GCC unroll 8") for (int i = 0; i < NV; ++i) vstore(dp + VL * i, selu(acc[i]));
}

void upsample_rows(const float* X, int C, int Hl, int Wl, int y, float* out, size_t out_cs, Scratch& s) {
  const int k = y >> 1, yb = (y & 1) ? std::min(k + 1, Hl - 1) : std::max(k - 1, 0);
  const size_t lcs = (size_t)Hl * Wl;
  const size_t tl = (size_t)((Wl + 2 + 15) / 16) * 16 + 16;
  if (s.T.size() < tl) s.T.resize(tl);
  float* t = s.T.data() + 1;  // t[-1], t[Wl] hold edge copies
  const V c75 = vset1(0.75f), c25 = vset1(0.25f);
  const int full = Wl / VL * VL;  // whole vectors; the rest is masked
  for (int c = 0; c < C; ++c) {
    const float* a = X + c * lcs + (size_t)k * Wl;
    const float* b = X + c * lcs + (size_t)yb * Wl;
    int j = 0;
    for (; j < full; j += VL) vstoreu(t + j, vfmadd(c75, vloadu(a + j), vmul(c25, vloadu(b + j))));
    if (j < Wl) {  // vertical blend tail
      const Mask m = lanes(Wl - j);
      vstore_mask(t + j, m, vfmadd(c75, vload_mask(m, a + j), vmul(c25, vload_mask(m, b + j))));
    }
    t[-1] = t[0];
    t[Wl] = t[Wl - 1];
    float* o = out + (size_t)c * out_cs;
    for (j = 0; j < Wl; j += VL) {  // horizontal blend, interleaved even/odd outputs
      const V ac = vloadu(t + j), l = vloadu(t + j - 1), r = vloadu(t + j + 1);
      const V e = vfmadd(c75, ac, vmul(c25, l)), od = vfmadd(c75, ac, vmul(c25, r));
      if (j < full) {
        vstoreu(o + 2 * j, interleave_lo(e, od));
        vstoreu(o + 2 * j + VL, interleave_hi(e, od));
      } else {
        const int n2 = 2 * (Wl - j);
        vstore_mask(o + 2 * j, lanes(n2), interleave_lo(e, od));
        if (n2 > VL) vstore_mask(o + 2 * j + VL, lanes(n2 - VL), interleave_hi(e, od));
      }
    }
  }
}

void run_band(const EPParams& q, int y0, int y1) {
  const int W = q.W, H = q.H, M = q.M;
  const int tile = (M <= 96) ? kTile : 32;
  const int rowlen = kMargin + ((W + 63) / 64) * 64 + 32;  // zero margins both sides
  Scratch& s = scratch();
  const size_t esz = (size_t)3 * M * rowlen;
  if (s.E.size() < esz) s.E.assign(esz, 0.f);
  else std::fill(s.E.begin(), s.E.begin() + esz, 0.f);
  if (q.has_proj && s.P.size() < (size_t)q.Cp * W) s.P.resize((size_t)q.Cp * W);
  if (s.D.size() < (size_t)M * kTile) s.D.resize((size_t)M * kTile);
  if (s.zero.size() < (size_t)rowlen) s.zero.assign(rowlen, 0.f);
  if (q.up && s.U.size() < (size_t)q.Cin * W) s.U.resize((size_t)q.Cin * W);
  // expanded row y lives in ring slot y % 3; channel m at + m * rowlen + kMargin
  auto erow = [&](int y) -> float* { return s.E.data() + (size_t)(y % 3) * M * rowlen + kMargin; };
  auto compute_e = [&](int y) {
    const float* xin = q.X + (size_t)y * W;
    float* e = erow(y);
    if (q.up) {
      upsample_rows(q.X, q.Cin, q.Hl, q.Wl, y, s.U.data(), W, s);
      gemm<false>(s.U.data(), W, q.Cin, W, q.We, q.be, M, e, rowlen);
      gemm<true, true>(q.S + (size_t)y * W, (size_t)H * W, q.Cs, W, q.We2, nullptr, M, e, rowlen);
    } else if (q.has_proj) {
      gemm<false, true>(xin, q.x_cs, q.Cin, W, q.Wp, q.bp, q.Cp, s.P.data(), W);
      gemm<true>(s.P.data(), W, q.Cp, W, q.We, q.be, M, e, rowlen);
    } else {
      gemm<true, true>(xin, q.x_cs, q.Cin, W, q.We, q.be, M, e, rowlen);
    }
  };
  if (y0 > 0) compute_e(y0 - 1);
  compute_e(y0);
  const float* zr = s.zero.data() + kMargin;
  for (int y = y0; y < y1; ++y) {
    if (y + 1 < H) compute_e(y + 1);
    for (int x0 = 0; x0 < W; x0 += tile) {
      const int n = std::min(tile, W - x0);
      for (int m = 0; m < M; ++m) {
        const float* r0 = (y > 0 ? erow(y - 1) + (size_t)m * rowlen : zr) + x0;
        const float* r1 = erow(y) + (size_t)m * rowlen + x0;
        const float* r2 = (y + 1 < H ? erow(y + 1) + (size_t)m * rowlen : zr) + x0;
        if (m + 1 < M) {  // prefetch the next channel's three rows
          const size_t nx = (size_t)rowlen;
          for (int l = -1; l <= tile / 16; ++l) {
            _mm_prefetch((const char*)(r0 + (y > 0 ? nx : 0) + 16 * l), _MM_HINT_T0);
            _mm_prefetch((const char*)(r1 + nx + 16 * l), _MM_HINT_T0);
            _mm_prefetch((const char*)(r2 + (y + 1 < H ? nx : 0) + 16 * l), _MM_HINT_T0);
          }
        }
        if (tile == kTile) dw_tile<kTile / VL>(r0, r1, r2, q.Wd + m * 9, q.bd[m], s.D.data() + m * tile);
        else dw_tile<32 / VL>(r0, r1, r2, q.Wd + m * 9, q.bd[m], s.D.data() + m * tile);
      }
      gemm<true>(s.D.data(), tile, M, n, q.Wo, q.bo, q.Cout, q.Y + (size_t)y * W + x0, q.y_cs);
    }
  }
}

void band_fn(void* ud, size_t i) {
  const EPParams& q = *static_cast<const EPParams*>(ud);
  const int y0 = (int)((size_t)q.H * i / q.nbands), y1 = (int)((size_t)q.H * (i + 1) / q.nbands);
  if (y1 > y0) run_band(q, y0, y1);
}

}  // namespace dn
