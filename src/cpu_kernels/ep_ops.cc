// Ops FusedEP (one EP/PBEP module) and FusedStage (a dense stage without Concat copies).
#include <cstring>
#include <string>

#include "ep.h"
#include "op_base.h"

namespace dn {

// FusedEP(X, Wp, bp, We, be, Wd, bd, Wo, bo), attrs has_proj, nbands. Wp/We/Wo packed in
// blocks of 8 output channels ([K][nb] each); Wd [M][9]; without proj Wp/bp are empty.
struct FusedEPKernel {
  int64_t has_proj, nbands;
  explicit FusedEPKernel(const Ort::ConstKernelInfo& ki)
      : has_proj(ki.GetAttribute<int64_t>("has_proj")), nbands(ki.GetAttribute<int64_t>("nbands")) {}
  void Compute(OrtKernelContext* context) {
    Ort::KernelContext ctx(context);
    auto X = ctx.GetInput(0);
    auto shp = nchw_shape(X, "input X");
    EPParams q{};
    q.Cin = (int)shp[1]; q.H = (int)shp[2]; q.W = (int)shp[3];
    q.has_proj = has_proj != 0;
    q.X = X.GetTensorData<float>();
    q.Wp = ctx.GetInput(1).GetTensorData<float>();
    q.bp = ctx.GetInput(2).GetTensorData<float>();
    q.Cp = q.has_proj ? (int)input_count(ctx, 2) : 0;
    q.We = ctx.GetInput(3).GetTensorData<float>();
    q.be = ctx.GetInput(4).GetTensorData<float>();
    q.M = (int)input_count(ctx, 4);
    q.Wd = ctx.GetInput(5).GetTensorData<float>();
    q.bd = ctx.GetInput(6).GetTensorData<float>();
    q.Wo = ctx.GetInput(7).GetTensorData<float>();
    q.bo = ctx.GetInput(8).GetTensorData<float>();
    q.Cout = (int)input_count(ctx, 8);
    const size_t K = q.has_proj ? q.Cp : q.Cin;
    require(!q.has_proj || input_count(ctx, 1) == (size_t)q.Cp * q.Cin, "Wp must hold Cp x Cin weights");
    require(input_count(ctx, 3) == q.M * K, "We must hold M x K weights (K = Cp or Cin)");
    require(input_count(ctx, 5) == (size_t)q.M * 9 && input_count(ctx, 6) == (size_t)q.M, "Wd/bd must be [M][9] / [M]");
    require(input_count(ctx, 7) == (size_t)q.Cout * q.M, "Wo must hold Cout x M weights");
    std::vector<int64_t> oshp{1, q.Cout, shp[2], shp[3]};
    q.Y = ctx.GetOutput(0, oshp).GetTensorMutableData<float>();
    q.x_cs = q.y_cs = (size_t)q.H * q.W;
    q.nbands = clamp_bands(nbands, q.H);
    parallel_for(context, band_fn, q.nbands, &q);
  }
};
struct FusedEPOp : DnOp<FusedEPOp, FusedEPKernel, 9, 1> {
  static constexpr const char* kName = "FusedEP";
};

// ParallelFor body: copy chunk i of a float array.
struct CopyCtx { const float* x; float* y; size_t n, chunk; };
static void copy_fn(void* ud, size_t i) {
  auto& c = *static_cast<CopyCtx*>(ud);
  const size_t b = i * c.chunk, e = std::min(c.n, b + c.chunk);
  if (e > b) std::memcpy(c.y + b, c.x + b, (e - b) * sizeof(float));
}

// FusedStage(X, Wall), attrs dims = [Cp, M, Cout] per module, nbands: a dense stage of PBEP
// modules, each reading all channels so far and appending Cout, in one output buffer.
struct FusedStageKernel {
  std::vector<int64_t> dims;
  int64_t nbands;
  explicit FusedStageKernel(const Ort::ConstKernelInfo& ki)
      : dims(ki.GetAttributes<int64_t>("dims")), nbands(ki.GetAttribute<int64_t>("nbands")) {
    require(!dims.empty() && dims.size() % 3 == 0, "attribute dims must be [Cp, M, Cout] per module");
    for (int64_t d : dims) require(d > 0, "attribute dims must be positive");
  }
  void Compute(OrtKernelContext* context) {
    Ort::KernelContext ctx(context);
    auto X = ctx.GetInput(0);
    auto shp = nchw_shape(X, "input X");
    const int Cin0 = (int)shp[1], H = (int)shp[2], W = (int)shp[3];
    const size_t nm = dims.size() / 3;
    size_t need = 0;
    int Ctot = Cin0;
    for (size_t i = 0; i < nm; ++i) {
      const size_t cp = dims[3 * i], m = dims[3 * i + 1], co = dims[3 * i + 2];
      need += cp * Ctot + cp + m * cp + m + m * 9 + m + co * m + co;
      Ctot += (int)co;
    }
    require(input_count(ctx, 1) == need,
            "Wall size does not match attribute dims and the input channels");
    const float* w = ctx.GetInput(1).GetTensorData<float>();
    std::vector<int64_t> oshp{1, Ctot, shp[2], shp[3]};
    float* y = ctx.GetOutput(0, oshp).GetTensorMutableData<float>();
    const size_t hw = (size_t)H * W;
    CopyCtx cc{X.GetTensorData<float>(), y, (size_t)Cin0 * hw, 1 << 16};
    parallel_for(context, copy_fn, (cc.n + cc.chunk - 1) / cc.chunk, &cc);
    int cin = Cin0;
    for (size_t i = 0; i < nm; ++i) {
      EPParams q{};
      q.Cp = (int)dims[3 * i]; q.M = (int)dims[3 * i + 1]; q.Cout = (int)dims[3 * i + 2];
      q.Cin = cin; q.H = H; q.W = W; q.has_proj = true;
      q.X = y; q.Y = y + (size_t)cin * hw; q.x_cs = q.y_cs = hw;
      q.Wp = w; w += (size_t)q.Cp * cin;
      q.bp = w; w += q.Cp;
      q.We = w; w += (size_t)q.M * q.Cp;
      q.be = w; w += q.M;
      q.Wd = w; w += (size_t)q.M * 9;
      q.bd = w; w += q.M;
      q.Wo = w; w += (size_t)q.Cout * q.M;
      q.bo = w; w += q.Cout;
      q.nbands = clamp_bands(nbands, H);
      parallel_for(context, band_fn, q.nbands, &q);
      cin += q.Cout;
    }
  }
};
struct FusedStageOp : DnOp<FusedStageOp, FusedStageKernel, 2, 1> {
  static constexpr const char* kName = "FusedStage";
};

const OrtCustomOp* fused_ep_op() { static FusedEPOp op; return &op; }
const OrtCustomOp* fused_stage_op() { static FusedStageOp op; return &op; }

}  // namespace dn
