#include "medtwin/dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace medtwin {
namespace {

using ::testing::HasSubstr;

// A small stand-in model, independent of the registry: depot -> central <-> periph, with a
// modelled duration D2 for the central compartment, an optional covariate WT (1-300 kg) and an
// optional covariate ALB that may be missing. `strict` makes WT required.
ModelSpec TestSpec(bool strict) {
  ModelSpec spec;
  spec.name = strict ? "test3strict" : "test3";
  spec.states = {
      {"depot", "mg", "", true}, {"central", "mg", "", true}, {"periph", "mg", "", false}};
  for (const char* name : {"KA", "CL", "V", "D2"}) {
    ParameterSpec p;
    p.name = name;
    p.typical = 1.0;
    spec.parameters.push_back(p);
  }
  CovariateSpec wt{"WT", "kg", "body weight", 70.0, strict, false, 1.0, 300.0};
  CovariateSpec alb{"ALB", "g/L", "albumin", 40.0, false, true, 5.0, 80.0};
  spec.covariates = {wt, alb};
  spec.default_dose_state = 0;
  return spec;
}

class TestModel : public Model {
 public:
  explicit TestModel(bool strict = false) : Model(TestSpec(strict)) {}
  void Rhs(double, const double*, const double*, double* dxdt) const override {
    dxdt[0] = dxdt[1] = dxdt[2] = 0.0;
  }
  void Observe(double, const double* x, const double*, double* y) const override {}
};

const TestModel& Loose() {
  static const TestModel m(false);
  return m;
}
const TestModel& Strict() {
  static const TestModel m(true);
  return m;
}

Dataset MustRead(const std::string& csv, const Model& model = Loose()) {
  Result<Dataset> r = ReadDataset(csv, model);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : Dataset{};
}

// ---------------------------------------------------------------------------------------------
// Valid input.

TEST(DatasetTest, ReadsNmtestsDosingSuite) {
  const std::string path = std::string(MEDTWIN_SHARED_DATA) + "/nmtests-dosing/1001.csv";
  Result<Dataset> r = ReadDatasetFile(path, Loose());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Dataset& ds = *r;
  ASSERT_EQ(ds.subjects.size(), 29u);
  size_t n = 0;
  for (const Subject& s : ds.subjects) n += s.records.size();
  EXPECT_EQ(n, 3837u);
  EXPECT_EQ(ds.subjects[0].id, "1");
  EXPECT_EQ(ds.subjects[28].id, "29");
  // Line 2: ".,1,0,1,100,1,0,24,3,0,..." a bolus into the depot with 3 additional doses.
  const Record& first = ds.subjects[0].records[0];
  EXPECT_EQ(first.line, 2);
  EXPECT_EQ(first.evid, Evid::kDose);
  EXPECT_EQ(first.state, 0);
  EXPECT_DOUBLE_EQ(first.amt, 100);
  EXPECT_DOUBLE_EQ(first.ii_h, 24);
  EXPECT_EQ(first.addl, 3);
  // DV is "." everywhere and there is no MDV column: every observation is missing.
  const Record& obs = ds.subjects[0].records[1];
  EXPECT_EQ(obs.evid, Evid::kObservation);
  EXPECT_TRUE(obs.mdv);
  EXPECT_EQ(obs.state, 1);
  // Subject 29 is a steady-state infusion: AMT=0, RATE=100, SS=1, II=0 (line 3707).
  const Record& ssinf = ds.subjects[28].records[0];
  EXPECT_EQ(ssinf.line, 3707);
  EXPECT_EQ(ssinf.ss, 1);
  EXPECT_DOUBLE_EQ(ssinf.amt, 0);
  EXPECT_DOUBLE_EQ(ssinf.rate, 100);
  // No dose-modifier columns (LAGT, BIOAV, DUR2, RAT2 are not Fn/ALAGn/Rn/Dn names); WT absent.
  EXPECT_TRUE(ds.modifier_columns.empty());
  EXPECT_EQ(ds.covariate_present, std::vector<bool>({false, false}));
  EXPECT_DOUBLE_EQ(first.covariates[0], 70.0);  // the reference value
}

TEST(DatasetTest, ReadsNmtestsEventTypesAndModelledDuration) {
  const std::string path = std::string(MEDTWIN_SHARED_DATA) + "/nmtests-dosing/1001.csv";
  Result<Dataset> r = ReadDatasetFile(path, Loose());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  int resets = 0, reset_doses = 0, modelled_duration = 0;
  for (const Subject& s : r->subjects) {
    for (const Record& rec : s.records) {
      resets += rec.evid == Evid::kReset;
      reset_doses += rec.evid == Evid::kResetDose;
      modelled_duration += rec.IsDose() && rec.rate == -2;
    }
  }
  EXPECT_EQ(resets, 2);
  EXPECT_EQ(reset_doses, 8);
  EXPECT_EQ(modelled_duration, 3);
}

TEST(DatasetTest, ColumnNamesAreCaseInsensitiveAndOrderFree) {
  Dataset ds = MustRead(
      "wt,Time,id,amt,Evid,cMT,dv\n"
      "80,0,7,100,1,2,.\n"
      "80,1,7,0,0,2,3.5\n");
  ASSERT_EQ(ds.subjects.size(), 1u);
  EXPECT_EQ(ds.subjects[0].id, "7");
  const auto& recs = ds.subjects[0].records;
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].state, 1);
  EXPECT_DOUBLE_EQ(recs[0].covariates[0], 80.0);
  EXPECT_FALSE(recs[1].mdv);
  EXPECT_DOUBLE_EQ(recs[1].dv, 3.5);
  EXPECT_EQ(ds.covariate_present, std::vector<bool>({true, false}));
}

TEST(DatasetTest, SkipsCommentsAndBlankLinesAndToleratesCrlf) {
  Dataset ds = MustRead(
      "# exported by hand\r\n"
      "\r\n"
      "ID,TIME,AMT,DV\r\n"
      "C this row is a comment, with any text\r\n"
      "1,0,100,.\r\n"
      "   \r\n"
      "# another comment\r\n"
      "1,2,0,4.2\r\n");
  ASSERT_EQ(ds.subjects.size(), 1u);
  const auto& recs = ds.subjects[0].records;
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].line, 5);
  EXPECT_EQ(recs[1].line, 8);
  EXPECT_DOUBLE_EQ(recs[1].dv, 4.2);
}

TEST(DatasetTest, IgnoresAUtf8ByteOrderMark) {
  Dataset ds = MustRead("\xEF\xBB\xBFID,TIME,AMT\n1,0,100\n");
  ASSERT_EQ(ds.subjects.size(), 1u);
  EXPECT_EQ(ds.subjects[0].records[0].line, 2);
}

TEST(DatasetTest, AColumnNamedCHoldingDotIsData) {
  Dataset ds = MustRead(
      "C,ID,TIME,AMT\n"
      ".,1,0,100\n"
      "C,1,1,100\n"
      ".,1,2,0\n");
  ASSERT_EQ(ds.subjects.size(), 1u);
  EXPECT_EQ(ds.subjects[0].records.size(), 2u);  // the "C" row is dropped (IGNORE=C)
}

TEST(DatasetTest, AppliesDefaultsWithoutEvidMdvCmt) {
  Dataset ds = MustRead(
      "ID,TIME,AMT,RATE,SS,DV\n"
      "1,0,100,0,0,.\n"   // AMT > 0: a dose into the default dose state
      "1,1,0,0,0,.\n"     // observation, DV missing
      "1,2,0,0,0,2.5\n"   // observation with DV
      "1,3,0,50,1,.\n");  // RATE != 0: a dose (a steady-state infusion)
  const auto& r = ds.subjects.at(0).records;
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].evid, Evid::kDose);
  EXPECT_EQ(r[0].state, 0);
  EXPECT_TRUE(r[0].mdv);
  EXPECT_EQ(r[1].evid, Evid::kObservation);
  EXPECT_EQ(r[1].state, -1);
  EXPECT_TRUE(r[1].mdv);
  EXPECT_FALSE(r[2].mdv);
  EXPECT_DOUBLE_EQ(r[2].dv, 2.5);
  EXPECT_EQ(r[3].evid, Evid::kDose);
  EXPECT_DOUBLE_EQ(r[3].rate, 50);
}

TEST(DatasetTest, ReadsQuotedFieldsAndKeepsIdText) {
  Dataset ds = MustRead(
      "\"ID\",\"TIME\",\"AMT\",NOTE\n"
      "\" 1 \",0,100,\"bolus, oral\"\n"
      "  1  ,1,0,\"said \"\"ok\"\"\"\n"
      "1.0,0,100,x\n");
  ASSERT_EQ(ds.subjects.size(), 2u);
  EXPECT_EQ(ds.subjects[0].id, "1");  // spaces around an ID are trimmed, quoted or not
  EXPECT_EQ(ds.subjects[0].records.size(), 2u);
  EXPECT_EQ(ds.subjects[1].id, "1.0");
}

TEST(DatasetTest, IdsAreTextSoOneAndOnePointZeroDiffer) {
  Dataset ds = MustRead("ID,TIME,AMT\n1,0,100\n1.0,0,100\n");
  ASSERT_EQ(ds.subjects.size(), 2u);
  EXPECT_EQ(ds.subjects[0].id, "1");
  EXPECT_EQ(ds.subjects[1].id, "1.0");
}

TEST(DatasetTest, CmtByNameAndCompartmentOff) {
  Dataset ds = MustRead(
      "ID,TIME,AMT,EVID,CMT\n"
      "1,0,100,1,Central\n"
      "1,1,0,2,-2\n"
      "1,2,0,0,periph\n"
      "1,3,50,1,0\n");  // CMT 0: the default dose state
  const auto& r = ds.subjects.at(0).records;
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].state, 1);
  EXPECT_FALSE(r[0].state_off);
  EXPECT_EQ(r[1].state, 1);
  EXPECT_TRUE(r[1].state_off);
  EXPECT_EQ(r[2].state, 2);
  EXPECT_EQ(r[3].state, 0);
}

TEST(DatasetTest, DvidNamesTheObservableAndCensMarksLevelsBelowTheLimit) {
  const std::unique_ptr<Model> pk = std::move(MakeModel("pk1cmt")).value();
  Dataset ds = MustRead(
      "ID,TIME,AMT,EVID,DV,DVID,CENS\n"
      "1,0,100,1,.,.,.\n"
      "1,1,0,0,5,CP,0\n"
      "1,2,0,0,0.5,1,1\n"
      "1,3,0,0,4,.,\n",
      *pk);
  const auto& r = ds.subjects.at(0).records;
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[1].observable, 0);
  EXPECT_FALSE(r[1].censored);
  EXPECT_EQ(r[2].observable, 0);
  EXPECT_TRUE(r[2].censored);
  EXPECT_DOUBLE_EQ(r[2].dv, 0.5);
  EXPECT_EQ(r[3].observable, 0);
  EXPECT_FALSE(r[3].censored);
  const std::string head = "ID,TIME,AMT,EVID,DV,DVID\n1,0,100,1,.,.\n";
  auto unknown = ReadDataset(head + "1,1,0,0,3,AUC\n", *pk);
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("line 3, column DVID: no observable 'AUC' in model 'pk1cmt' "
                        "(observables: CP)"));
  auto number = ReadDataset(head + "1,1,0,0,3,2\n", *pk);
  ASSERT_FALSE(number.ok());
  EXPECT_THAT(number.status().message(),
              HasSubstr("line 3, column DVID: no observable number 2; model 'pk1cmt' has 1..1"));
  // Beyond int's range (fuzz/dataset_fuzz.cc): the same message, no undefined conversion.
  auto huge = ReadDataset(head + "1,1,0,0,3,6666666666666666666666666661\n", *pk);
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(huge.status().message(), HasSubstr("column DVID: no observable number"));
  auto negative = ReadDataset(head + "1,1,0,0,3,-1e300\n", *pk);
  ASSERT_FALSE(negative.ok());
  EXPECT_THAT(negative.status().message(), HasSubstr("column DVID: no observable number"));
}

TEST(DatasetTest, ReadsModifierColumns) {
  Dataset ds = MustRead(
      "ID,TIME,AMT,CMT,RATE,F1,alag1,R2,D2\n"
      "1,0,100,1,0,0.8,0.5,.,.\n"
      "1,1,100,2,-1,.,.,25,.\n"
      "1,2,100,2,-2,.,.,.,3\n");
  ASSERT_EQ(ds.modifier_columns.size(), 4u);
  EXPECT_EQ(ds.modifier_columns[0].kind, ModifierKind::kBioavailability);
  EXPECT_EQ(ds.modifier_columns[0].state, 0);
  EXPECT_EQ(ds.modifier_columns[1].kind, ModifierKind::kLag);
  EXPECT_EQ(ds.modifier_columns[1].column, "alag1");
  EXPECT_EQ(ds.modifier_columns[2].kind, ModifierKind::kRate);
  EXPECT_EQ(ds.modifier_columns[2].state, 1);
  EXPECT_EQ(ds.modifier_columns[3].kind, ModifierKind::kDuration);
  const auto& r = ds.subjects.at(0).records;
  EXPECT_DOUBLE_EQ(r[0].modifiers[0], 0.8);
  EXPECT_DOUBLE_EQ(r[0].modifiers[1], 0.5);
  EXPECT_TRUE(std::isnan(r[0].modifiers[2]));
  EXPECT_DOUBLE_EQ(r[1].modifiers[2], 25);
  EXPECT_DOUBLE_EQ(r[2].modifiers[3], 3);
}

TEST(DatasetTest, CovariatesThatMayBeMissingReadAsNaN) {
  Dataset ds = MustRead("ID,TIME,AMT,WT,ALB\n1,0,100,72.5,.\n1,4,0,73,35\n");
  const auto& r = ds.subjects.at(0).records;
  EXPECT_DOUBLE_EQ(r[0].covariates[0], 72.5);
  EXPECT_TRUE(std::isnan(r[0].covariates[1]));
  EXPECT_DOUBLE_EQ(r[1].covariates[1], 35);
  EXPECT_EQ(ds.covariate_present, std::vector<bool>({true, true}));
}

TEST(DatasetTest, CovariateRuleStrings) {
  EXPECT_STREQ(ToString(CovariateRule::kNocb), "nocb");
  EXPECT_STREQ(ToString(CovariateRule::kLocf), "locf");
  EXPECT_EQ(*CovariateRuleFromString("nocb"), CovariateRule::kNocb);
  EXPECT_EQ(*CovariateRuleFromString("locf"), CovariateRule::kLocf);
  Result<CovariateRule> bad = CovariateRuleFromString("linear");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("'linear'"));
}

TEST(DatasetTest, OptionsValidateNamesTheBadOption) {
  DatasetOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.max_bytes = 0;
  EXPECT_THAT(o.Validate().message(), HasSubstr("max_bytes"));
  o = DatasetOptions();
  o.max_records = 0;
  EXPECT_THAT(o.Validate().message(), HasSubstr("max_records"));
  o = DatasetOptions();
  o.source_name = "";
  Result<Dataset> r = ReadDataset("ID,TIME\n1,0\n", Loose(), o);
  EXPECT_THAT(r.status().message(), HasSubstr("source_name"));
}

TEST(DatasetTest, MissingFileIsNotFoundWithThePath) {
  const std::string path = std::string(MEDTWIN_BINARY_DIR) + "/no/such/dataset.csv";
  Result<Dataset> r = ReadDatasetFile(path, Loose());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr(path));
}

TEST(DatasetTest, DirectoryIsInvalidWithThePath) {
  Result<Dataset> r = ReadDatasetFile(MEDTWIN_BINARY_DIR, Loose());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(MEDTWIN_BINARY_DIR));
}

TEST(DatasetTest, FileErrorsArePrefixedWithThePath) {
  const std::string path = std::string(MEDTWIN_BINARY_DIR) + "/dataset_test_bad.csv";
  std::ofstream(path) << "ID,TIME,AMT\n1,0,100\n1,x,0\n";
  Result<Dataset> r = ReadDatasetFile(path, Loose());
  std::filesystem::remove(path);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr(path + " line 3, column TIME: not a number"));
}

// ---------------------------------------------------------------------------------------------
// Malformed input: one table, one row per case. Each case differs from a valid dataset in one
// place; the message must name the line, the column and the problem.

constexpr char kHeader[] = "ID,TIME,AMT,EVID,CMT,RATE,II,ADDL,SS,MDV,DV,WT\n";
constexpr char kDose[] = "1,0,100,1,1,0,0,0,0,1,.,70\n";  // line 2
constexpr char kObs[] = "1,1,0,0,2,0,0,0,0,0,5.5,70\n";   // line 3 when after kDose

struct BadCase {
  std::string name;
  std::string csv;
  StatusCode code;
  std::vector<std::string> expected;  // substrings of the message
  bool strict = false;                // use the model with a required WT
  size_t max_bytes = DatasetOptions().max_bytes;
  size_t max_records = DatasetOptions().max_records;
};

std::string Std(const std::string& rows) { return std::string(kHeader) + rows; }

const StatusCode kInv = StatusCode::kInvalidArgument;
const StatusCode kNf = StatusCode::kNotFound;
const StatusCode kUns = StatusCode::kUnsupported;

std::vector<BadCase> BadCases() {
  const std::string d = kDose;
  return {
      {"TimeTrailingGarbage",
       Std("1,12abc,100,1,1,0,0,0,0,1,.,70\n"),
       kInv,
       {"test line 2, column TIME", "not a number", "'12abc'"}},
      {"TimeNaN",
       Std("1,nan,100,1,1,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column TIME", "not a finite number", "'nan'"}},
      {"AmtInfinite",
       Std("1,0,inf,1,1,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column AMT", "not a finite number"}},
      {"AmtOverflow",
       Std("1,0,1e999,1,1,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column AMT", "not a finite number"}},
      {"TimeMissing",
       Std("1,.,100,1,1,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column TIME", "missing value", "TIME is required"}},
      {"IdMissing",
       Std(",0,100,1,1,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column ID", "missing value"}},
      {"TimeNegative",
       Std("1,-1,100,1,1,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column TIME", "TIME must be >= 0", "'-1'"}},
      {"TimeDecreases",
       Std(d + "1,5,0,0,2,0,0,0,0,1,.,70\n1,4,0,0,2,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 4, column TIME", "TIME decreases within subject '1'", "line 3", "'4'"}},
      {"EvidOutOfSet",
       Std("1,0,100,7,1,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column EVID", "EVID must be 0, 1, 2, 3 or 4", "'7'"}},
      {"EvidNotWhole",
       Std("1,0,100,1.5,1,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column EVID", "not a whole number"}},
      {"AmtNegative",
       Std("1,0,-100,1,1,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column AMT", "AMT must be >= 0", "'-100'"}},
      {"AmtZeroDose",
       Std("1,0,0,1,1,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column AMT", "a dose needs AMT > 0", "steady-state infusion"}},
      {"AmtZeroSsInfusionWithInterval",
       Std("1,0,0,1,2,50,12,0,1,1,.,70\n"),
       kInv,
       {"line 2, column AMT", "AMT=0 is allowed only for a steady-state infusion"}},
      {"AmtMissingOnDose",
       Std("1,0,.,1,1,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column AMT", "missing value", "EVID 1"}},
      {"AmtColumnAbsent", "ID,TIME,EVID\n1,0,1\n", kNf, {"line 2, column AMT", "no AMT column"}},
      {"CmtOutOfRange",
       Std("1,0,100,1,5,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column CMT", "no compartment with this number", "states 1..3", "'5'"}},
      {"CmtNotWhole",
       Std("1,0,100,1,1.5,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column CMT", "not a whole number"}},
      {"CmtUnknownName",
       Std("1,0,100,1,liver,0,0,0,0,1,.,70\n"),
       kNf,
       {"line 2, column CMT", "no state with this name", "model 'test3'", "'liver'"}},
      {"DoseIntoNonDosableState",
       Std("1,0,100,1,periph,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column CMT", "state 3 'periph'", "does not accept doses"}},
      {"NegativeCmtOnDose",
       Std("1,0,100,1,-2,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column CMT", "only on EVID 2"}},
      {"RateNegative",
       Std("1,0,100,1,1,-3,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column RATE", "RATE must be > 0", "'-3'"}},
      {"RateMinus1WithoutModelledRate",
       Std("1,0,100,1,2,-1,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column RATE", "RATE=-1 needs a modelled rate", "R2", "model 'test3' has none"}},
      {"RateMinus2WithoutModelledDuration",
       Std("1,0,100,1,1,-2,0,0,0,1,.,70\n"),
       kInv,
       {"line 2, column RATE", "RATE=-2 needs a modelled duration", "D1"}},
      {"RateMinus1ColumnMissingOnRow",
       "ID,TIME,AMT,CMT,RATE,R2\n1,0,100,2,-1,.\n",
       kInv,
       {"line 2, column R2", "R2 is missing on this record", "no parameter R2"}},
      {"IiNegative",
       Std("1,0,100,1,1,0,-12,0,0,1,.,70\n"),
       kInv,
       {"line 2, column II", "II must be >= 0"}},
      {"AddlNegativeIsUnsupported",
       Std("1,0,100,1,1,0,12,-1,0,1,.,70\n"),
       kUns,
       {"line 2, column ADDL", "negative ADDL", "empirical steady state", "not supported"}},
      {"AddlWithoutInterval",
       Std("1,0,100,1,1,0,0,3,0,1,.,70\n"),
       kInv,
       {"line 2, column ADDL", "need a dosing interval II > 0", "'3'"}},
      {"SsOutOfSet",
       Std("1,0,100,1,1,0,12,0,4,1,.,70\n"),
       kInv,
       {"line 2, column SS", "SS must be 0, 1 or 2", "'4'"}},
      {"Ss3IsUnsupported",
       Std("1,0,100,1,1,0,12,0,3,1,.,70\n"),
       kUns,
       {"line 2, column SS", "SS=3", "not supported"}},
      {"SsWithoutInterval",
       Std("1,0,100,1,1,0,0,0,1,1,.,70\n"),
       kInv,
       {"line 2, column SS", "steady-state dose needs a dosing interval II > 0"}},
      {"SsOnObservation",
       Std(d + "1,1,0,0,2,0,0,0,1,1,.,70\n"),
       kInv,
       {"line 3, column SS", "EVID 0", "dose records"}},
      {"AmtOnObservation",
       Std(d + "1,1,100,0,2,0,0,0,0,1,.,70\n"),
       kInv,
       {"line 3, column AMT", "AMT is set on a record with EVID 0"}},
      {"AddlOnOtherEvent",
       Std(d + "1,1,0,2,2,0,0,2,0,1,.,70\n"),
       kInv,
       {"line 3, column ADDL", "EVID 2", "must be 0 or empty"}},
      {"TimeRestartAtResetIsUnsupported",
       Std(d + "1,5,0,0,2,0,0,0,0,1,.,70\n1,0,0,3,.,0,0,0,0,1,.,70\n"),
       kUns,
       {"line 4, column TIME", "TIME decreases", "reset record (EVID 3/4) is not supported"}},
      {"MdvNotBinary",
       Std(d + "1,1,0,0,2,0,0,0,0,2,5.5,70\n"),
       kInv,
       {"line 3, column MDV", "MDV must be 0 or 1", "'2'"}},
      {"MdvZeroOnDose",
       Std("1,0,100,1,1,0,0,0,0,0,.,70\n"),
       kInv,
       {"line 2, column MDV", "MDV=0 on a record with EVID 1"}},
      {"DvMissingWithMdv0",
       Std(d + "1,1,0,0,2,0,0,0,0,0,.,70\n"),
       kInv,
       {"line 3, column DV", "missing DV", "MDV=0", "'.'"}},
      {"DvNotNumeric",
       Std(d + "1,1,0,0,2,0,0,0,0,0,BLQ,70\n"),
       kInv,
       {"line 3, column DV", "not a number", "'BLQ'"}},
      {"CovariateMissing",
       Std(d + "1,1,0,0,2,0,0,0,0,0,5.5,.\n"),
       kInv,
       {"line 3, column WT", "missing value for covariate WT"}},
      {"CovariateNotNumeric",
       Std(d + "1,1,0,0,2,0,0,0,0,0,5.5,70kg\n"),
       kInv,
       {"line 3, column WT", "not a number", "'70kg'"}},
      {"CovariateOutOfRange",
       Std(d + "1,1,0,0,2,0,0,0,0,0,5.5,500\n"),
       kInv,
       {"line 3, column WT", "outside the plausible range [1, 300] kg", "'500'"}},
      {"RequiredCovariateColumnAbsent",
       "ID,TIME,AMT\n1,0,100\n",
       kNf,
       {"line 1", "no WT column", "required by model 'test3strict'"},
       true},
      {"IdNotContiguous",
       Std(d + "2,0,100,1,1,0,0,0,0,1,.,70\n" + d),
       kInv,
       {"line 4, column ID", "subject '1'", "line 2", "contiguous"}},
      {"FNegative",
       "ID,TIME,AMT,F1\n1,0,100,-0.5\n",
       kInv,
       {"line 2, column F1", "bioavailability F must be >= 0", "'-0.5'"}},
      {"FNotNumeric", "ID,TIME,AMT,F1\n1,0,100,abc\n", kInv, {"line 2, column F1", "not a number"}},
      {"AlagNegative",
       "ID,TIME,AMT,ALAG1\n1,0,100,-1\n",
       kInv,
       {"line 2, column ALAG1", "lag time ALAG must be >= 0"}},
      {"ModelledRateNotPositive",
       "ID,TIME,AMT,CMT,RATE,R2\n1,0,100,2,-1,0\n",
       kInv,
       {"line 2, column R2", "modelled rate", "must be > 0"}},
      {"ModelledDurationNotPositive",
       "ID,TIME,AMT,CMT,RATE,D2\n1,0,100,2,-2,-4\n",
       kInv,
       {"line 2, column D2", "modelled duration", "must be > 0"}},
      {"ModifierForMissingState",
       "ID,TIME,AMT,F9\n1,0,100,1\n",
       kInv,
       {"line 1, column F9", "state that does not exist", "states 1..3"}},
      {"DuplicateModifierColumn",
       "ID,TIME,AMT,F1,F01\n1,0,100,1,1\n",
       kInv,
       {"line 1, column F01", "duplicate dose-modifier column", "'F1'"}},
      {"DuplicateColumn",
       "ID,TIME,time\n1,0,0\n",
       kInv,
       {"line 1, column time", "duplicate column", "column 2 'TIME'"}},
      {"EmptyColumnName", "ID,,TIME\n1,0,0\n", kInv, {"line 1", "column 2 has an empty name"}},
      {"TimeColumnAbsent", "ID,AMT\n1,100\n", kNf, {"line 1", "no TIME column"}},
      {"EmptyInput", "", kInv, {"test: empty input"}},
      {"OnlyBlankAndComments", "\n# nothing\n  \n", kInv, {"empty input"}},
      {"HeaderOnly", "ID,TIME,AMT\n\n", kInv, {"no records", "line 1"}},
      {"WrongFieldCount",
       Std(d + "1,1,0,0,2,0,0,0,0,0,5.5\n"),
       kInv,
       {"line 3", "11 fields", "has 12 columns"}},
      {"UnterminatedQuote",
       "ID,TIME,AMT\n\"1,0,100\n",
       kInv,
       {"line 2", "unterminated quoted field"}},
      {"TextAfterQuote",
       "ID,TIME,AMT\n\"1\"x,0,100\n",
       kInv,
       {"line 2", "text after the closing quote of field 1"}},
      {"CensNotZeroOrOne",
       "ID,TIME,AMT,EVID,DV,CENS\n1,0,100,1,.,0\n1,1,0,0,3,-1\n",
       kInv,
       {"line 3, column CENS", "CENS must be 0 or 1"}},
      {"CensOnADose",
       "ID,TIME,AMT,EVID,DV,CENS\n1,0,100,1,.,1\n",
       kInv,
       {"line 2, column CENS", "needs an observation record with a DV"}},
      {"TooManyBytes", Std(d), kInv, {"test: input is", "max_bytes=20"}, false, 20},
      {"TooManyRecords",
       Std(d + d + d),
       kInv,
       {"line 4", "max_records=2"},
       false,
       DatasetOptions().max_bytes,
       2},
  };
}

class BadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInputTest, FailsWithLocatedMessage) {
  const BadCase& c = GetParam();
  DatasetOptions options;
  options.source_name = "test";
  options.max_bytes = c.max_bytes;
  options.max_records = c.max_records;
  Result<Dataset> r = ReadDataset(c.csv, c.strict ? Strict() : Loose(), options);
  ASSERT_FALSE(r.ok()) << "accepted:\n" << c.csv;
  EXPECT_EQ(r.status().code(), c.code) << r.status().ToString();
  for (const std::string& s : c.expected) EXPECT_THAT(r.status().message(), HasSubstr(s));
}

INSTANTIATE_TEST_SUITE_P(Table, BadInputTest, ::testing::ValuesIn(BadCases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return info.param.name;
                         });

// The baseline rows of the table are valid, so each case fails for the reason it names.
TEST(DatasetTest, TableBaselineIsValid) {
  Dataset ds = MustRead(Std(std::string(kDose) + kObs));
  ASSERT_EQ(ds.subjects.size(), 1u);
  EXPECT_EQ(ds.subjects[0].records.size(), 2u);
  Dataset strict = MustRead(Std(std::string(kDose) + kObs), Strict());
  EXPECT_EQ(strict.subjects.size(), 1u);
}

}  // namespace
}  // namespace medtwin
