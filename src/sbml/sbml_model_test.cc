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
            "<ci>x</ci><cn>1</cn></apply></math></assignmentRule></listOfRules>"),
       StatusCode::kUnsupported, "delay"},
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
