// Forward sensitivities d(observable)/d(eta) on the ODE path, checked against central finite
// differences of simulations solved far more tightly (rtol 1e-12) on nonlinear models, with
// boluses, infusions, additional doses, resets, time-varying covariates and dose modifiers
// (F, ALAG, modelled rate and duration) that depend on the random effects, meals whose start
// resets a model state (UVA/Padova T1D) and an SBML model; and the cases the simulator refuses
// (kUnsupported) so that callers fall back to finite differences.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/sbml.h"
#include "medtwin/simulator.h"
#include "sim/sensitivity_test_util.h"
#include "sim/sim_test_util.h"

namespace medtwin {
namespace {

using testing::EtasOn;
using testing::FiniteDifferences;
using ::testing::HasSubstr;
using testing::Make;
using testing::Read;

// Runs with sensitivities at default tolerances (rtol 1e-8) and compares them with finite
// differences: every d(observable j)/d(eta k) within `rel` of the largest |value| it takes over
// the rows (a relative error where it matters, not at a zero crossing), or within 1e-6 of the
// observable's own largest value where eta k does not move it (the differences are noise there).
void ExpectSensitivitiesMatch(const Model& m, const Dataset& d, OutputRequest req,
                              const std::vector<double>& eta, double rel = 1e-5,
                              SimPath fd_path = SimPath::kOde, bool error_control = true) {
  SimOptions o;
  o.path = SimPath::kOde;
  o.sensitivity_error_control = error_control;
  Simulator sim(m, o);
  req.sensitivities = true;
  auto out = sim.Run(d, 0, req, {{}, eta});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const int ne = static_cast<int>(eta.size()), no = m.num_observables();
  ASSERT_EQ(out->num_sensitivities, ne);
  ASSERT_EQ(out->observable_sensitivities.size(), out->rows() * ne * no);
  ASSERT_EQ(out->state_sensitivities.size(), out->rows() * ne * m.num_states());
  EXPECT_GT(out->summary.sens_rhs_evals, 0);
  req.sensitivities = false;
  const std::vector<double> fd = FiniteDifferences(m, d, req, eta, fd_path);
  ASSERT_EQ(fd.size(), out->observable_sensitivities.size());
  for (int k = 0; k < ne; ++k) {
    for (int j = 0; j < no; ++j) {
      double scale = 0.0, level = 0.0;
      for (size_t r = 0; r < out->rows(); ++r) {
        scale = std::max(scale, std::fabs(fd[(r * ne + k) * no + j]));
        level = std::max(level, std::fabs(out->observables[r * no + j]));
      }
      for (size_t r = 0; r < out->rows(); ++r) {
        const size_t i = (r * ne + k) * no + j;
        EXPECT_NEAR(out->observable_sensitivities[i], fd[i], rel * scale + 1e-6 * level)
            << "row " << r << " (t=" << out->time_h[r] << ") eta " << k << " observable "
            << m.spec().observables[j].name;
      }
    }
  }
}

// Michaelis-Menten elimination (pk1cmt_mm: depot, central): oral boluses with additional doses,
// a zero-order infusion into the central compartment, an EVID 4 reset with a new dose, and extra
// output times, with eta on VMAX and V away from zero.
TEST(Sensitivity, MichaelisMentenWithBolusesInfusionAndResetMatchFiniteDifferences) {
  auto m = Make("pk1cmt_mm");
  const Dataset d = Read(
      "ID,TIME,EVID,AMT,CMT,RATE,II,ADDL\n"
      "1,0,1,500,1,0,12,2\n"
      "1,2,0,0,2,0,0,0\n"
      "1,6,1,300,2,150,0,0\n"
      "1,7,0,0,2,0,0,0\n"
      "1,10,0,0,2,0,0,0\n"
      "1,13,0,0,2,0,0,0\n"
      "1,30,0,0,2,0,0,0\n"
      "1,36,4,200,2,0,0,0\n"
      "1,37,0,0,2,0,0,0\n"
      "1,44,0,0,2,0,0,0\n",
      *m);
  OutputRequest req;
  req.dose_records = true;
  req.times_h = {1.0, 5.0, 20.0, 48.0};
  ExpectSensitivitiesMatch(*m, d, req, {0.25, -0.3});
}

// A nonlinear PK-PD model with covariates that change during the course (serum creatinine
// rises on day 2, so CL's covariate factor and dp/deta change at a record): vancomycin
// (Goti 2018) with an indirect-response PD (stimulation of production).
TEST(Sensitivity, TimeVaryingCovariatesInANonlinearPkPdModelMatchFiniteDifferences) {
  auto m = Make("vancomycin_goti2018+irm3");
  const std::string csv = testing::VancomycinCourseWithRisingCreatinine();
  const Dataset d = Read(csv, *m);
  ExpectSensitivitiesMatch(*m, d, OutputRequest{}, {0.2, -0.35, 0.15});
}

// The linear vancomycin model forced onto the ODE path agrees with finite differences of its
// exact closed-form solution (the closed form's own sensitivities: closed_form_test.cc).
TEST(Sensitivity, LinearModelOnTheOdePathMatchesFiniteDifferencesOfTheClosedForm) {
  auto m = Make("vancomycin_goti2018");
  std::string csv = "ID,TIME,EVID,AMT,RATE,II,ADDL,WT,AGE,SEX,SCR\n";
  csv += "1,0,1,1500,1000,12,3,70,45,1,0.9\n";
  for (double t : {1.0, 5.0, 11.9, 26.0, 40.0}) {
    csv += "1," + std::to_string(t) + ",0,0,0,0,0,70,45,1,0.9\n";
  }
  const Dataset d = Read(csv, *m);
  ExpectSensitivitiesMatch(*m, d, OutputRequest{}, {-0.3, 0.4, 0.1}, 1e-5, SimPath::kClosedForm);
}

// Michaelis-Menten elimination with eta on F1, ALAG1, R2 and D2 (testing::ModifierSpec): the
// dose amounts, the dose times, infusion rates and end times all move with eta.
ModelSpec MichaelisMentenModifierSpec() {
  return testing::ModifierSpec("mm_modifiers",
                               {{"KA", "1/h", 0.8, 1e-9, kInf, "", ""},
                                {"VMAX", "mg/h", 40.0, 1e-9, kInf, "", ""},
                                {"KM", "mg/L", 4.0, 1e-9, kInf, "", ""},
                                {"V", "L", 30.0, 1e-9, kInf, "", ""}},
                               "VMAX");
}

class ModifierModel final : public Model {
 public:
  ModifierModel() : Model(MichaelisMentenModifierSpec()) {}
  void Rhs(double, const double* x, const double* p, double* dxdt) const override {
    const double c = x[1] / p[3];
    dxdt[0] = -p[0] * x[0];
    dxdt[1] = p[0] * x[0] - p[1] * c / (p[2] + c);
  }
  void Observe(double, const double* x, const double* p, double* y) const override {
    y[0] = x[1] / p[3];
  }
};

TEST(Sensitivity, DosesWithParameterDependentFLagRateAndDurationMatchFiniteDifferences) {
  ModifierModel m;
  // Oral doses with F1 and ALAG1 (and an additional dose), an oral zero-order input of given
  // RATE (its duration F1*AMT/RATE moves with F1), a RATE=-1 infusion at R2 and a RATE=-2
  // infusion over D2. Observations avoid the instants the doses move across.
  const Dataset d = Read(
      "ID,TIME,EVID,AMT,CMT,RATE,II,ADDL\n"
      "1,0,1,400,1,0,8,1\n"
      "1,0.5,0,0,2,0,0,0\n"
      "1,3,0,0,2,0,0,0\n"
      "1,10,0,0,2,0,0,0\n"
      "1,16,1,300,1,100,0,0\n"
      "1,17,0,0,2,0,0,0\n"
      "1,19.5,0,0,2,0,0,0\n"
      "1,24,1,200,2,-1,0,0\n"
      "1,25,0,0,2,0,0,0\n"
      "1,27,0,0,2,0,0,0\n"
      "1,32,1,150,2,-2,0,0\n"
      "1,32.7,0,0,2,0,0,0\n"
      "1,36,0,0,2,0,0,0\n",
      m);
  ExpectSensitivitiesMatch(m, d, OutputRequest{}, {0.1, -0.2, -0.3, 0.2, 0.25, -0.15});
}

// UVA/Padova T1D (Dalla Man 2007): a basal insulin infusion, a meal eaten at 10 g/min (whose
// start resets the model's bookkeeping state through OnDoseStart), an insulin bolus and a second
// meal given at once; eta on insulin action, absorption, gastric emptying, body weight (which
// scales the initial subcutaneous insulin) and the initial plasma glucose.
TEST(Sensitivity, GlucoseInsulinModelWithMealsMatchesFiniteDifferences) {
  const std::unique_ptr<Model> owned =
      EtasOn(Make("t1d_uvapadova"), {"Vmx", "kabs", "kmax", "BW", "x0_4"});
  const Model& m = *owned;
  const Dataset d = Read(
      "ID,TIME,EVID,CMT,AMT,RATE\n"
      "1,0,1,insulin,15,0.02\n"
      "1,30,0,.,.,.\n"
      "1,60,1,meal,50,10\n"
      "1,90,0,.,.,.\n"
      "1,150,0,.,.,.\n"
      "1,240,0,.,.,.\n"
      "1,300,1,insulin,3,.\n"
      "1,300,1,meal,40,.\n"
      "1,330,0,.,.,.\n"
      "1,420,0,.,.,.\n"
      "1,600,0,.,.,.\n",
      m);
  ExpectSensitivitiesMatch(m, d, OutputRequest{}, {0.2, -0.15, 0.1, 0.05, -0.1});
}

// An SBML model (one compartment, Michaelis-Menten elimination written as a kinetic law) with
// oral and intravenous doses.
constexpr char kMichaelisMentenSbml[] = R"(<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version1/core" level="3" version="1">
  <model id="pk_mm">
    <listOfCompartments>
      <compartment id="body" spatialDimensions="3" size="1" constant="true"/>
    </listOfCompartments>
    <listOfSpecies>
      <species id="depot" compartment="body" initialAmount="0" hasOnlySubstanceUnits="true"
               boundaryCondition="false" constant="false"/>
      <species id="central" compartment="body" initialAmount="0" hasOnlySubstanceUnits="true"
               boundaryCondition="false" constant="false"/>
    </listOfSpecies>
    <listOfParameters>
      <parameter id="KA" value="1.2" constant="true"/>
      <parameter id="VMAX" value="30" constant="true"/>
      <parameter id="KM" value="3" constant="true"/>
      <parameter id="V" value="40" constant="true"/>
    </listOfParameters>
    <listOfReactions>
      <reaction id="absorption" reversible="false" fast="false">
        <listOfReactants><speciesReference species="depot" stoichiometry="1" constant="true"/></listOfReactants>
        <listOfProducts><speciesReference species="central" stoichiometry="1" constant="true"/></listOfProducts>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><times/><ci>KA</ci><ci>depot</ci></apply>
        </math></kineticLaw>
      </reaction>
      <reaction id="elimination" reversible="false" fast="false">
        <listOfReactants><speciesReference species="central" stoichiometry="1" constant="true"/></listOfReactants>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><divide/>
            <apply><times/><ci>VMAX</ci><apply><divide/><ci>central</ci><ci>V</ci></apply></apply>
            <apply><plus/><ci>KM</ci><apply><divide/><ci>central</ci><ci>V</ci></apply></apply>
          </apply>
        </math></kineticLaw>
      </reaction>
    </listOfReactions>
  </model>
</sbml>
)";

TEST(Sensitivity, SbmlModelMatchesFiniteDifferences) {
  auto sbml = LoadSbmlString(kMichaelisMentenSbml);
  ASSERT_TRUE(sbml.ok()) << sbml.status().ToString();
  const std::unique_ptr<Model> owned = EtasOn(std::move(sbml).value(), {"VMAX", "V", "KA"});
  const Model& m = *owned;
  const Dataset d = Read(
      "ID,TIME,EVID,AMT,CMT,RATE\n"
      "1,0,1,300,depot,0\n1,1,0,0,central,0\n1,4,0,0,central,0\n"
      "1,6,1,200,central,100\n1,7,0,0,central,0\n1,12,0,0,central,0\n",
      m);
  ExpectSensitivitiesMatch(m, d, OutputRequest{}, {0.15, -0.2, 0.1});
}

// Without the sensitivities in the error test CVODES takes the states' steps only: fewer steps,
// and sensitivities still close (vancomycin+irm3, the case with the largest loss).
TEST(Sensitivity, WithoutErrorControlFewerStepsAndLooserAgreement) {
  auto m = Make("vancomycin_goti2018+irm3");
  std::string csv = "ID,TIME,EVID,AMT,RATE,II,ADDL,WT,AGE,SEX,SCR\n";
  csv += "1,0,1,1000,1000,12,3,80,60,0,1.0\n";
  for (double t : {2.0, 11.5, 13.0, 23.5, 30.0, 47.0}) {
    csv += "1," + std::to_string(t) + ",0,0,0,0,0,80,60,0,1.0\n";
  }
  const Dataset d = Read(csv, *m);
  ExpectSensitivitiesMatch(*m, d, OutputRequest{}, {0.2, -0.35, 0.15}, 1e-4, SimPath::kOde, false);
  const std::vector<double> eta = {0.2, -0.35, 0.15};
  long steps[2] = {0, 0};
  for (int control = 0; control < 2; ++control) {
    SimOptions o;
    o.sensitivity_error_control = control == 1;
    Simulator sim(*m, o);
    OutputRequest req;
    req.sensitivities = true;
    auto out = sim.Run(d, 0, req, {{}, eta});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    steps[control] = out->summary.steps;
  }
  EXPECT_LT(steps[0], steps[1]);
}

TEST(Sensitivity, RefusedWhereNotAvailableSoCallersCanFallBack) {
  auto mm = Make("pk1cmt_mm");
  OutputRequest req;
  req.sensitivities = true;
  {
    // Steady-state dosing on a nonlinear model: the periodic state's sensitivity is not
    // propagated (linear models: src/sim/closed_form_test.cc).
    const Dataset d =
        Read("ID,TIME,EVID,AMT,CMT,RATE,II,SS\n1,0,1,500,1,0,12,1\n1,4,0,0,2,0,0,0\n", *mm);
    Simulator sim(*mm, {});
    auto out = sim.Run(d, 0, req, {});
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), StatusCode::kUnsupported);
    EXPECT_THAT(out.status().message(), HasSubstr("SS=1"));
    EXPECT_THAT(out.status().message(), HasSubstr("need a linear model"));
    // The same simulator still runs the subject without sensitivities.
    req.sensitivities = false;
    EXPECT_TRUE(sim.Run(d, 0, req, {}).ok());
    req.sensitivities = true;
  }
}

// Sensitivities do not change the trajectory: with and without them the predictions agree to
// the integrator's tolerance on the ODE path (pk1cmt_mm) and exactly on the closed-form path
// (pk2cmt), and a simulator alternates between the two.
TEST(Sensitivity, PredictionsAreTheSameWithAndWithoutSensitivities) {
  for (const char* name : {"pk1cmt_mm", "pk2cmt"}) {
    SCOPED_TRACE(name);
    auto m = Make(name);
    const Dataset d = Read(
        "ID,TIME,EVID,AMT,CMT,RATE,II,ADDL\n1,0,1,500,1,0,12,3\n1,3,0,0,2,0,0,0\n"
        "1,14,1,300,2,100,0,0\n1,30,0,0,2,0,0,0\n",
        *m);
    Simulator sim(*m, {});
    OutputRequest with, without;
    with.sensitivities = true;
    const std::vector<double> eta = {0.1, 0.2};
    auto a = sim.Run(d, 0, without, {{}, eta});
    auto b = sim.Run(d, 0, with, {{}, eta});
    auto c = sim.Run(d, 0, without, {{}, eta});
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    const bool closed_form = b->summary.path == SimPath::kClosedForm;
    EXPECT_EQ(closed_form, std::string(name) == "pk2cmt");
    ASSERT_EQ(a->observables.size(), b->observables.size());
    for (size_t i = 0; i < a->observables.size(); ++i) {
      const double tol = closed_form ? 0.0 : 1e-6 * std::fabs(a->observables[i]);
      EXPECT_NEAR(b->observables[i], a->observables[i], tol);
      EXPECT_EQ(c->observables[i], a->observables[i]);  // the workspace is reset exactly
    }
    EXPECT_TRUE(a->observable_sensitivities.empty());
    EXPECT_EQ(a->num_sensitivities, 0);
    EXPECT_EQ(b->num_sensitivities, 2);
  }
}

}  // namespace
}  // namespace medtwin
