// Decoder ops: FusedUpEP (2x upsample + skip concat + EP module) and Head3x3 (depth head).
#include <string>

#include "ep.h"
#include "op_base.h"

namespace dn {

// FusedUpEP(Xlow, Skip, We1, We2, be, Wd, bd, Wo, bo), attr nbands: Resize 2x (bilinear,
// half_pixel) of Xlow, Concat with Skip, then an EP module without projection.
struct FusedUpEPKernel {
  int64_t nbands;
  explicit FusedUpEPKernel(const Ort::ConstKernelInfo& ki) : nbands(ki.GetAttribute<int64_t>("nbands")) {}
  void Compute(OrtKernelContext* context) {
    Ort::KernelContext ctx(context);
    auto X = ctx.GetInput(0), S = ctx.GetInput(1);
    auto xs = nchw_shape(X, "input Xlow"), ss = nchw_shape(S, "input Skip");
    EPParams q{};
    q.up = true;
    q.Cin = (int)xs[1]; q.Hl = (int)xs[2]; q.Wl = (int)xs[3];
    q.Cs = (int)ss[1]; q.H = (int)ss[2]; q.W = (int)ss[3];
    require(q.H == 2 * q.Hl && q.W == 2 * q.Wl, "Skip must be exactly 2x the height and width of Xlow");
    q.M = (int)input_count(ctx, 4);
    q.Cout = (int)input_count(ctx, 8);
    require(input_count(ctx, 2) == (size_t)q.M * q.Cin && input_count(ctx, 3) == (size_t)q.M * q.Cs,
            "We1/We2 must hold M x C(Xlow) / M x C(Skip) weights");
    require(input_count(ctx, 5) == (size_t)q.M * 9 && input_count(ctx, 6) == (size_t)q.M, "Wd/bd must be [M][9] / [M]");
    require(input_count(ctx, 7) == (size_t)q.Cout * q.M, "Wo must hold Cout x M weights");
    q.X = X.GetTensorData<float>(); q.S = S.GetTensorData<float>();
    q.We = ctx.GetInput(2).GetTensorData<float>(); q.We2 = ctx.GetInput(3).GetTensorData<float>();
    q.be = ctx.GetInput(4).GetTensorData<float>();
    q.Wd = ctx.GetInput(5).GetTensorData<float>(); q.bd = ctx.GetInput(6).GetTensorData<float>();
    q.Wo = ctx.GetInput(7).GetTensorData<float>(); q.bo = ctx.GetInput(8).GetTensorData<float>();
    std::vector<int64_t> oshp{1, q.Cout, ss[2], ss[3]};
    q.Y = ctx.GetOutput(0, oshp).GetTensorMutableData<float>();
    q.x_cs = (size_t)q.Hl * q.Wl; q.y_cs = (size_t)q.H * q.W;
    q.nbands = clamp_bands(nbands, q.H);
    parallel_for(context, band_fn, q.nbands, &q);
  }
};
struct FusedUpEPOp : DnOp<FusedUpEPOp, FusedUpEPKernel, 9, 1> {
  static constexpr const char* kName = "FusedUpEP";
};

// Conv 3x3, pad 1, C -> 1 channel (the depth head): output row y, 2 vectors per step.
struct HeadCtx { const float *x, *w; float b; float* y; int C, H, W; };
static void head_fn(void* ud, size_t yi) {
  auto& h = *static_cast<HeadCtx*>(ud);
  const int y = (int)yi, W = h.W, H = h.H;
  const size_t cs = (size_t)H * W;
  for (int x0 = 0; x0 < W; x0 += 2 * VL) {
    V acc[2] = {vset1(h.b), vset1(h.b)};
    for (int c = 0; c < h.C; ++c)
      for (int dy = -1; dy <= 1; ++dy) {
        const int yy = y + dy;
        if (yy < 0 || yy >= H) continue;
        const float* row = h.x + c * cs + (size_t)yy * W;
        const float* w = h.w + c * 9 + (dy + 1) * 3;
        for (int dx = -1; dx <= 1; ++dx) {
          const V wv = vset1(w[dx + 1]);
          for (int v = 0; v < 2; ++v) {
            const int xs = x0 + VL * v + dx;  // lanes with 0 <= xs + i < W are valid
            const int lo = std::max(0, -xs), hi = std::min(VL, W - xs);
            if (hi <= lo) continue;
            const V in = (lo == 0 && hi == VL) ? vloadu(row + xs) : vload_mask(mask_range(lo, hi), row + xs);
            acc[v] = vfmadd(wv, in, acc[v]);
          }
        }
      }
    float* o = h.y + (size_t)y * W + x0;
    const int n = std::min(2 * VL, W - x0);
    if (n == 2 * VL) {
      vstoreu(o, acc[0]);
      vstoreu(o + VL, acc[1]);
    } else {
      vstore_mask(o, lanes(n), acc[0]);
      if (n > VL) vstore_mask(o + VL, lanes(n - VL), acc[1]);
    }
  }
}

// ParallelFor body: output row y of the 2x upsampled head output.
struct HeadUpCtx { const float* x; float* y; int Hl, Wl; };
static void headup_fn(void* ud, size_t y) {
  auto& c = *static_cast<HeadUpCtx*>(ud);
  upsample_rows(c.x, 1, c.Hl, c.Wl, (int)y, c.y + y * 2 * c.Wl, 0, scratch());
}

// Head3x3(X, W[C*9], b[1]), attr up (0/1): conv 3x3 -> 1 channel [-> 2x bilinear upsample].
struct HeadKernel {
  int64_t up;
  explicit HeadKernel(const Ort::ConstKernelInfo& ki) : up(ki.GetAttribute<int64_t>("up")) {}
  void Compute(OrtKernelContext* context) {
    Ort::KernelContext ctx(context);
    auto X = ctx.GetInput(0);
    auto xs = nchw_shape(X, "input X");
    require(input_count(ctx, 1) == (size_t)xs[1] * 9,
            "W must hold C x 3 x 3 weights");
    require(input_count(ctx, 2) == 1, "b must hold one bias");
    HeadCtx h{X.GetTensorData<float>(), ctx.GetInput(1).GetTensorData<float>(),
              ctx.GetInput(2).GetTensorData<float>()[0], nullptr, (int)xs[1], (int)xs[2], (int)xs[3]};
    std::vector<int64_t> oshp{1, 1, up ? 2 * xs[2] : xs[2], up ? 2 * xs[3] : xs[3]};
    float* out = ctx.GetOutput(0, oshp).GetTensorMutableData<float>();
    AVec tmp;
    if (up) { tmp.resize((size_t)h.H * h.W); h.y = tmp.data(); }
    else h.y = out;
    parallel_for(context, head_fn, h.H, &h);
    if (up) {
      HeadUpCtx u{tmp.data(), out, h.H, h.W};
      parallel_for(context, headup_fn, 2 * (size_t)h.H, &u);
    }
  }
};
struct HeadOp : DnOp<HeadOp, HeadKernel, 3, 1> {
  static constexpr const char* kName = "Head3x3";
};

const OrtCustomOp* fused_up_ep_op() { static FusedUpEPOp op; return &op; }
const OrtCustomOp* head_op() { static HeadOp op; return &op; }

}  // namespace dn
