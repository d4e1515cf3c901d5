// The built-in model registry: base models by name, optionally followed by "+<PD link>".
#include <string>

#include "medtwin/model.h"
#include "model/bergman.h"
#include "model/cardiovascular.h"
#include "model/model_internal.h"
#include "model/pd_models.h"
#include "model/pk_models.h"
#include "model/t1d_uvapadova.h"
#include "model/tumour_growth.h"
#include "model/vancomycin.h"
#include "model/viral.h"
#include "model/warfarin.h"

namespace medtwin {
namespace {

struct BaseModelEntry {
  const char* name;
  std::unique_ptr<Model> (*make)();
};

constexpr BaseModelEntry kBaseModels[] = {
    {"pk1cmt", &MakePk1Cmt},
    {"pk2cmt", &MakePk2Cmt},
    {"pk3cmt", &MakePk3Cmt},
    {"pk1cmt_mm", &MakePk1CmtMm},
    {"vancomycin_goti2018", &MakeVancomycinGoti2018},
    {"bergman_minimal", &MakeBergmanMinimal},
    {"warfarin_hamberg2007", &MakeWarfarinHamberg2007},
    {"tgi_simeoni2004", &MakeTgiSimeoni2004},
    {"viral_baccam2006", &MakeViralBaccam2006},
    {"t1d_uvapadova", &MakeT1dUvaPadova},
    {"cvs_ursino1998", &MakeCvsUrsino1998},
};

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

Result<std::unique_ptr<Model>> MakeBaseModel(const std::string& name) {
  for (const BaseModelEntry& e : kBaseModels) {
    if (internal::EqualsIgnoreCase(name, e.name)) return e.make();
  }
  return Status::NotFound("unknown model '" + name + "'; known models: " + Join(ListModels()) +
                          ", each optionally followed by +PD with PD one of " +
                          Join(ListPdLinks()));
}

}  // namespace

std::vector<std::string> ListModels() {
  std::vector<std::string> names;
  for (const BaseModelEntry& e : kBaseModels) names.emplace_back(e.name);
  return names;
}

std::vector<std::string> ListPdLinks() {
  return {ToString(PdLink::kEmax), ToString(PdLink::kIrm1), ToString(PdLink::kIrm2),
          ToString(PdLink::kIrm3), ToString(PdLink::kIrm4), ToString(PdLink::kSimeoni)};
}

Result<std::unique_ptr<Model>> MakeModel(const std::string& name) {
  const size_t plus = name.find('+');
  Result<std::unique_ptr<Model>> model = MakeBaseModel(name.substr(0, plus));
  if (!model.ok() || plus == std::string::npos) return model;
  const Result<PdLink> link = PdLinkFromString(name.substr(plus + 1));
  if (!link.ok()) return link.status().WithContext("model '" + name + "'");
  return MakePdLinkedModel(std::move(model).value(), *link);
}

}  // namespace medtwin
