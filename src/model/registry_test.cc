// Tests of the built-in model registry (registry.cc).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "medtwin/model.h"
#include "model/model_test_util.h"

namespace medtwin {
namespace {

TEST(RegistryTest, Lists) {
  EXPECT_EQ(ListModels(), (std::vector<std::string>{"pk1cmt", "pk2cmt", "pk3cmt", "pk1cmt_mm",
                                                    "vancomycin_goti2018", "t1d_uvapadova"}));
  EXPECT_EQ(ListPdLinks(), (std::vector<std::string>{"emax", "irm1", "irm2", "irm3", "irm4"}));
}

// Every base model and every BASE+PD combination of a PK model (one with a CP observable) builds,
// carries its registry name and a valid spec, and its typical parameters individualize at the
// reference covariates.
TEST(RegistryTest, EveryModelAndLinkBuildsAndValidates) {
  std::vector<std::string> names = ListModels();
  for (const std::string& base : ListModels()) {
    if ((*MakeModel(base))->spec().ObservableIndex("CP") < 0) continue;
    for (const std::string& link : ListPdLinks()) names.push_back(base + "+" + link);
  }
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    Result<std::unique_ptr<Model>> m = MakeModel(name);
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
  ExpectNotFound("pk4cmt", "emax, irm1, irm2, irm3, irm4");
  ExpectNotFound("", "unknown model ''");
  ExpectNotFound("foo+emax", "unknown model 'foo'");
  ExpectNotFound("pk1cmt+foo", "model 'pk1cmt+foo': unknown PD link 'foo'");
  ExpectNotFound("pk1cmt+", "unknown PD link ''");
  // One PD link only.
  ExpectNotFound("pk1cmt+emax+irm1", "unknown PD link 'emax+irm1'");
}

}  // namespace
}  // namespace medtwin
