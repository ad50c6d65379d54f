// Common custom-op plumbing: float-only CPU ops whose errors come back as ORT statuses.
#pragma once
#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>

#include <exception>
#include <string>

namespace dn {

extern const OrtApi* g_api;  // set by RegisterCustomOps

// An ORT status naming the op ("dn.<op>: ..."), for errors raised while creating or running a kernel.
OrtStatusPtr op_error(const char* op, OrtErrorCode code, const std::string& what);

// Runs fn, turning any exception into an ORT status that names `op`.
template <class F>
OrtStatusPtr guarded(const char* op, F&& fn) {
  try {
    fn();
    return nullptr;
  } catch (const Ort::Exception& e) {
    return op_error(op, e.GetOrtErrorCode(), e.what());
  } catch (const std::exception& e) {
    return op_error(op, ORT_RUNTIME_EXCEPTION, e.what());
  }
}

// Throws an INVALID_ARGUMENT error when cond is false.
inline void require(bool cond, const std::string& what) {
  if (!cond) throw Ort::Exception(std::string(what), ORT_INVALID_ARGUMENT);
}

// Runs fn(ud, i) for i in [0, n) on the session's intra-op thread pool.
inline void parallel_for(OrtKernelContext* ctx, void (*fn)(void*, size_t), size_t n, void* ud) {
  if (n == 0) return;
  if (n == 1) { fn(ud, 0); return; }
  Ort::ThrowOnError(g_api->KernelContext_ParallelFor(ctx, fn, n, 0, ud));
}

// Element count of kernel input i.
inline size_t input_count(Ort::KernelContext& ctx, size_t i) {
  return ctx.GetInput(i).GetTensorTypeAndShapeInfo().GetElementCount();
}

// A kernel (with a Compute(OrtKernelContext*)) whose errors come back naming its op.
template <class TOp, class TKernel>
struct Guarded : TKernel {
  using TKernel::TKernel;
  OrtStatusPtr ComputeV2(OrtKernelContext* context) {
    return guarded(TOp::kName, [&] { this->Compute(context); });
  }
};

// Base of every op in domain "dn": CPU provider, NIN float inputs, NOUT float outputs.
template <class TOp, class TKernel, size_t NIN, size_t NOUT>
struct DnOp : Ort::CustomOpBase<TOp, Guarded<TOp, TKernel>, true> {
  OrtStatusPtr CreateKernelV2(const OrtApi&, const OrtKernelInfo* info, void** kernel) const {
    return guarded(TOp::kName, [&] {
      *kernel = new Guarded<TOp, TKernel>(Ort::ConstKernelInfo(info));
    });
  }
  const char* GetName() const { return TOp::kName; }
  const char* GetExecutionProviderType() const { return "CPUExecutionProvider"; }
  size_t GetInputTypeCount() const { return NIN; }
  ONNXTensorElementDataType GetInputType(size_t) const { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }
  size_t GetOutputTypeCount() const { return NOUT; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }
};

// Shape of a 4-D NCHW input with batch 1, checked.
std::vector<int64_t> nchw_shape(const Ort::ConstValue& v, const char* what);

// The op instances registered in domain "dn" (one per translation unit).
const OrtCustomOp* fused_ep_op();
const OrtCustomOp* fused_stage_op();
const OrtCustomOp* fused_up_ep_op();
const OrtCustomOp* head_op();
const OrtCustomOp* stem_op();
const OrtCustomOp* trans_op();

}  // namespace dn
