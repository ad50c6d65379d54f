// Library entry point: registers the DepthNet Nano fused CPU ops in custom domain "dn".
#include <string>

#include "op_base.h"

namespace dn {

const OrtApi* g_api = nullptr;

OrtStatusPtr op_error(const char* op, OrtErrorCode code, const std::string& what) {
  return g_api->CreateStatus(code, ("dn." + std::string(op) + ": " + what).c_str());
}

std::vector<int64_t> nchw_shape(const Ort::ConstValue& v, const char* what) {
  auto shp = v.GetTensorTypeAndShapeInfo().GetShape();
  require(shp.size() == 4, std::string(what) + " must be 4-D NCHW");
  require(shp[0] == 1, std::string(what) + " must have batch size 1");
  require(shp[1] > 0 && shp[2] > 0 && shp[3] > 0, std::string(what) + " must not be empty");
  return shp;
}

}  // namespace dn

extern "C" __attribute__((visibility("default")))
OrtStatus* RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api_base) {
  const OrtApi* api = api_base->GetApi(ORT_API_VERSION);
  if (!api) return nullptr;  // onnxruntime older than these headers: nothing can be reported
  dn::g_api = api;
  Ort::InitApi(api);
  OrtCustomOpDomain* domain = nullptr;
  if (OrtStatus* st = api->CreateCustomOpDomain("dn", &domain)) return st;
  const OrtCustomOp* ops[] = {dn::fused_ep_op(), dn::fused_stage_op(), dn::fused_up_ep_op(),
                              dn::head_op(),     dn::stem_op(),        dn::trans_op()};
  for (const OrtCustomOp* op : ops)
    if (OrtStatus* st = api->CustomOpDomain_Add(domain, op)) return st;
  return api->AddCustomOpDomain(options, domain);
}
