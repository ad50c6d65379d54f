// Encoder ops: Stem (conv 7x7/2 -> SELU -> avgpool 2x2) and Trans (1x1 -> SELU [-> avgpool]).
#include <cstring>
#include <string>

#include "gemm.h"
#include "op_base.h"

namespace dn {

static constexpr int kStemCo = 14, kStemCB = 7;  // output channels, channels per block
static constexpr int kStemNV = VL == 16 ? 4 : 2;  // vectors per block: 7 x NV accumulators
static constexpr int kStemPx = kStemNV * VL;      // output pixels per block

// Stem geometry: input HxW, output HoxWo (ceil halves), de = even/odd deinterleaved input rows
// of length L (8 zeros, the columns, zeros).
struct StemCtx {
  const float *x, *w, *b;
  float *s, *p, *de;
  int Ci, H, W, Ho, Wo, L;
};

// ParallelFor body: deinterleave input row i of all channels into even/odd column planes.
static void stem_de_fn(void* ud, size_t i) {
  auto& c = *static_cast<StemCtx*>(ud);
  for (int ci = 0; ci < c.Ci; ++ci) {
    const float* in = c.x + ((size_t)ci * c.H + i) * c.W;
    float* e = c.de + (((size_t)ci * c.H + i) * 2) * c.L;
    float* o = e + c.L;
    std::memset(e, 0, 8 * sizeof(float));
    std::memset(o, 0, 8 * sizeof(float));
    std::memset(e + 8 + c.Wo, 0, (c.L - 8 - c.Wo) * sizeof(float));
    std::memset(o + 8 + c.Wo, 0, (c.L - 8 - c.Wo) * sizeof(float));
    int j = 0;
    for (; j + 2 * VL <= c.W; j += 2 * VL) {
      const V a = vloadu(in + j), b = vloadu(in + j + VL);
      vstoreu(e + 8 + j / 2, even_of(a, b));
      vstoreu(o + 8 + j / 2, odd_of(a, b));
    }
    for (int k = j / 2; k < c.Wo; ++k) {  // tail; an odd width's last odd column is padding
      e[8 + k] = in[2 * k];
      o[8 + k] = 2 * k + 1 < c.W ? in[2 * k + 1] : 0.f;
    }
  }
}

// Conv 7x7/2 + SELU for kStemCB channels from co0, output row y, kStemPx px from x0, into out.
static inline void stem_block(const StemCtx& c, int y, int x0, int co0, float* out) {
  constexpr int NV = kStemNV;
  V acc[kStemCB][NV];
  _Pragma("GCC unroll 8") for (int j = 0; j < kStemCB; ++j) {
    V b = vset1(c.b[co0 + j]);
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[j][v] = b;
  }
  // kx -> (plane, offset): 0:(odd,-2) 1:(even,-1) 2:(odd,-1) 3:(even,0) 4:(odd,0) 5:(even,1) 6:(odd,1)
  static const int pl[7] = {1, 0, 1, 0, 1, 0, 1}, of[7] = {-2, -1, -1, 0, 0, 1, 1};
  for (int ci = 0; ci < c.Ci; ++ci)
    for (int ky = 0; ky < 7; ++ky) {
      const int iy = 2 * y + ky - 3;
      if (iy < 0 || iy >= c.H) continue;
      const float* base = c.de + (((size_t)ci * c.H + iy) * 2) * c.L + 8 + x0;
      const float* wb = c.w + ((size_t)co0 * c.Ci + ci) * 49 + ky * 7;
      _Pragma("GCC unroll 7") for (int kx = 0; kx < 7; ++kx) {
        const float* ip = base + pl[kx] * c.L + of[kx];
        V xin[NV];
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) xin[v] = vloadu(ip + VL * v);
        _Pragma("GCC unroll 8") for (int j = 0; j < kStemCB; ++j) {
          V wv = vset1(wb[(size_t)j * c.Ci * 49 + kx]);
          _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[j][v] = vfmadd(wv, xin[v], acc[j][v]);
        }
      }
    }
  _Pragma("GCC unroll 8") for (int j = 0; j < kStemCB; ++j)
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) vstoreu(out + j * kStemPx + VL * v, selu(acc[j][v]));
}

// 2x2 average pool of the n columns of rows r0, r1 into n / 2 outputs.
static void pool_pair(const float* r0, const float* r1, int n, float* op) {
  const V q = vset1(0.25f);
  int v = 0;
  for (; v + 2 * VL <= n; v += 2 * VL) {
    const V a0 = vloadu(r0 + v), a1 = vloadu(r0 + v + VL), b0 = vloadu(r1 + v), b1 = vloadu(r1 + v + VL);
    const V s = vadd(vadd(even_of(a0, a1), odd_of(a0, a1)), vadd(even_of(b0, b1), odd_of(b0, b1)));
    vstoreu(op + v / 2, vmul(s, q));
  }
  for (; v + 1 < n; v += 2) op[v / 2] = (r0[v] + r0[v + 1] + r1[v] + r1[v + 1]) * 0.25f;
}

// ParallelFor body: output rows 2p, 2p+1 (those below Ho) and pooled row p (if below Ho / 2).
static void stem_row_fn(void* ud, size_t pi) {
  auto& c = *static_cast<StemCtx*>(ud);
  const int p = (int)pi, Wo = c.Wo, Ho = c.Ho;
  const size_t so = (size_t)Ho * Wo, po = (size_t)(Ho / 2) * (Wo / 2);
  alignas(64) float blk[kStemCB * kStemPx];
  for (int x0 = 0; x0 < Wo; x0 += kStemPx)
    for (int co0 = 0; co0 < kStemCo; co0 += kStemCB) {
      const int n = std::min(kStemPx, Wo - x0);
      for (int r = 0; r < 2 && 2 * p + r < Ho; ++r) {
        stem_block(c, 2 * p + r, x0, co0, blk);
        for (int j = 0; j < kStemCB; ++j)
          std::memcpy(c.s + (co0 + j) * so + (size_t)(2 * p + r) * Wo + x0, blk + j * kStemPx, n * sizeof(float));
      }
      if (p >= Ho / 2) continue;
      for (int j = 0; j < kStemCB; ++j) {
        const float* r0 = c.s + (co0 + j) * so + (size_t)(2 * p) * Wo + x0;
        pool_pair(r0, r0 + Wo, n, c.p + (co0 + j) * po + (size_t)p * (Wo / 2) + x0 / 2);
      }
    }
}

// Stem(X, W[14, Ci, 7, 7], b[14]) -> (SELU(conv 7x7/2 pad 3), its 2x2 average pool).
struct StemKernel {
  explicit StemKernel(const Ort::ConstKernelInfo&) {}
  void Compute(OrtKernelContext* context) {
    Ort::KernelContext ctx(context);
    auto X = ctx.GetInput(0);
    auto xs = nchw_shape(X, "input X");
    StemCtx c{};
    c.x = X.GetTensorData<float>();
    c.w = ctx.GetInput(1).GetTensorData<float>();
    c.b = ctx.GetInput(2).GetTensorData<float>();
    c.Ci = (int)xs[1]; c.H = (int)xs[2]; c.W = (int)xs[3]; c.Ho = (c.H + 1) / 2; c.Wo = (c.W + 1) / 2;
    require(c.H >= 2 && c.W >= 2, "input must be at least 2x2");
    require(input_count(ctx, 1) == (size_t)kStemCo * c.Ci * 49 &&
                input_count(ctx, 2) == (size_t)kStemCo,
            "W/b must be [14, C, 7, 7] / [14]");
    c.L = (c.Wo + 63) / 64 * 64 + 32;  // blocks read up to 8 + 64k + 1 floats in
    AVec de((size_t)c.Ci * c.H * 2 * c.L);
    c.de = de.data();
    std::vector<int64_t> s1{1, kStemCo, c.Ho, c.Wo}, s2{1, kStemCo, c.Ho / 2, c.Wo / 2};
    c.s = ctx.GetOutput(0, s1).GetTensorMutableData<float>();
    c.p = ctx.GetOutput(1, s2).GetTensorMutableData<float>();
    parallel_for(context, stem_de_fn, c.H, &c);
    parallel_for(context, stem_row_fn, (c.Ho + 1) / 2, &c);
  }
};
struct StemOp : DnOp<StemOp, StemKernel, 3, 2> {
  static constexpr const char* kName = "Stem";
};

// Trans geometry; rows = output rows per task when not pooling.
struct TransCtx { const float *x, *w, *b; float* y; int Cin, Cout, H, W, pool, rows; };

// ParallelFor body: a block of rows (no pool) or pooled row i (pool).
static void trans_fn(void* ud, size_t i) {
  auto& c = *static_cast<TransCtx*>(ud);
  const size_t hw = (size_t)c.H * c.W;
  if (!c.pool) {
    const int y0 = (int)i * c.rows, y1 = std::min(c.H, y0 + c.rows);
    if (y1 > y0)
      gemm<true, true>(c.x + (size_t)y0 * c.W, hw, c.Cin, (y1 - y0) * c.W, c.w, c.b, c.Cout, c.y + (size_t)y0 * c.W, hw);
    return;
  }
  const int W = c.W, p = (int)i;
  Scratch& s = scratch();
  if (s.D.size() < (size_t)c.Cout * 2 * W) s.D.resize((size_t)c.Cout * 2 * W);
  gemm<true, true>(c.x + (size_t)(2 * p) * W, hw, c.Cin, 2 * W, c.w, c.b, c.Cout, s.D.data(), 2 * W);
  const size_t po = (size_t)(c.H / 2) * (W / 2);
  for (int co = 0; co < c.Cout; ++co) {
    const float* r0 = s.D.data() + (size_t)co * 2 * W;
    pool_pair(r0, r0 + W, W, c.y + co * po + (size_t)p * (W / 2));
  }
}

// Trans(X, Wpacked, b), attr pool (0/1): 1x1 conv -> SELU [-> avgpool 2x2].
struct TransKernel {
  int64_t pool;
  explicit TransKernel(const Ort::ConstKernelInfo& ki) : pool(ki.GetAttribute<int64_t>("pool")) {}
  void Compute(OrtKernelContext* context) {
    Ort::KernelContext ctx(context);
    auto X = ctx.GetInput(0);
    auto xs = nchw_shape(X, "input X");
    auto B = ctx.GetInput(2);
    TransCtx c{X.GetTensorData<float>(), ctx.GetInput(1).GetTensorData<float>(), B.GetTensorData<float>(), nullptr,
               (int)xs[1], (int)B.GetTensorTypeAndShapeInfo().GetElementCount(), (int)xs[2], (int)xs[3], (int)pool, 1};
    require(input_count(ctx, 1) == (size_t)c.Cout * c.Cin,
            "W must hold Cout x Cin weights");
    require(!pool || (c.H % 2 == 0 && c.W % 2 == 0), "pool=1 needs an even height and width");
    std::vector<int64_t> os{1, c.Cout, pool ? xs[2] / 2 : xs[2], pool ? xs[3] / 2 : xs[3]};
    c.y = ctx.GetOutput(0, os).GetTensorMutableData<float>();
    size_t ntask;
    if (pool) {
      ntask = c.H / 2;
    } else {
      c.rows = std::max(1, (c.H + 7) / 8);
      ntask = (c.H + c.rows - 1) / c.rows;
    }
    parallel_for(context, trans_fn, ntask, &c);
  }
};
struct TransOp : DnOp<TransOp, TransKernel, 3, 1> {
  static constexpr const char* kName = "Trans";
};

const OrtCustomOp* stem_op() { static StemOp op; return &op; }
const OrtCustomOp* trans_op() { static TransOp op; return &op; }

}  // namespace dn
