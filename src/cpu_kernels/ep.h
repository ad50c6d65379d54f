// The fused expand -> SELU -> depthwise 3x3 -> SELU -> project -> SELU module, row-banded.
#pragma once
#include "simd.h"

namespace dn {

// One EP/PBEP module: [1x1 proj ->] 1x1 expand -> SELU -> dw3x3 -> SELU -> 1x1 project -> SELU.
struct EPParams {
  const float *X, *Wp, *bp, *We, *be, *Wd, *bd, *Wo, *bo;
  float* Y;
  int Cin, Cp, M, Cout, H, W;
  bool has_proj;
  size_t x_cs, y_cs;  // channel strides of X and Y
  // decoder: X is low-res [Cin][Hl][Wl], upsampled 2x bilinear (half_pixel) on the fly; the
  // skip S [Cs][H][W] enters the expand conv as extra input channels (weights We2)
  bool up = false;
  const float* S = nullptr;
  const float* We2 = nullptr;
  int Cs = 0, Hl = 0, Wl = 0;
  int nbands;
};

// Output rows [y0, y1) of one module (a 3-row ring of expanded rows, halo recompute at edges).
void run_band(const EPParams& q, int y0, int y1);

// ParallelFor body: band i of q.nbands (ud is an EPParams*).
void band_fn(void* ud, size_t i);

// Row y of the 2x bilinear (half_pixel, edge-clamped) upsampling of C channels [Hl][Wl].
void upsample_rows(const float* X, int C, int Hl, int Wl, int y, float* out, size_t out_cs, Scratch& s);

// Band count for an H-row output: the op's nbands attribute clamped to [1, H].
inline int clamp_bands(int64_t nbands, int H) {
  return (int)std::max<int64_t>(1, std::min<int64_t>(nbands, H));
}

}  // namespace dn
