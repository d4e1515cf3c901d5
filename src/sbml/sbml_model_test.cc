// SBML importer tests: the same model as a built-in and from SBML, events, and bad input.
#include "medtwin/sbml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "medtwin/dataset.h"
#include "medtwin/simulator.h"

namespace medtwin {
namespace {

using ::testing::HasSubstr;

const std::string kExample = std::string(MEDTWIN_SOURCE_DIR) + "/examples/pk2cmt.xml";

std::string Wrap(const std::string& body) {
  return "<?xml version='1.0' encoding='UTF-8'?>\n"
         "<sbml xmlns='http://www.sbml.org/sbml/level3/version2/core' level='3' version='2'>\n"
         "<model id='m'>" +
         body + "</model></sbml>";
}

const char* kMath = "<math xmlns='http://www.w3.org/1998/Math/MathML'>";

SimOutput Simulate(const Model& m, const std::string& csv, const std::vector<double>& times,
                   const std::vector<double>& theta = {}) {
  auto data = ReadDataset(csv, m);
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  SimOptions o;
  o.path = SimPath::kOde;
  Simulator sim(m, o);
  OutputRequest r;
  r.observation_records = false;
  r.times_h = times;
  auto out = sim.Run(*data, 0, r, {theta, {}});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return std::move(out).value();
}

// examples/pk2cmt.xml is the built-in pk2cmt written in SBML: same doses, same amounts.
TEST(Sbml, TwoCompartmentModelMatchesTheBuiltIn) {
  auto sbml = LoadSbmlFile(kExample);
  ASSERT_TRUE(sbml.ok()) << sbml.status().ToString();
  auto builtin = MakeModel("pk2cmt");
  ASSERT_TRUE(builtin.ok());
  const std::string csv =
      "ID,TIME,AMT,CMT,RATE,II,ADDL\n1,0,1000,central,1000,12,5\n"
      "1,0,500,depot,0,24,2\n";
  std::vector<double> times;
  for (double t = 0; t <= 72; t += 1) times.push_back(t);
  SimOutput a = Simulate(**sbml, csv, times);
  SimOutput b = Simulate(**builtin, csv, times);
  const auto& sa = (*sbml)->spec();
  const auto& sb = (*builtin)->spec();
  const std::vector<std::pair<std::string, std::string>> same = {
      {"depot", "depot"}, {"central", "central"}, {"periph", "periph1"}};
  for (const auto& [state, builtin_state] : same) {
    const int ia = sa.StateIndex(state), ib = sb.StateIndex(builtin_state);
    ASSERT_GE(ia, 0);
    ASSERT_GE(ib, 0);
    for (size_t r = 0; r < times.size(); ++r) {
      const double x = b.states[r * sb.states.size() + ib];
      EXPECT_NEAR(a.states[r * sa.states.size() + ia], x, 1e-6 * std::fabs(x) + 1e-9)
          << state << " t=" << times[r];
    }
  }
  auto cp = (*sbml)->Probe("CP", SbmlQuantity::kNatural);
  ASSERT_TRUE(cp.ok());
  std::vector<double> p;
  for (const auto& ps : sa.parameters) p.push_back(ps.typical);
  const double central = a.states[24 * sa.states.size() + sa.StateIndex("central")];
  EXPECT_NEAR((*cp)(24.0, &a.states[24 * sa.states.size()], p.data()), central / 50.0, 1e-12);
}

// An event halves S when it crosses 5 (S grows linearly at 1/h from 0): at t = 5 h it drops to
// 2.5, reaches 5 again at t = 7.5 h, and so on.
TEST(Sbml, EventsFireAtTheirTriggerCrossing) {
  const std::string xml = Wrap(
      "<listOfParameters><parameter id='S' value='0' constant='false'/></listOfParameters>"
      "<listOfRules><rateRule variable='S'>" +
      std::string(kMath) +
      "<cn>1</cn></math></rateRule></listOfRules>"
      "<listOfEvents><event id='halve' useValuesFromTriggerTime='true'>"
      "<trigger initialValue='false' persistent='true'>" +
      kMath +
      "<apply><geq/><ci>S</ci><cn>5</cn></apply></math></trigger>"
      "<listOfEventAssignments><eventAssignment variable='S'>" +
      kMath +
      "<apply><divide/><ci>S</ci><cn>2</cn></apply></math></eventAssignment>"
      "</listOfEventAssignments></event></listOfEvents>");
  auto m = LoadSbmlString(xml);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  SimOutput out = Simulate(**m, "ID,TIME,EVID\n1,0,2\n", {4.0, 6.0, 7.0, 8.0});
  EXPECT_NEAR(out.states[0], 4.0, 1e-6);
  EXPECT_NEAR(out.states[1], 3.5, 1e-6);
  EXPECT_NEAR(out.states[2], 4.5, 1e-6);
  EXPECT_NEAR(out.states[3], 3.0, 1e-6);  // second firing at 7.5 h: 2.5 + 0.5
}

TEST(Sbml, EventsThatFireEndlesslyAreANumericalError) {
  const std::string xml = Wrap(
      "<listOfParameters><parameter id='x' value='0' constant='false'/></listOfParameters>"
      "<listOfEvents>"
      "<event id='up' useValuesFromTriggerTime='true'><trigger initialValue='false' "
      "persistent='true'>" +
      std::string(kMath) +
      "<apply><lt/><ci>x</ci><cn>1</cn></apply></math></trigger>"
      "<listOfEventAssignments><eventAssignment variable='x'>" +
      kMath +
      "<cn>2</cn></math></eventAssignment></listOfEventAssignments></event>"
      "<event id='down' useValuesFromTriggerTime='true'><trigger initialValue='false' "
      "persistent='true'>" +
      kMath +
      "<apply><gt/><ci>x</ci><cn>1</cn></apply></math></trigger>"
      "<listOfEventAssignments><eventAssignment variable='x'>" +
      kMath +
      "<cn>0</cn></math></eventAssignment></listOfEventAssignments></event>"
      "</listOfEvents>");
  auto m = LoadSbmlString(xml);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto data = ReadDataset("ID,TIME,EVID\n1,0,2\n", **m);
  ASSERT_TRUE(data.ok());
  Simulator sim(**m, {});
  auto out = sim.Run(*data, 0, {});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kNumerical);
  EXPECT_THAT(out.status().message(), HasSubstr("fires endlessly"));
}

TEST(Sbml, BadInputIsRefusedWithTheElementNamed) {
  struct Case {
    std::string xml;
    StatusCode code;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"<sbml><model", StatusCode::kInvalidArgument, "not valid SBML"},
      {"", StatusCode::kInvalidArgument, "not valid SBML"},
      {Wrap("<listOfParameters><parameter id='k' value='1' constant='true'/>"
            "<parameter id='k' value='2' constant='true'/></listOfParameters>"),
       StatusCode::kInvalidArgument, "k"},
      {Wrap("<listOfParameters><parameter id='x' value='1' constant='false'/></listOfParameters>"
            "<listOfRules><algebraicRule>" +
            std::string(kMath) + "<ci>x</ci></math></algebraicRule></listOfRules>"),
       StatusCode::kUnsupported, "AlgebraicRule"},
      {Wrap("<listOfParameters><parameter id='x' value='1' constant='true'/>"
            "<parameter id='y' value='1' constant='false'/></listOfParameters>"
            "<listOfRules><assignmentRule variable='y'>" +
            std::string(kMath) +
            "<apply><csymbol encoding='text' "
            "definitionURL='http://www.sbml.org/sbml/symbols/delay'>delay</csymbol>"
            "<ci>x</ci><cn>-1</cn></apply></math></assignmentRule></listOfRules>"),
       StatusCode::kInvalidArgument, "assignment rule for 'y': delay() by -1"},
      {Wrap("<listOfParameters><parameter id='x' value='1' constant='false'/></listOfParameters>"
            "<listOfRules><assignmentRule variable='x'>" +
            std::string(kMath) + "<ci>nosuch</ci></math></assignmentRule></listOfRules>"),
       StatusCode::kInvalidArgument, "nosuch"},
  };
  for (const auto& c : cases) {
    auto m = LoadSbmlString(c.xml);
    ASSERT_FALSE(m.ok()) << c.xml;
    EXPECT_EQ(m.status().code(), c.code) << m.status().ToString();
    EXPECT_THAT(m.status().message(), HasSubstr(c.fragment)) << m.status().ToString();
  }
  auto missing = LoadSbmlFile("/nonexistent/model.xml");
  EXPECT_FALSE(missing.ok());
}

// delay(): an assignment rule echoing a ramp, and a delay differential equation
// dS/dt = -k S(t - tau) solved by the method of steps: S = 1 - k t on [0, tau], then
// S = (1 - k tau) - k (t - tau) + k^2 (t - tau)^2 / 2 on [tau, 2 tau]; before the start S
// and x keep their initial values (SBML L3V2 section 3.4.7).
TEST(Sbml, DelayReadsTheRecordedPast) {
  const std::string delay_of =
      "<apply><csymbol encoding='text' "
      "definitionURL='http://www.sbml.org/sbml/symbols/delay'>delay</csymbol>";
  const std::string xml = Wrap(
      "<listOfCompartments><compartment id='c' size='1' constant='true'/>"
      "</listOfCompartments><listOfSpecies><species id='S' compartment='c' initialAmount='1' "
      "hasOnlySubstanceUnits='true' boundaryCondition='false' constant='false'/>"
      "</listOfSpecies><listOfParameters><parameter id='x' value='0' constant='false'/>"
      "<parameter id='y' value='0' constant='false'/>"
      "<parameter id='k' value='0.5' constant='true'/>"
      "<parameter id='tau' value='1' constant='true'/></listOfParameters>"
      "<listOfRules><rateRule variable='x'>" +
      std::string(kMath) + "<cn>1</cn></math></rateRule><assignmentRule variable='y'>" + kMath +
      delay_of +
      "<ci>x</ci><ci>tau</ci></apply></math></assignmentRule>"
      "</listOfRules><listOfReactions><reaction id='J' reversible='false'><listOfReactants>"
      "<speciesReference species='S' stoichiometry='1' constant='true'/></listOfReactants>"
      "<kineticLaw>" +
      kMath + "<apply><times/><ci>k</ci>" + delay_of +
      "<ci>S</ci><ci>tau</ci></apply></apply></math></kineticLaw></reaction></listOfReactions>");
  auto m = LoadSbmlString(xml);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE((*m)->reads_history());
  auto data = ReadDataset("ID,TIME,EVID\n1,0,2\n", **m);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  OutputRequest r;
  r.observation_records = false;
  for (double t = 0; t <= 2.0001; t += 0.25) r.times_h.push_back(t);
  for (const char* id : {"y", "S"}) {
    auto probe = (*m)->Probe(id, SbmlQuantity::kNatural);
    ASSERT_TRUE(probe.ok());
    r.probes.push_back(*probe);
  }
  SimOptions o;
  o.rtol = 1e-10;
  o.atol = 1e-12;
  Simulator sim(**m, o);
  auto out = sim.Run(*data, 0, r);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->rows(), r.times_h.size());
  const double k = 0.5, tau = 1.0;
  for (size_t i = 0; i < out->rows(); ++i) {
    const double t = out->time_h[i];
    const double y = out->probes[2 * i], s = out->probes[2 * i + 1];
    EXPECT_NEAR(y, std::max(0.0, t - tau), 1e-8) << "t=" << t;
    const double u = t - tau;
    const double exact = t <= tau ? 1.0 - k * t : (1.0 - k * tau) - k * u + k * k * u * u / 2.0;
    EXPECT_NEAR(s, exact, 1e-7) << "t=" << t;
  }
  // Steady-state dosing would need the past its own cycles produce: refused, with the reason.
  auto ss = ReadDataset("ID,TIME,AMT,CMT,SS,II\n1,0,1,S,1,12\n", **m);
  ASSERT_TRUE(ss.ok()) << ss.status().ToString();
  auto refused = sim.Run(*ss, 0, r);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(refused.status().message(), HasSubstr("delay"));
  // The simulator lends every run the same history storage: a run after another with a
  // different past reads only its own.
  auto dosed = ReadDataset("ID,TIME,AMT,CMT\n1,0,5,S\n", **m);
  ASSERT_TRUE(dosed.ok()) << dosed.status().ToString();
  auto other = sim.Run(*dosed, 0, r);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_NE(other->probes[2 * 4 + 1], out->probes[2 * 4 + 1]);
  auto again = sim.Run(*data, 0, r);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->probes, out->probes);
}

// Division by zero follows IEEE (the SBML Test Suite expects inf); a state that becomes
// non-finite stops the simulation with the element's id.
TEST(Sbml, NonFiniteStateNamesTheElement) {
  const std::string xml = Wrap(
      "<listOfParameters><parameter id='zero' value='0' constant='true'/>"
      "<parameter id='y' value='1' constant='false'/></listOfParameters>"
      "<listOfRules><rateRule variable='y'>" +
      std::string(kMath) +
      "<apply><divide/><cn>1</cn><ci>zero</ci></apply></math></rateRule></listOfRules>");
  auto m = LoadSbmlString(xml);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto data = ReadDataset("ID,TIME,EVID\n1,0,2\n1,1,2\n", **m);
  ASSERT_TRUE(data.ok());
  Simulator sim(**m, {});
  auto out = sim.Run(*data, 0, {});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kNumerical);
}

}  // namespace
}  // namespace medtwin
