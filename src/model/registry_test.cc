// Tests of the built-in model registry (registry.cc).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "medtwin/model.h"
#include "model/model_test_util.h"

namespace medtwin {
namespace {

// True if the base model exposes CP in mg/L (the input of every PD link).
bool HasPlasmaConcentration(const std::string& base) {
  Result<std::unique_ptr<Model>> m = MakeModel(base);
  if (!m.ok()) return false;
  const ModelSpec& s = (*m)->spec();
  const int cp = s.ObservableIndex("CP");
  return cp >= 0 && s.observables[cp].unit == "mg/L";
}

// The first parameter of `base` whose name the link also uses ("" if none): such a pair cannot be
// combined (warfarin_hamberg2007 has its own EMAX and EC50, so +emax would duplicate them).
std::string SharedParameter(const std::string& base, const std::string& link) {
  Result<std::unique_ptr<Model>> b = MakeModel(base), probe = MakeModel("pk1cmt+" + link);
  if (!b.ok() || !probe.ok()) return "";
  const std::vector<ParameterSpec>& linked = (*probe)->spec().parameters;
  const size_t n_pk1cmt = (*MakeModel("pk1cmt"))->spec().parameters.size();
  for (const ParameterSpec& p : (*b)->spec().parameters) {
    for (size_t k = n_pk1cmt; k < linked.size(); ++k) {
      if (linked[k].name == p.name) return p.name;
    }
  }
  return "";
}

TEST(RegistryTest, Lists) {
  EXPECT_EQ(ListModels(), (std::vector<std::string>{
                              "pk1cmt", "pk2cmt", "pk3cmt", "pk1cmt_mm", "vancomycin_goti2018",
                              "bergman_minimal", "warfarin_hamberg2007", "tgi_simeoni2004",
                              "viral_baccam2006", "t1d_uvapadova", "cvs_ursino1998"}));
  EXPECT_EQ(ListPdLinks(),
            (std::vector<std::string>{"emax", "irm1", "irm2", "irm3", "irm4", "simeoni"}));
}

// Every base model and every BASE+PD combination of a PK model (one with a CP observable) builds,
// carries its registry name and a valid spec, and its typical parameters individualize at the
// reference covariates.
TEST(RegistryTest, EveryModelAndLinkBuildsAndValidates) {
  std::vector<std::string> names = ListModels();
  for (const std::string& base : ListModels()) {
    if (!HasPlasmaConcentration(base)) continue;  // see PhysiologyModelsRefusePdLinks
    for (const std::string& link : ListPdLinks()) names.push_back(base + "+" + link);
  }
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    Result<std::unique_ptr<Model>> m = MakeModel(name);
    const size_t plus = name.find('+');
    const std::string shared = plus == std::string::npos
                                   ? ""
                                   : SharedParameter(name.substr(0, plus), name.substr(plus + 1));
    if (!shared.empty()) {  // refused with a message naming the clash
      ASSERT_FALSE(m.ok());
      EXPECT_NE(m.status().message().find("is used twice"), std::string::npos)
          << m.status().message();
      continue;
    }
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    const Model& model = **m;
    EXPECT_EQ(model.spec().name, name);
    const Status valid = model.spec().Validate();
    EXPECT_TRUE(valid.ok()) << valid.ToString();
    EXPECT_FALSE(model.spec().citation.empty());
    EXPECT_FALSE(model.spec().description.empty());
    const std::vector<double> theta = testing::TypicalParameters(model);
    std::vector<double> out(theta.size());
    const Status ind = model.Individualize(theta, {}, testing::ReferenceCovariates(model), out);
    EXPECT_TRUE(ind.ok()) << ind.ToString();
    // The right-hand side at the initial state is finite.
    std::vector<double> x(model.num_states()), dxdt(model.num_states());
    model.InitialState(out.data(), x.data());
    model.Rhs(0.0, x.data(), out.data(), dxdt.data());
    for (double d : dxdt) EXPECT_TRUE(std::isfinite(d));
  }
}

// Models without a plasma concentration (physiology models) cannot carry a PD link; the error
// says why rather than building a model that reads a missing CP.
TEST(RegistryTest, PhysiologyModelsRefusePdLinks) {
  int refused = 0;
  for (const std::string& base : ListModels()) {
    if (HasPlasmaConcentration(base)) continue;
    for (const std::string& link : ListPdLinks()) {
      SCOPED_TRACE(base + "+" + link);
      Result<std::unique_ptr<Model>> m = MakeModel(base + "+" + link);
      ASSERT_FALSE(m.ok());
      EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
      EXPECT_NE(m.status().message().find("CP"), std::string::npos) << m.status().message();
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
}

TEST(RegistryTest, NamesAreCaseInsensitiveAndCanonicalised) {
  Result<std::unique_ptr<Model>> m = MakeModel("PK2CMT+Irm3");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->spec().name, "pk2cmt+irm3");
}

void ExpectNotFound(const std::string& name, const std::string& fragment) {
  Result<std::unique_ptr<Model>> m = MakeModel(name);
  ASSERT_FALSE(m.ok()) << name;
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find(fragment), std::string::npos) << m.status().message();
}

TEST(RegistryTest, UnknownNamesListTheKnownOnes) {
  ExpectNotFound("pk4cmt", "unknown model 'pk4cmt'");
  ExpectNotFound("pk4cmt", "pk1cmt, pk2cmt, pk3cmt, pk1cmt_mm, vancomycin_goti2018");
  ExpectNotFound("pk4cmt", "emax, irm1, irm2, irm3, irm4, simeoni");
  ExpectNotFound("", "unknown model ''");
  ExpectNotFound("foo+emax", "unknown model 'foo'");
  ExpectNotFound("pk1cmt+foo", "model 'pk1cmt+foo': unknown PD link 'foo'");
  ExpectNotFound("pk1cmt+", "unknown PD link ''");
  // One PD link only.
  ExpectNotFound("pk1cmt+emax+irm1", "unknown PD link 'emax+irm1'");
}

}  // namespace
}  // namespace medtwin
