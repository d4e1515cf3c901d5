// Forward sensitivities on the closed-form path (linear models): against central differences of
// the closed-form solution itself (exact, so the differences, extrapolated, carry only their
// O(h^4) truncation) and against CVODES's sensitivities (rtol 1e-10) of the same model forced
// onto the ODE path, to 1e-7 relative;
// boluses, infusions, oral doses, ADDL, resets, time-varying covariates, F/ALAG/R/D that depend
// on eta, and steady-state records (SS=1/2, overlapping infusions, a lag, a constant infusion).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"
#include "sim/sensitivity_test_util.h"
#include "sim/sim_test_util.h"

namespace medtwin {
namespace {

using testing::EtasOn;
using testing::FiniteDifferences;
using testing::Make;
using testing::Read;

// Central differences of the closed form with Richardson's extrapolation over steps 1e-4 and
// 5e-5: the O(h^2) error cancels, which matters where levels have large higher derivatives in
// eta (C ~ exp(-lambda t) late after a dose, a lagged dose started just before an output).
std::vector<double> ExtrapolatedDifferences(const Model& m, const Dataset& d,
                                            const OutputRequest& req,
                                            const std::vector<double>& eta) {
  const std::vector<double> fd1 = FiniteDifferences(m, d, req, eta, SimPath::kClosedForm, 1e-4);
  std::vector<double> fd2 = FiniteDifferences(m, d, req, eta, SimPath::kClosedForm, 5e-5);
  EXPECT_EQ(fd1.size(), fd2.size());
  for (size_t i = 0; i < fd2.size() && i < fd1.size(); ++i) fd2[i] = (4.0 * fd2[i] - fd1[i]) / 3.0;
  return fd2;
}

Result<SimOutput> RunWithSensitivities(const Model& m, const Dataset& d, OutputRequest req,
                                       const std::vector<double>& eta, SimOptions o) {
  Simulator sim(m, o);
  req.sensitivities = true;
  return sim.Run(d, 0, req, {{}, eta});
}

// Every d(observable j)/d(eta k) within rel * |reference| + floor * scale of the reference,
// scale its largest |value| over the rows (so a zero crossing is judged on the scale of the
// derivative, everything else relatively).
void ExpectClose(const Model& m, const SimOutput& out, const std::vector<double>& ref, double rel,
                 double floor, const std::string& what) {
  const int ne = out.num_sensitivities, no = m.num_observables();
  ASSERT_EQ(ref.size(), out.observable_sensitivities.size()) << what;
  for (int k = 0; k < ne; ++k) {
    for (int j = 0; j < no; ++j) {
      double scale = 0.0;
      for (size_t r = 0; r < out.rows(); ++r) {
        scale = std::max(scale, std::fabs(ref[(r * ne + k) * no + j]));
      }
      for (size_t r = 0; r < out.rows(); ++r) {
        const size_t i = (r * ne + k) * no + j;
        EXPECT_NEAR(out.observable_sensitivities[i], ref[i],
                    rel * std::fabs(ref[i]) + floor * scale)
            << what << ": row " << r << " (t=" << out.time_h[r] << ") eta " << k << " ("
            << m.spec().variability.parameters[k] << ") observable "
            << m.spec().observables[j].name;
      }
    }
  }
}

// The closed form's sensitivities against central differences of the closed form, and against
// CVODES's (rtol 1e-10) on the ODE path.
void ExpectClosedFormSensitivitiesMatch(const Model& m, const Dataset& d, OutputRequest req,
                                        const std::vector<double>& eta) {
  auto cf = RunWithSensitivities(m, d, req, eta, SimOptions{});
  ASSERT_TRUE(cf.ok()) << cf.status().ToString();
  ASSERT_EQ(cf->summary.path, SimPath::kClosedForm) << cf->summary.path_reason;
  ASSERT_EQ(cf->num_sensitivities, static_cast<int>(eta.size()));
  EXPECT_EQ(cf->summary.sens_rhs_evals, 0);  // no integration
  req.sensitivities = false;
  const std::vector<double> fd = ExtrapolatedDifferences(m, d, req, eta);
  ExpectClose(m, *cf, fd, 1e-7, 1e-9, "central differences of the closed form");

  SimOptions ode;
  ode.path = SimPath::kOde;
  ode.rtol = 1e-10;
  ode.atol = 1e-12;
  auto cv = RunWithSensitivities(m, d, req, eta, ode);
  ASSERT_TRUE(cv.ok()) << cv.status().ToString();
  ASSERT_EQ(cv->summary.path, SimPath::kOde);
  EXPECT_GT(cv->summary.sens_rhs_evals, 0);
  // CVODES's own error (rtol 1e-10) is ~1e-8 of the derivative's scale.
  ExpectClose(m, *cf, cv->observable_sensitivities, 1e-7, 1e-7, "CVODES on the ODE path");
  ASSERT_EQ(cf->state_sensitivities.size(), cv->state_sensitivities.size());
}

// pk1cmt with eta also on KA: oral boluses with additional doses, a zero-order infusion into the
// central compartment, an EVID 4 reset with a new dose, extra output times.
TEST(ClosedFormSensitivity, OneCompartmentOralInfusionAndReset) {
  const std::unique_ptr<Model> owned = EtasOn(Make("pk1cmt"), {"CL", "V", "KA"});
  const Model& m = *owned;
  const Dataset d = Read(
      "ID,TIME,EVID,AMT,CMT,RATE,II,ADDL\n"
      "1,0,1,500,1,0,12,2\n1,2,0,0,2,0,0,0\n1,6,1,300,2,150,0,0\n1,7,0,0,2,0,0,0\n"
      "1,10,0,0,2,0,0,0\n1,13,0,0,2,0,0,0\n1,30,0,0,2,0,0,0\n1,36,4,200,2,0,0,0\n"
      "1,37,0,0,2,0,0,0\n1,44,0,0,2,0,0,0\n",
      m);
  OutputRequest req;
  req.dose_records = true;
  req.times_h = {1.0, 5.0, 20.0, 48.0};
  ExpectClosedFormSensitivitiesMatch(m, d, req, {0.2, -0.3, 0.25});
}

// pk2cmt and pk3cmt with eta on every parameter: an intravenous bolus, an oral dose and two
// overlapping infusions.
TEST(ClosedFormSensitivity, TwoAndThreeCompartmentsEveryParameter) {
  const std::string csv =
      "ID,TIME,EVID,AMT,CMT,RATE\n"
      "1,0,1,400,2,0\n1,0.5,0,0,2,0\n1,3,1,600,1,0\n1,4,0,0,2,0\n1,8,1,500,2,100\n"
      "1,9,1,200,2,50\n1,11,0,0,2,0\n1,14,0,0,2,0\n1,24,0,0,2,0\n1,72,0,0,2,0\n";
  {
    SCOPED_TRACE("pk2cmt");
    const std::unique_ptr<Model> owned = EtasOn(Make("pk2cmt"), {"CL", "V", "Q", "V2", "KA"});
    const Model& m = *owned;
    ExpectClosedFormSensitivitiesMatch(m, Read(csv, m), {}, {0.1, -0.2, 0.3, -0.1, 0.2});
  }
  {
    SCOPED_TRACE("pk3cmt");
    const std::unique_ptr<Model> owned =
        EtasOn(Make("pk3cmt"), {"CL", "V", "Q", "V2", "Q3", "V3", "KA"});
    const Model& m = *owned;
    ExpectClosedFormSensitivitiesMatch(m, Read(csv, m), {},
                                       {0.1, -0.2, 0.3, -0.1, 0.15, 0.25, -0.3});
  }
}

// Vancomycin (Goti 2018) with its own variability: serum creatinine rising on day 2 changes CL
// and dp/deta at a record (time-varying covariates).
TEST(ClosedFormSensitivity, VancomycinWithTimeVaryingCovariates) {
  auto m = Make("vancomycin_goti2018");
  const std::string csv = testing::VancomycinCourseWithRisingCreatinine();
  ExpectClosedFormSensitivitiesMatch(*m, Read(csv, *m), {}, {0.2, -0.35, 0.15});
}

// A linear one-compartment oral model with eta on CL, V, F1, ALAG1, R2 and D2
// (testing::ModifierSpec): dose amounts, times, rates and infusion ends move with eta.
ModelSpec LinearModifierSpec() {
  return testing::ModifierSpec("linear_modifiers",
                               {{"KA", "1/h", 0.8, 1e-9, kInf, "", ""},
                                {"CL", "L/h", 5.0, 1e-9, kInf, "", ""},
                                {"V", "L", 30.0, 1e-9, kInf, "", ""}},
                               "CL");
}

class LinearModifierModel final : public Model {
 public:
  LinearModifierModel() : Model(LinearModifierSpec()) {}
  void Rhs(double, const double* x, const double* p, double* dxdt) const override {
    dxdt[0] = -p[0] * x[0];
    dxdt[1] = p[0] * x[0] - p[1] / p[2] * x[1];
  }
  void Observe(double, const double* x, const double* p, double* y) const override {
    y[0] = x[1] / p[2];
  }
  bool LinearMatrix(const double* p, double* a) const override {
    a[0] = -p[0];
    a[1] = 0.0;
    a[2] = p[0];
    a[3] = -p[1] / p[2];
    return true;
  }
};

TEST(ClosedFormSensitivity, DosesWithParameterDependentFLagRateAndDuration) {
  LinearModifierModel m;
  // Oral doses with F1 and ALAG1 (and an additional dose), an oral zero-order input of given
  // RATE (its duration F1*AMT/RATE moves with F1), a RATE=-1 infusion at R2 and a RATE=-2
  // infusion over D2. Observations avoid the instants the doses move across.
  const Dataset d = Read(
      "ID,TIME,EVID,AMT,CMT,RATE,II,ADDL\n"
      "1,0,1,400,1,0,8,1\n1,0.5,0,0,2,0,0,0\n1,3,0,0,2,0,0,0\n1,10,0,0,2,0,0,0\n"
      "1,16,1,300,1,100,0,0\n1,17,0,0,2,0,0,0\n1,19.5,0,0,2,0,0,0\n1,24,1,200,2,-1,0,0\n"
      "1,25,0,0,2,0,0,0\n1,27,0,0,2,0,0,0\n1,32,1,150,2,-2,0,0\n1,32.7,0,0,2,0,0,0\n"
      "1,36,0,0,2,0,0,0\n",
      m);
  ExpectClosedFormSensitivitiesMatch(m, d, {}, {0.1, -0.2, -0.3, 0.2, 0.25, -0.15});
}

// Steady state: oral boluses (SS=1), then an SS=2 intravenous infusion added on top whose
// duration (15 h) exceeds its interval (12 h), so earlier infusions still run at the record.
TEST(ClosedFormSensitivity, SteadyStateBolusesAndOverlappingInfusions) {
  const std::unique_ptr<Model> owned = EtasOn(Make("pk2cmt"), {"CL", "V", "Q", "V2", "KA"});
  const Model& m = *owned;
  const Dataset d = Read(
      "ID,TIME,EVID,AMT,CMT,RATE,II,SS\n"
      "1,0,1,500,1,0,12,1\n1,1,0,0,2,0,0,0\n1,6,0,0,2,0,0,0\n1,11.5,0,0,2,0,0,0\n"
      "1,12,1,750,2,50,12,2\n1,13,0,0,2,0,0,0\n1,20,0,0,2,0,0,0\n1,26,0,0,2,0,0,0\n"
      "1,40,0,0,2,0,0,0\n",
      m);
  ExpectClosedFormSensitivitiesMatch(m, d, {}, {0.1, -0.2, 0.3, -0.1, 0.2});
}

// Steady state with F1 and a lag ALAG1 (the record lies II - ALAG into the cycle, a phase that
// moves with eta), with a modelled duration D2 and rate R2, and a constant-infusion steady
// state (AMT=0, RATE>0).
TEST(ClosedFormSensitivity, SteadyStateWithLagModelledInfusionsAndConstantInfusion) {
  LinearModifierModel m;
  const std::vector<double> eta = {0.1, -0.2, -0.3, 0.2, 0.25, -0.15};
  struct Case {
    const char* name;
    const char* records;  // after the header ID,TIME,EVID,AMT,CMT,RATE,II,SS
  };
  const std::vector<Case> cases = {
      {"oral, F1 and ALAG1",
       "1,0,1,400,1,0,8,1\n1,0.3,0,0,2,0,0,0\n1,2,0,0,2,0,0,0\n1,7,0,0,2,0,0,0\n"},
      {"RATE=-2 (D2) and RATE=-1 (R2)",
       "1,0,1,300,2,-2,6,1\n1,1,0,0,2,0,0,0\n1,4,0,0,2,0,0,0\n"
       "1,12,1,300,2,-1,8,1\n1,13,0,0,2,0,0,0\n1,19,0,0,2,0,0,0\n"},
      {"constant infusion", "1,0,1,0,2,40,0,1\n1,0,0,0,2,0,0,0\n1,5,0,0,2,0,0,0\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Dataset d = Read(std::string("ID,TIME,EVID,AMT,CMT,RATE,II,SS\n") + c.records, m);
    ExpectClosedFormSensitivitiesMatch(m, d, {}, eta);
  }
}

// Long after a dose the levels are tiny, but the sensitivities stay relatively accurate: the
// modal factors are evaluated relatively (E_ij around the larger exponent, F_ij shifted), so
// d log(C)/d eta is right even at 1e-12 of the peak.
TEST(ClosedFormSensitivity, RelativelyAccurateAsTheDrugWashesOut) {
  const std::unique_ptr<Model> owned = EtasOn(Make("pk2cmt"), {"CL", "V", "Q", "V2", "KA"});
  const Model& m = *owned;
  const Dataset d =
      Read("ID,TIME,EVID,AMT,CMT\n1,0,1,500,1\n1,100,0,0,2\n1,400,0,0,2\n1,1000,0,0,2\n", m);
  const std::vector<double> eta = {0.1, -0.2, 0.3, -0.1, 0.2};
  auto cf = RunWithSensitivities(m, d, {}, eta, SimOptions{});
  ASSERT_TRUE(cf.ok()) << cf.status().ToString();
  ASSERT_LT(cf->observables.back(), 1e-10 * cf->observables.front());
  const std::vector<double> ref = ExtrapolatedDifferences(m, d, {}, eta);
  ASSERT_EQ(ref.size(), cf->observable_sensitivities.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_NEAR(cf->observable_sensitivities[i], ref[i], 1e-7 * std::fabs(ref[i])) << "entry " << i;
  }
}

}  // namespace
}  // namespace medtwin
