// End-to-end tests of the medtwin CLI: the real binary, real files, exit codes and messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "medtwin/estimate.h"

namespace {

using ::testing::HasSubstr;

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

std::string TempDir() {
  static const std::string dir = [] {
    auto p =
        std::filesystem::temp_directory_path() / ("medtwin_cli_test_" + std::to_string(getpid()));
    std::filesystem::create_directories(p);
    return p.string();
  }();
  return dir;
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CliRun Medtwin(const std::string& args) {
  const std::string out = TempDir() + "/stdout", err = TempDir() + "/stderr";
  const std::string cmd =
      std::string(MEDTWIN_BINARY_DIR) + "/medtwin " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

TEST(Cli, ModelsListsTheLibrary) {
  CliRun r = Medtwin("models");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* name :
       {"pk1cmt", "pk2cmt", "pk3cmt", "pk1cmt_mm", "vancomycin_goti2018", "t1d_uvapadova"}) {
    EXPECT_THAT(r.out, HasSubstr(name));
  }
  EXPECT_THAT(r.out, HasSubstr("+emax"));
}

TEST(Cli, ModelShowsWhatADatasetNeeds) {
  CliRun r = Medtwin("model vancomycin_goti2018");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"central", "WT", "SCR", "CRCL", "CP", "mg/L", "Goti"}) {
    EXPECT_THAT(r.out, HasSubstr(s));
  }
  CliRun j = Medtwin("model pk2cmt --json");
  EXPECT_EQ(j.exit_code, 0);
  EXPECT_THAT(j.out, HasSubstr("\"parameters\""));
  EXPECT_THAT(j.out, HasSubstr("\"cmt\": 3"));
}

TEST(Cli, SimulateWritesOneRowPerOutputTimeWithObservablesAndStates) {
  const std::string data =
      WriteFile("bolus.csv", "ID,TIME,AMT,CMT,EVID\n1,0,100,2,1\n2,0,200,2,1\n");
  CliRun r = Medtwin("simulate pk1cmt --data " + data + " --param CL=2 --param V=20 --times 0:1:4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string header, line;
  std::getline(lines, header);
  EXPECT_EQ(header, "ID,TIME,CP,depot,central");
  int rows = 0;
  while (std::getline(lines, line)) ++rows;
  EXPECT_EQ(rows, 10);  // 2 IDs x 5 times
  // 100 mg into 20 L, k = 0.1/h: CP(1 h) = 5 exp(-0.1) = 4.524187090 mg/L.
  EXPECT_THAT(r.out, HasSubstr("1,1,4.52418709"));
}

TEST(Cli, SimulateJsonAndOutFile) {
  const std::string data = WriteFile("j.csv", "ID,TIME,AMT,CMT\n1,0,100,2\n1,2,0,.\n");
  const std::string out = TempDir() + "/sim.json";
  CliRun r = Medtwin("simulate pk1cmt --data " + data + " --format json --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string json = Slurp(out);
  EXPECT_THAT(json, HasSubstr("\"subjects\""));
  EXPECT_THAT(json, HasSubstr("\"CP\""));
}

TEST(Cli, UsageErrorsExitWithTwo) {
  const std::string data = WriteFile("ok.csv", "ID,TIME,AMT\n1,0,100\n");
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"simulate nosuchmodel --data " + data, "nosuchmodel"},
      {"simulate pk1cmt --data " + data + " --param XX=1", "XX"},
      {"simulate pk1cmt --data " + data + " --param CL=abc", "CL"},
      {"simulate pk1cmt --data " + data + " --param CL=-1", "CL"},
      {"simulate pk1cmt --data " + data + " --times 0:0:10", "STEP"},
      {"simulate pk1cmt --data " + data + " --rtol 2", "rtol"},
      {"simulate pk1cmt --data " + data + " --method rk4", "rk4"},
      {"simulate pk1cmt --data " + data + " --format xml", "xml"},
      {"simulate pk1cmt --data " + TempDir() + "/missing.csv", "missing.csv"},
      {"simulate pk1cmt_mm --data " + data + " --path closed-form", "closed-form"},
      {"population pk1cmt --data " + data + " --n 0", "n"},
      {"population pk1cmt --data " + data + " --percentiles 50,5", "percentiles"},
      {"simulate pk1cmt", "--data"},
  };
  for (const auto& c : cases) {
    CliRun r = Medtwin(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.args;
    EXPECT_TRUE(r.out.empty()) << c.args;
  }
}

// Malformed datasets: each names the line, the column and the problem, exits 2, prints nothing.
TEST(Cli, MalformedDatasetsNameLineColumnAndProblem) {
  struct Case {
    std::string name, csv;
    std::vector<std::string> expect;
  };
  const std::string h = "ID,TIME,EVID,AMT,CMT,RATE,II,ADDL,SS\n";
  const std::vector<Case> cases = {
      {"missing_time", "ID,AMT\n1,100\n", {"TIME"}},
      {"missing_id", "TIME,AMT\n0,100\n", {"ID"}},
      {"non_numeric_amt", h + "1,0,1,abc,2,0,0,0,0\n", {"line 2", "AMT", "abc"}},
      {"trailing_garbage", h + "1,0,1,100,2,0,12x,0,0\n", {"line 2", "II"}},
      {"negative_time", h + "1,-1,1,100,2,0,0,0,0\n", {"line 2", "TIME"}},
      {"unsorted_time", h + "1,5,1,100,2,0,0,0,0\n1,2,0,0,2,0,0,0,0\n", {"line 3", "TIME"}},
      {"bad_evid", h + "1,0,7,100,2,0,0,0,0\n", {"line 2", "EVID", "7"}},
      {"unknown_cmt", h + "1,0,1,100,9,0,0,0,0\n", {"line 2", "CMT", "9"}},
      {"unknown_cmt_name", h + "1,0,1,100,liver,0,0,0,0\n", {"line 2", "CMT", "liver"}},
      {"rate_minus2_no_duration", h + "1,0,1,100,2,-2,0,0,0\n", {"line 2", "RATE", "D2"}},
      {"rate_minus1_no_rate", h + "1,0,1,100,2,-1,0,0,0\n", {"line 2", "RATE", "R2"}},
      {"bad_rate", h + "1,0,1,100,2,-3,0,0,0\n", {"line 2", "RATE"}},
      {"ss_with_ii_zero", h + "1,0,1,100,2,0,0,0,1\n", {"line 2", "II"}},
      {"bad_ss", h + "1,0,1,100,2,0,12,0,3\n", {"line 2", "SS"}},
      {"addl_without_ii", h + "1,0,1,100,2,0,0,3,0\n", {"line 2", "ADDL"}},
      {"negative_addl", h + "1,0,1,100,2,0,12,-1,0\n", {"line 2", "ADDL"}},
      {"negative_amt", h + "1,0,1,-100,2,0,0,0,0\n", {"line 2", "AMT"}},
      {"negative_ii", h + "1,0,1,100,2,0,-12,0,0\n", {"line 2", "II"}},
      {"wrong_field_count", h + "1,0,1,100\n", {"line 2"}},
      {"non_contiguous_id",
       h + "1,0,1,100,2,0,0,0,0\n2,0,1,100,2,0,0,0,0\n1,5,0,0,2,0,0,0,0\n",
       {"line 4", "ID"}},
      {"empty_file", "", {"empty"}},
      {"header_only", h, {"no records"}},
      {"bad_f_column", "ID,TIME,AMT,CMT,F2\n1,0,100,2,-0.5\n", {"line 2", "F2"}},
  };
  for (const auto& c : cases) {
    const std::string path = WriteFile(c.name + ".csv", c.csv);
    CliRun r = Medtwin("simulate pk1cmt --data " + path);
    EXPECT_EQ(r.exit_code, 2) << c.name << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << c.name;
    for (const auto& s : c.expect) EXPECT_THAT(r.err, HasSubstr(s)) << c.name;
  }
  // Covariates: missing column and out-of-range values of a model that needs them.
  const std::string vh = "ID,TIME,AMT,WT,AGE,SEX\n1,0,1000,70,50,0\n";
  CliRun no_scr = Medtwin("simulate vancomycin_goti2018 --data " + WriteFile("no_scr.csv", vh));
  EXPECT_EQ(no_scr.exit_code, 2);
  EXPECT_THAT(no_scr.err, HasSubstr("SCR"));
  CliRun bad_wt =
      Medtwin("simulate vancomycin_goti2018 --data " +
              WriteFile("bad_wt.csv", "ID,TIME,AMT,WT,AGE,SEX,SCR\n1,0,1000,-70,50,0,1\n"));
  EXPECT_EQ(bad_wt.exit_code, 2);
  EXPECT_THAT(bad_wt.err, HasSubstr("line 2"));
  EXPECT_THAT(bad_wt.err, HasSubstr("WT"));
}

// An infusion faster than VMAX has no steady state under Michaelis-Menten elimination: the
// cycles never converge, which is a numerical failure (exit 3) naming subject and time.
TEST(Cli, NumericalFailureExitsWithThree) {
  const std::string data =
      WriteFile("no_ss.csv", "ID,TIME,AMT,CMT,RATE,II,SS\n7,0,0,2,500,0,1\n7,1,0,.,0,0,0\n");
  CliRun r = Medtwin("simulate pk1cmt_mm --data " + data + " --param VMAX=50");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("subject 7"));
  EXPECT_THAT(r.err, HasSubstr("steady state"));
  EXPECT_TRUE(r.out.empty());
}

TEST(Cli, PopulationIsReproducibleAcrossThreadCounts) {
  const std::string data =
      WriteFile("reg.csv", "ID,TIME,AMT,CMT,RATE,II,ADDL\n1,0,1000,2,1000,12,3\n");
  const std::string base = "population pk2cmt --data " + data + " --n 200 --seed 5 --times 0:2:48";
  CliRun one = Medtwin(base + " --threads 1");
  CliRun two = Medtwin(base + " --threads 2");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(one.out, two.out);
  EXPECT_THAT(one.out, HasSubstr("ID,TIME,CP_P5,CP_P50,CP_P95"));
  CliRun all = Medtwin(base + " --all");
  ASSERT_EQ(all.exit_code, 0);
  EXPECT_THAT(all.out, HasSubstr("ETA_CL"));
}

// An SBML file is a model wherever a model name is accepted; doses go to species by name.
TEST(Cli, SimulatesAnSbmlModel) {
  const std::string xml = std::string(MEDTWIN_SOURCE_DIR) + "/examples/pk2cmt.xml";
  const std::string data =
      WriteFile("sbml_regimen.csv", "ID,TIME,AMT,CMT,RATE\n1,0,1000,central,1000\n1,12,0,.,0\n");
  CliRun r = Medtwin("simulate " + xml + " --data " + data + " --param CL=4.5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Species as observables (natural units), then the states (amounts), named apart.
  EXPECT_THAT(r.out, HasSubstr("ID,TIME,depot,central,periph,depot_state,central_state"));
  CliRun m = Medtwin("model " + xml);
  EXPECT_EQ(m.exit_code, 0);
  EXPECT_THAT(m.out, HasSubstr("KA"));
  const std::string bad = WriteFile("bad.xml", "<sbml><model");
  CliRun b = Medtwin("simulate " + bad + " --data " + data);
  EXPECT_EQ(b.exit_code, 2);
  EXPECT_THAT(b.err, HasSubstr("not valid SBML"));
}

// medtwin sbml-test judges suite cases and writes results in the suite's format.
TEST(Cli, SbmlTestRunsSuiteCases) {
  const std::string cases = std::string(MEDTWIN_SHARED_DATA) + "/sbml-test-suite/cases";
  const std::string out_dir = TempDir() + "/sbml_out";
  CliRun r = Medtwin("sbml-test " + cases + " --cases 1-3 --out-dir " + out_dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("00001 pass"));
  EXPECT_THAT(r.out, HasSubstr("pass 3, fail 0, unsupported 0, total 3"));
  EXPECT_THAT(Slurp(out_dir + "/00001-results.csv"), HasSubstr("time,S1,S2"));
  CliRun missing = Medtwin("sbml-test " + TempDir() + "/no_such_dir");
  EXPECT_EQ(missing.exit_code, 2);
}

TEST(Cli, HelpOnEverySubcommand) {
  for (const char* sub : {"models", "model", "simulate", "population", "sbml-test"}) {
    CliRun r = Medtwin(std::string(sub) + " --help");
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_THAT(r.out, HasSubstr("--help")) << sub;
  }
}

// --- physiology models (issue 4): every model runs through simulate and population.

// Value of `column` in the row of a CSV table with the given ID and TIME; NaN if absent.
double Cell(const std::string& csv, const std::string& column, const std::string& id, double time) {
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string h; std::getline(hs, h, ',');) header.push_back(h);
  const auto col = std::find(header.begin(), header.end(), column) - header.begin();
  while (std::getline(lines, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string v; std::getline(ls, v, ',');) f.push_back(v);
    if (f.size() == header.size() && f[0] == id && std::stod(f[1]) == time &&
        col < static_cast<long>(f.size())) {
      return std::stod(f[col]);
    }
  }
  return std::nan("");
}

std::string Example(const std::string& name) {
  return std::string(MEDTWIN_SOURCE_DIR) + "/examples/" + name;
}

// The documented in-silico experiments run, with one simulate and one population command each,
// and print the model's observables.
TEST(Cli, PhysiologyExamplesRunThroughSimulateAndPopulation) {
  struct Case {
    const char* model;
    const char* example;
    const char* observable;
  };
  for (const Case& c : {Case{"bergman_minimal", "bergman_ivgtt.csv", "G"},
                        Case{"tgi_simeoni2004", "tgi_simeoni_schedule.csv", "TUMOR"},
                        Case{"pk1cmt+simeoni", "tgi_pk_link.csv", "TUMOR"},
                        Case{"warfarin_hamberg2007", "warfarin_genotypes.csv", "INR"},
                        Case{"viral_baccam2006", "viral_influenza.csv", "V"}}) {
    SCOPED_TRACE(c.model);
    const std::string data = Example(c.example);
    CliRun sim = Medtwin(std::string("simulate ") + c.model + " --data " + data);
    ASSERT_EQ(sim.exit_code, 0) << sim.err;
    EXPECT_THAT(sim.out.substr(0, sim.out.find('\n')), HasSubstr(std::string(",") + c.observable));
    CliRun pop =
        Medtwin(std::string("population ") + c.model + " --data " + data + " --n 40 --seed 2");
    ASSERT_EQ(pop.exit_code, 0) << pop.err;
    EXPECT_THAT(pop.out, HasSubstr(std::string(c.observable) + "_P50"));
  }
}

// IVGTT (examples/bergman_ivgtt.csv): glucose starts below the 287 mg/dL peak (bolus at 0),
// falls towards basal 92 mg/dL; insulin falls from its first-phase peak. Population percentiles
// are ordered.
TEST(Cli, BergmanIvgttRunsInMinutes) {
  const std::string data = Example("bergman_ivgtt.csv");
  CliRun r = Medtwin("simulate bergman_minimal --data " + data);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const double g2 = Cell(r.out, "G", "1", 2), g30 = Cell(r.out, "G", "1", 30);
  const double g180 = Cell(r.out, "G", "1", 180);
  EXPECT_LT(g2, 287.0);
  EXPECT_GT(g2, g30);
  EXPECT_LT(std::fabs(g180 - 92.0), std::fabs(g30 - 92.0));
  EXPECT_GT(Cell(r.out, "I", "1", 2), Cell(r.out, "I", "1", 30));
  CliRun p = Medtwin("population bergman_minimal --data " + data + " --n 200 --seed 3");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_LE(Cell(p.out, "G_P5", "1", 30), Cell(p.out, "G_P50", "1", 30));
  EXPECT_LT(Cell(p.out, "G_P5", "1", 30), Cell(p.out, "G_P95", "1", 30));
}

// Without drug the standalone model (days) and the link over pk1cmt (hours) are the same tumour:
// the control arms agree at day 3, 9, 15, 21 (= 72, 216, 360, 504 h); treatment shrinks it.
TEST(Cli, SimeoniStandaloneAndLinkAgree) {
  CliRun days = Medtwin("simulate tgi_simeoni2004 --data " + Example("tgi_simeoni_schedule.csv") +
                        " --times 0:3:21");
  CliRun hours =
      Medtwin("simulate pk1cmt+simeoni --data " + Example("tgi_pk_link.csv") + " --times 0:72:504");
  ASSERT_EQ(days.exit_code, 0) << days.err;
  ASSERT_EQ(hours.exit_code, 0) << hours.err;
  for (double day : {3.0, 9.0, 15.0, 21.0}) {
    const double w_days = Cell(days.out, "TUMOR", "control", day);
    EXPECT_NEAR(Cell(hours.out, "TUMOR", "control", 24.0 * day), w_days, 1e-6 * w_days) << day;
  }
  EXPECT_LT(Cell(days.out, "TUMOR", "q4dx3", 21), Cell(days.out, "TUMOR", "control", 21));
  EXPECT_LT(Cell(hours.out, "TUMOR", "q4dx3", 504), Cell(hours.out, "TUMOR", "control", 504));
}

// Four weeks of 2.5 mg S-warfarin daily (examples/warfarin_genotypes.csv): VKORC1 changes the INR
// but not the concentration; more A alleles, higher INR; CYP2C9 *3/*3 raises the concentration
// and the INR (Hamberg 2007: genotype effects on CL_S and EC50).
TEST(Cli, WarfarinGenotypesOrderTheInr) {
  CliRun r = Medtwin("simulate warfarin_hamberg2007 --data " + Example("warfarin_genotypes.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const double t = 672.0;
  const double cp_gg = Cell(r.out, "CP", "GG_11", t);
  EXPECT_NEAR(Cell(r.out, "CP", "AA_11", t), cp_gg, 1e-6 * cp_gg);
  EXPECT_LT(Cell(r.out, "INR", "GG_11", t), Cell(r.out, "INR", "GA_11", t));
  EXPECT_LT(Cell(r.out, "INR", "GA_11", t), Cell(r.out, "INR", "AA_11", t));
  EXPECT_GT(Cell(r.out, "CP", "GA_33", t), 2.0 * Cell(r.out, "CP", "GA_11", t));
  EXPECT_GT(Cell(r.out, "INR", "GA_33", t), Cell(r.out, "INR", "GA_11", t));
  EXPECT_GT(Cell(r.out, "INR", "GG_11", 24.0), 1.0);  // the effect has begun
  // An unknown genotype code is an input error naming the column.
  const std::string bad = WriteFile("warf_bad.csv",
                                    "ID,TIME,AMT,CMT,AGE,CYP2C9,VKORC1\n1,0,2.5,depot,71,14,0\n"
                                    "1,24,0,.,71,14,0\n");
  CliRun e = Medtwin("simulate warfarin_hamberg2007 --data " + bad);
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_THAT(e.err, HasSubstr("CYP2C9=14"));
}

// Influenza (examples/viral_influenza.csv, days): an antiviral blocking 95 % of production from
// day 1 keeps the titre two orders of magnitude lower at day 3 and spares target cells; with
// 96 % the effective R0 = 22*0.04 = 0.88 < 1 and the titre falls from day 1 to day 8.
TEST(Cli, ViralAntiviralLowersTheTitre) {
  const std::string base = "simulate viral_baccam2006 --data " + Example("viral_influenza.csv");
  CliRun none = Medtwin(base);
  CliRun early = Medtwin(base + " --param EPS_P=0.95 --param TRX=1");
  CliRun strong = Medtwin(base + " --param EPS_P=0.96 --param TRX=1");
  ASSERT_EQ(none.exit_code, 0) << none.err;
  ASSERT_EQ(early.exit_code, 0) << early.err;
  ASSERT_EQ(strong.exit_code, 0) << strong.err;
  EXPECT_DOUBLE_EQ(Cell(early.out, "V", "1", 0.5), Cell(none.out, "V", "1", 0.5));
  EXPECT_LT(100.0 * Cell(early.out, "V", "1", 3), Cell(none.out, "V", "1", 3));
  EXPECT_GT(Cell(early.out, "TFRAC", "1", 8), Cell(none.out, "TFRAC", "1", 8));
  EXPECT_LT(Cell(strong.out, "V", "1", 8), Cell(strong.out, "V", "1", 1));
}

// Cardiovascular (seconds): a 10 % bleed over 1 min from t = 60 s raises HR and lowers MAP by
// t = 150 s; the population runs and reports percentiles; a negative bleed rate names RATE.
TEST(Cli, CardiovascularHaemorrhageThroughSimulateAndPopulation) {
  const std::string data = WriteFile("cvs.csv",
                                     "ID,TIME,EVID,CMT,AMT,RATE\n"
                                     "1,0,0,.,.,.\n"
                                     "1,60,0,.,.,.\n"
                                     "1,60,1,haemorrhage,530,8.8333333333333333\n"
                                     "1,150,0,.,.,.\n");
  CliRun r = Medtwin("simulate cvs_ursino1998 --data " + data + " --rtol 1e-5 --atol 1e-5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("ID,TIME,HR,SBP,DBP,MAP,CO,SV,CVP,", 0), 0u) << r.out;
  EXPECT_GT(Cell(r.out, "HR", "1", 150), Cell(r.out, "HR", "1", 60) + 2.0);
  EXPECT_LT(Cell(r.out, "MAP", "1", 150), Cell(r.out, "MAP", "1", 60) - 2.0);
  EXPECT_NEAR(Cell(r.out, "BV", "1", 150), 5300.0 - 530.0, 1e-2);
  CliRun pop = Medtwin("population cvs_ursino1998 --data " + data +
                       " --n 3 --seed 1 --rtol 1e-4 --atol 1e-4");
  ASSERT_EQ(pop.exit_code, 0) << pop.err;
  EXPECT_THAT(pop.out, HasSubstr("MAP_P50"));
  const std::string bad =
      WriteFile("cvs_bad.csv", "ID,TIME,EVID,CMT,AMT,RATE\n1,0,1,haemorrhage,100,-3\n");
  CliRun e = Medtwin("simulate cvs_ursino1998 --data " + bad);
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_THAT(e.err, HasSubstr("RATE"));
}

}  // namespace

// T1D end to end: a virtual patient from the shared table, basal insulin (u2ss * BW / 6000 U/min
// for adult#001: 1.2386244 pmol/kg/min, 102.32 kg in vpatient_params.csv) and one 50 g meal at
// 5 g/min. At t = 0 BG and CGM are the patient's Gb (138.56 mg/dL in the table); after the meal
// without a bolus, glucose rises above it.
TEST(Cli, SimulateT1dVirtualPatientFromParameterTable) {
  const std::string table = std::string(MEDTWIN_SHARED_DATA) + "/t1d/vpatient_params.csv";
  const std::string data = WriteFile("t1d.csv",
                                     "ID,TIME,EVID,CMT,AMT,RATE\n"
                                     "1,0,1,insulin,20,0.021122675\n"
                                     "1,60,1,meal,50,5\n");
  CliRun r = Medtwin("simulate t1d_uvapadova --data " + data + " --params-file " + table +
                     " --params-set adult#001 --times 0:30:300");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string header, first, line;
  std::getline(lines, header);
  EXPECT_EQ(header.rfind("ID,TIME,BG,CGM,", 0), 0u) << header;
  std::getline(lines, first);
  double bg0 = 0, cgm0 = 0, bg_max = 0;
  std::sscanf(first.c_str(), "1,0,%lf,%lf", &bg0, &cgm0);
  EXPECT_NEAR(bg0, 138.56, 0.01);
  EXPECT_NEAR(cgm0, 138.56, 0.01);
  int rows = 1;
  while (std::getline(lines, line)) {
    double t = 0, bg = 0;
    std::sscanf(line.c_str(), "1,%lf,%lf", &t, &bg);
    bg_max = std::max(bg_max, bg);
    ++rows;
  }
  EXPECT_EQ(rows, 11);
  EXPECT_GT(bg_max, bg0 + 20.0);

  CliRun pop = Medtwin("population t1d_uvapadova --data " + data + " --params-file " + table +
                       " --params-set child#003 --n 2 --times 0:60:120");
  EXPECT_EQ(pop.exit_code, 0) << pop.err;
  EXPECT_THAT(pop.out, HasSubstr("BG_P50"));

  CliRun unknown = Medtwin("simulate t1d_uvapadova --data " + data + " --params-file " + table +
                           " --params-set adult#042");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("adult#042"));
  CliRun lonely = Medtwin("simulate t1d_uvapadova --data " + data + " --params-set adult#001");
  EXPECT_EQ(lonely.exit_code, 2);
  EXPECT_THAT(lonely.err, HasSubstr("--params-file"));
  const std::string pk = WriteFile("pk.csv", "ID,TIME,AMT\n1,0,100\n");
  const std::string bad = WriteFile("bad_params.csv", "Name,CL,V,KA\np1,heavy,50,1\n");
  CliRun nonnum =
      Medtwin("simulate pk1cmt --data " + pk + " --params-file " + bad + " --params-set p1");
  EXPECT_EQ(nonnum.exit_code, 2);
  EXPECT_THAT(nonnum.err, HasSubstr("bad_params.csv line 2, column CL: 'heavy'"));
}

// `medtwin fit`: one JSON document with every ID's estimates, uncertainty and diagnostics; the
// estimate must match the library's FitSubject on the same data (the CLI adds nothing).
TEST(Cli, FitWritesEstimatesPerId) {
  const std::string csv =
      "ID,TIME,EVID,AMT,RATE,II,ADDL,DV,MDV,CENS,WT,AGE,SEX,SCR\n"
      "1,0,1,1000,1000,12,5,.,1,0,80,60,0,1.1\n"
      "1,11.5,0,0,0,0,0,12.1,0,0,80,60,0,1.1\n"
      "1,13,0,0,0,0,0,28.4,0,0,80,60,0,1.1\n"
      "2,0,1,1500,750,12,5,.,1,0,95,45,1,0.9\n"
      "2,23.5,0,0,0,0,0,4,0,1,95,45,1,0.9\n"
      "2,25,0,0,0,0,0,22.0,0,0,95,45,1,0.9\n";
  const std::string data = WriteFile("fit_levels.csv", csv);
  const std::string out = TempDir() + "/fit.json";
  CliRun r = Medtwin("fit vancomycin_goti2018 --data " + data + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(Slurp(out));
  ASSERT_EQ(j["subjects"].size(), 2u);
  EXPECT_EQ(j["model"], "vancomycin_goti2018");
  EXPECT_EQ(j["shrinkage"].size(), 3u);
  auto model = std::move(medtwin::MakeModel("vancomycin_goti2018")).value();
  auto ds = medtwin::ReadDataset(csv, *model);
  ASSERT_TRUE(ds.ok());
  for (size_t s = 0; s < 2; ++s) {
    const nlohmann::json& subject = j["subjects"][s];
    auto fit = medtwin::FitSubject(*model, *ds, s, medtwin::FitOptions{});
    ASSERT_TRUE(fit.ok());
    EXPECT_EQ(subject["id"], fit->id);
    EXPECT_TRUE(subject["summary"]["converged"].get<bool>());
    const nlohmann::json& cl = subject["estimates"]["CL"];
    EXPECT_DOUBLE_EQ(cl["value"].get<double>(), fit->parameters[0]);
    EXPECT_LT(cl["ci90"][0].get<double>(), fit->parameters[0]);
    EXPECT_GT(cl["ci90"][1].get<double>(), fit->parameters[0]);
    EXPECT_EQ(subject["eta_covariance"].size(), 3u);
    EXPECT_EQ(subject["observations"].size(), 2u);
  }
  // Subject 2's first level is below the limit: flagged, without a weighted residual.
  EXPECT_TRUE(j["subjects"][1]["observations"][0]["censored"].get<bool>());
  EXPECT_TRUE(j["subjects"][1]["observations"][0]["iwres"].is_null());
}

TEST(Cli, FitRefusesWhatItCannotFit) {
  const std::string head = "ID,TIME,EVID,AMT,RATE,DV,MDV,WT,AGE,SEX,SCR\n";
  const std::string dose = "1,0,1,1000,1000,.,1,80,60,0,1.1\n";
  CliRun none =
      Medtwin("fit vancomycin_goti2018 --data " + WriteFile("no_levels.csv", head + dose));
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("subject 1 has no observations"));
  const std::string one = WriteFile("one_level.csv", head + dose + "1,6,0,0,0,20,0,80,60,0,1.1\n");
  CliRun bad_prior = Medtwin("fit vancomycin_goti2018 --prior flat --data " + one);
  EXPECT_EQ(bad_prior.exit_code, 2);
  EXPECT_THAT(bad_prior.err, HasSubstr("--prior: unknown prior 'flat'"));
  CliRun bad_error =
      Medtwin("fit vancomycin_goti2018 --error proportional --sigma-prop 0 --data " + one);
  EXPECT_EQ(bad_error.exit_code, 2);
  EXPECT_THAT(bad_error.err, HasSubstr("--error proportional needs --sigma-prop > 0"));
}

// `--estimate` moves the random effects: pk1cmt has none on KA, so KA is estimated only without
// a prior; fit.json records the choice and a forecast rebuilds the same model from it (its
// median follows the fitted KA: an early level rises faster with a larger KA).
TEST(Cli, FitEstimatesTheParametersChosen) {
  const std::string csv =
      "ID,TIME,EVID,AMT,DV,MDV\n"
      "1,0,1,320,.,1\n1,0.5,0,.,7.0,0\n1,1,0,.,9.5,0\n1,2,0,.,9.2,0\n1,4,0,.,8.0,0\n"
      "1,8,0,.,6.1,0\n1,12,0,.,4.7,0\n1,24,0,.,2.0,0\n";
  const std::string data = WriteFile("est_levels.csv", csv);
  const std::string out = TempDir() + "/est_fit.json";
  CliRun r =
      Medtwin("fit pk1cmt --data " + data +
              " --prior none --estimate CL,V,ka --error additive --sigma-add 0.3 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(Slurp(out));
  EXPECT_EQ(j["variability"]["parameters"], nlohmann::json({"CL", "V", "KA"}));
  const nlohmann::json& est = j["subjects"][0]["estimates"];
  ASSERT_TRUE(est.contains("KA"));
  const double ka = est["KA"]["value"].get<double>();
  EXPECT_GT(std::fabs(ka - j["theta"]["KA"].get<double>()), 0.1);  // moved from its typical value
  EXPECT_DOUBLE_EQ(j["subjects"][0]["parameters"]["KA"].get<double>(), ka);
  CliRun fc = Medtwin("forecast --fit " + out + " --data " + data + " --interval parameter");
  ASSERT_EQ(fc.exit_code, 0) << fc.err;
  EXPECT_THAT(fc.out, HasSubstr("ID,TIME,CP_P5,CP_P50,CP_P95"));
  // The forecast's median of the 0.5 h level is the fitted model's (its IPRED), not the typical
  // patient's.
  std::istringstream lines(fc.out);
  std::string row;
  std::getline(lines, row);  // header
  std::getline(lines, row);  // the first level, TIME 0.5
  std::vector<double> v;
  std::stringstream cells(row);
  for (std::string cell; std::getline(cells, cell, ',');) v.push_back(std::stod(cell));
  ASSERT_EQ(v.size(), 5u) << row;
  const double ipred = j["subjects"][0]["observations"][0]["ipred"].get<double>();
  EXPECT_NEAR(v[3], ipred, 0.05 * ipred);
  EXPECT_GT(std::fabs(ipred - j["subjects"][0]["observations"][0]["pred"].get<double>()),
            0.2 * ipred);  // far from the typical patient's prediction
  CliRun prior = Medtwin("fit pk1cmt --data " + data + " --estimate CL,V,KA");
  EXPECT_EQ(prior.exit_code, 2);
  EXPECT_THAT(prior.err, HasSubstr("KA has no between-subject variability in pk1cmt"));
  CliRun unknown = Medtwin("fit pk1cmt --data " + data + " --prior none --estimate CL,Q");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("'Q' is not a parameter of pk1cmt"));
}

// Vancomycin 1 g over 1 h q12h with a trough and a peak on the first day: the fit behind the
// forecast and dose tests.
constexpr char kVancomycinLevels[] =
    "ID,TIME,EVID,AMT,RATE,II,ADDL,DV,MDV,WT,AGE,SEX,SCR\n"
    "1,0,1,1000,1000,12,5,.,1,80,60,0,1.1\n"
    "1,11.5,0,0,0,0,0,12.1,0,80,60,0,1.1\n"
    "1,13,0,0,0,0,0,28.4,0,80,60,0,1.1\n";

// `medtwin forecast`: the CSV has one column per observable and percentile, the percentiles
// increase, the chart marks levels and doses, and an ID without a fit is refused.
TEST(Cli, ForecastFromAFitWithIntervalsAndAChart) {
  const std::string levels = kVancomycinLevels;
  const std::string fit = TempDir() + "/fc_fit.json";
  CliRun f = Medtwin("fit vancomycin_goti2018 --data " + WriteFile("fc_levels.csv", levels) +
                     " --out " + fit);
  ASSERT_EQ(f.exit_code, 0) << f.err;
  const std::string future =
      WriteFile("fc_future.csv", levels +
                                     "1,72,1,1250,1250,12,3,.,1,80,60,0,1.1\n"
                                     "1,107.5,0,0,0,0,0,.,1,80,60,0,1.1\n");
  const std::string svg = TempDir() + "/fc.svg";
  CliRun r = Medtwin("forecast --fit " + fit + " --data " + future +
                     " --percentiles 5,25,50,75,95 --plot " + svg);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string header, row;
  std::getline(lines, header);
  EXPECT_EQ(header, "ID,TIME,CP_P5,CP_P25,CP_P50,CP_P75,CP_P95");
  int rows = 0;
  while (std::getline(lines, row)) {
    ++rows;
    std::vector<double> v;
    std::stringstream cells(row);
    std::string cell;
    while (std::getline(cells, cell, ',')) v.push_back(std::stod(cell));
    ASSERT_EQ(v.size(), 7u) << row;
    for (size_t i = 3; i < v.size(); ++i) EXPECT_GT(v[i], v[i - 1]) << row;
  }
  EXPECT_EQ(rows, 3);  // the three observation rows of the regimen
  const std::string chart = Slurp(svg);
  EXPECT_THAT(chart, HasSubstr("<svg"));
  EXPECT_THAT(chart, HasSubstr("90 % prediction interval"));
  EXPECT_THAT(chart, HasSubstr("<title>28.4 at 13</title>"));  // a measured level
  EXPECT_THAT(chart, HasSubstr("<title>dose 1250 mg at 72 h</title>"));
  CliRun other =
      Medtwin("forecast --fit " + fit + " --data " +
              WriteFile("fc_other.csv", "ID,TIME,AMT,WT,AGE,SEX,SCR\n7,0,1000,80,60,0,1.1\n"));
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_THAT(other.err, HasSubstr("ID 7 of --data has no fit"));
  // --format csv is the default; json carries the same percentiles keyed like the columns.
  const std::string same =
      "forecast --fit " + fit + " --data " + future + " --percentiles 5,25,50,75,95 --format ";
  CliRun csv = Medtwin(same + "csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out, r.out);
  CliRun json = Medtwin(same + "json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  const auto& cp = j["subjects"][0]["observables"]["CP"];
  std::istringstream first(r.out);
  std::getline(first, header);
  std::getline(first, row);  // ID,TIME,P5,P25,P50,P75,P95 of the first output row
  std::vector<std::string> cells;
  std::stringstream cs(row);
  for (std::string c; std::getline(cs, c, ',');) cells.push_back(c);
  ASSERT_EQ(cells.size(), 7u) << row;
  EXPECT_NEAR(cp["P50"][0].get<double>(), std::stod(cells[4]), 1e-5 * std::stod(cells[4]));
  EXPECT_NEAR(j["subjects"][0]["time"][0].get<double>(), std::stod(cells[1]), 1e-9);
  CliRun xml = Medtwin(same + "xml");
  EXPECT_EQ(xml.exit_code, 2);
  EXPECT_THAT(xml.err, HasSubstr("--format 'xml': expected csv or json"));
}

// `medtwin dose`: the recommended regimen is the first ranked, its PTA is the best listed, the
// chart shows the trough target, and an unreachable target or a bad flag is a named error.
// What-if: `dose` with a set of regimens and --min-pta 0 lists every one with its PTA and its
// exposure over the posterior, even those that fail the targets. For this linear model the
// median AUC24 is proportional to the amount.
TEST(Cli, DoseComparesChosenRegimens) {
  const std::string levels = kVancomycinLevels;
  const std::string data = WriteFile("whatif_levels.csv", levels);
  const std::string fit = TempDir() + "/whatif_fit.json";
  CliRun f = Medtwin("fit vancomycin_goti2018 --data " + data + " --out " + fit);
  ASSERT_EQ(f.exit_code, 0) << f.err;
  CliRun r = Medtwin("dose --fit " + fit + " --data " + data +
                     " --target auc24=400..600 --amounts 500,1000,2500 --interval 12"
                     " --durations 2 --start 24 --draws 200 --min-pta 0 --top 10");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::map<double, double> median_auc;  // by amount
  for (std::string line; std::getline(lines, line);) {
    const size_t bar = line.find("%  |");
    if (bar == std::string::npos) continue;
    const double amount = std::stod(line.substr(8));
    const std::string metrics = line.substr(bar + 4);  // " PTA%, point, median"
    median_auc[amount] = std::stod(metrics.substr(metrics.rfind(',') + 1));
  }
  ASSERT_EQ(median_auc.size(), 3u)
      << r.out;  // 2500 mg misses the range in most draws, still listed
  EXPECT_NEAR(median_auc[1000] / median_auc[500], 2.0, 0.02);
  EXPECT_NEAR(median_auc[2500] / median_auc[500], 5.0, 0.05);
}

// `medtwin whatif`: regimen files of any pattern compared over the same posterior draws. With
// this linear model twice every dose gives twice each percentile of AUC24 in the window (only
// common draws make that exact); the table names the regimens; bad input is a named error.
TEST(Cli, WhatIfComparesRegimenFiles) {
  const std::string levels = kVancomycinLevels;
  const std::string fit = TempDir() + "/wi_fit.json";
  CliRun f = Medtwin("fit vancomycin_goti2018 --data " + WriteFile("wi_levels.csv", levels) +
                     " --out " + fit);
  ASSERT_EQ(f.exit_code, 0) << f.err;
  // The past doses were 0-60 h; from 72 h: 1000 mg q12h, or a held dose then 2000 mg q24h; and
  // the first plan with every dose doubled, past ones included.
  const std::string patient = ",80,60,0,1.1\n";
  const std::string header = "ID,TIME,EVID,AMT,RATE,II,ADDL,WT,AGE,SEX,SCR\n";
  const std::string past = header + "1,0,1,1000,1000,12,5" + patient;
  const std::string q12 = WriteFile("wi_q12.csv", past + "1,72,1,1000,1000,12,5" + patient);
  const std::string held = WriteFile("wi_held.csv", past + "1,84,1,2000,1000,24,2" + patient);
  const std::string twice = WriteFile("wi_twice.csv", header + "1,0,1,2000,2000,12,5" + patient +
                                                          "1,72,1,2000,2000,12,5" + patient);
  CliRun r = Medtwin("whatif --fit " + fit + " --regimen q12=" + q12 + " --regimen " + held +
                     " --regimen twice=" + twice +
                     " --window 96..120 --metric auc24 --metric trough --draws 300 --format csv");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::vector<double>> auc;  // regimen -> dose in W, P5, P50, P95
  std::istringstream lines(r.out);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "ID,REGIMEN,DOSE_IN_WINDOW,PTA,METRIC,METRIC_PTA,P5,P50,P95");
  while (std::getline(lines, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    ASSERT_EQ(cells.size(), 9u) << line;
    if (cells[4] != "auc24") continue;
    auc[cells[1]] = {std::stod(cells[2]), std::stod(cells[6]), std::stod(cells[7]),
                     std::stod(cells[8])};
  }
  ASSERT_EQ(auc.size(), 3u) << r.out;
  ASSERT_TRUE(auc.count("wi_held")) << r.out;  // named by the file's stem
  EXPECT_EQ(auc["q12"][0], 2000);
  EXPECT_EQ(auc["wi_held"][0], 2000);  // one dose of 2000 mg at 108 h
  EXPECT_EQ(auc["twice"][0], 4000);
  for (size_t i = 1; i < 4; ++i)
    EXPECT_NEAR(auc["twice"][i], 2 * auc["q12"][i], 1e-5 * auc["twice"][i]);
  EXPECT_LT(auc["wi_held"][2], auc["q12"][2]);  // a held dose in the window's first half
  CliRun table =
      Medtwin("whatif --fit " + fit + " --regimen q12=" + q12 + " --regimen held=" + held +
              " --window 96..120 --target auc24=400..600 --draws 100");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("ID 1: 2 regimens, 100 posterior draws, window 96-120 h"));
  EXPECT_THAT(table.out, HasSubstr("| auc24=400..600: PTA, median [5-95 %]"));
  EXPECT_THAT(table.out, HasSubstr("\n  held "));
  const std::string other =
      WriteFile("wi_other.csv", "ID,TIME,AMT,WT,AGE,SEX,SCR\n2,0,1000,80,60,0,1.1\n");
  CliRun missing = Medtwin("whatif --fit " + fit + " --regimen q12=" + q12 +
                           " --regimen b=" + other + " --window 96..120");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("regimen 'b' has no ID 1"));
  CliRun window = Medtwin("whatif --fit " + fit + " --regimen " + q12 + " --window 120..96");
  EXPECT_EQ(window.exit_code, 2);
  EXPECT_THAT(window.err, HasSubstr("window: needs 0 <= start < end (h), got 120..96"));
  CliRun metric =
      Medtwin("whatif --fit " + fit + " --regimen " + q12 + " --window 96..120 --metric 'cmax'");
  EXPECT_EQ(metric.exit_code, 2);
  EXPECT_THAT(metric.err, HasSubstr("--metric: target 'cmax': unknown metric 'cmax'"));
}

TEST(Cli, DoseRecommendsARegimenWithItsPta) {
  const std::string levels = kVancomycinLevels;
  const std::string data = WriteFile("dose_levels.csv", levels);
  const std::string fit = TempDir() + "/dose_fit.json";
  CliRun f = Medtwin("fit vancomycin_goti2018 --data " + data + " --out " + fit);
  ASSERT_EQ(f.exit_code, 0) << f.err;
  const std::string svg = TempDir() + "/dose.svg";
  CliRun r = Medtwin("dose --fit " + fit + " --data " + data +
                     " --target auc24=400..600 --target 'trough<=15' --interval 8,12,24"
                     " --amounts 250:250:3000 --durations 1,2 --start 24 --draws 300 --top 4"
                     " --plot " +
                     svg);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ID 1: 72 regimens, 300 posterior draws, at steady state"));
  std::istringstream lines(r.out);
  std::string line, recommended;
  std::vector<std::string> ranked;
  std::vector<double> pta;
  while (std::getline(lines, line)) {
    if (line.rfind("  recommended: ", 0) == 0) recommended = line.substr(15);
    const size_t pct = line.find("%  |");
    if (pct != std::string::npos) {
      ranked.push_back(line.substr(8, 38));
      pta.push_back(std::stod(line.substr(pct - 5, 5)));
    }
  }
  ASSERT_EQ(ranked.size(), 4u) << r.out;
  EXPECT_EQ(ranked[0].substr(0, recommended.size()), recommended);
  for (size_t i = 1; i < pta.size(); ++i) EXPECT_LE(pta[i], pta[i - 1]);
  EXPECT_GT(pta[0], 10.0);
  const std::string chart = Slurp(svg);
  EXPECT_THAT(chart, HasSubstr("<svg"));
  EXPECT_THAT(chart, HasSubstr("target 0-15"));
  EXPECT_THAT(chart, HasSubstr("auc24=400..600 (predicted "));
  CliRun none = Medtwin("dose --fit " + fit + " --data " + data +
                        " --target auc24=400..600 --amounts 250 --interval 24");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("no allowed regimen reaches the targets"));
  EXPECT_THAT(none.err, HasSubstr("the best, 250 mg q24h over 1 h, reaches them jointly in"));
  CliRun bad = Medtwin("dose --fit " + fit + " --data " + data + " --target auc24=600..400");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--target: target auc24=600..400: needs a range low <= high"));
  CliRun amounts = Medtwin("dose --fit " + fit + " --data " + data +
                           " --target auc24=400..600 --amounts 250:0:1000");
  EXPECT_EQ(amounts.exit_code, 2);
  EXPECT_THAT(amounts.err, HasSubstr("--amounts '250:0:1000': expected START:STEP:END"));
  // A rate limit: the regimens faster than it are counted and none is listed.
  CliRun limited = Medtwin("dose --fit " + fit + " --data " + data +
                           " --target auc24=400..600 --interval 24 --amounts 250:250:3000"
                           " --durations 1,2,3 --start 24 --top 50 --max-rate 1000");
  ASSERT_EQ(limited.exit_code, 0) << limited.err;
  EXPECT_THAT(limited.out,
              HasSubstr("12 regimens not evaluated: faster than --max-rate 1000 mg/h"));
  std::istringstream rows(limited.out);
  int listed = 0;
  while (std::getline(rows, line)) {
    double amount = 0, interval = 0, duration = 0;
    if (std::sscanf(line.c_str(), " %*d %lf mg q%lfh over %lf h", &amount, &interval, &duration) ==
        3) {
      ++listed;
      EXPECT_LE(amount / duration, 1000) << line;
    }
  }
  EXPECT_EQ(listed, 24);  // 36 regimens, 8 faster at 1 h, 4 at 2 h
  for (const char* bad : {"0", "-5"}) {
    CliRun r = Medtwin("dose --fit " + fit + " --data " + data +
                       " --target auc24=400..600 --max-rate=" + bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_THAT(r.err,
                HasSubstr("--max-rate: max_rate must be > 0 mg/h (got " + std::string(bad) + ")"));
  }
  // A continuous range is refined: the refined amounts are marked and counted.
  CliRun range = Medtwin("dose --fit " + fit + " --data " + data +
                         " --target auc24=400..600 --amounts 250..4000 --start 24");
  ASSERT_EQ(range.exit_code, 0) << range.err;
  EXPECT_THAT(range.out, HasSubstr("amount refinement: 90 amounts evaluated"));
}

// A nonlinear model at steady state: draws without a steady state (3000 mg q12h is far above
// pk1cmt_mm's elimination capacity, VMAX 50 mg/h) are misses, counted per regimen and in all.
TEST(Cli, DoseCountsDrawsWithoutSteadyState) {
  const std::string data = WriteFile("dose_mm.csv",
                                     "ID,TIME,EVID,AMT,II,ADDL,DV,MDV\n"
                                     "1,0,1,300,12,5,.,1\n"
                                     "1,11.5,0,0,0,0,2.1,0\n"
                                     "1,14,0,0,0,0,6.3,0\n");
  const std::string fit = TempDir() + "/dose_mm_fit.json";
  CliRun f = Medtwin("fit pk1cmt_mm --data " + data + " --out " + fit);
  ASSERT_EQ(f.exit_code, 0) << f.err;
  CliRun r = Medtwin("dose --fit " + fit + " --data " + data +
                     " --target auc24=60..120 --interval 12 --amounts 200,3000 --draws 10");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("recommended: 200 mg q12h"));
  EXPECT_THAT(r.out, HasSubstr("no steady state in 11 simulations (regimen x draw)"));
  EXPECT_THAT(r.out, HasSubstr("3000 mg q12h over 1 h"));
  EXPECT_THAT(r.out, HasSubstr("| no steady state in 10 draws"));
}

// --threads and --exhaustive do not change the answer: a nonlinear search on day 2 (bounded,
// screened) prints the same table on 1 and 2 threads and when every regimen is simulated in
// every draw at the solver tolerance. --threads 0 is refused by name.
TEST(Cli, DoseThreadsAndExhaustiveGiveTheSameAnswer) {
  const std::string data = WriteFile("dose_mm_threads.csv",
                                     "ID,TIME,EVID,AMT,II,ADDL,DV,MDV\n"
                                     "1,0,1,300,12,5,.,1\n"
                                     "1,11.5,0,0,0,0,2.1,0\n"
                                     "1,14,0,0,0,0,6.3,0\n");
  const std::string fit = TempDir() + "/dose_mm_threads_fit.json";
  CliRun f = Medtwin("fit pk1cmt_mm --data " + data + " --out " + fit);
  ASSERT_EQ(f.exit_code, 0) << f.err;
  const std::string search = "dose --fit " + fit + " --data " + data +
                             " --target auc24=60..120 --target 'trough<=4' --interval 12,24"
                             " --amounts 100:100:800 --start 24 --day 2 --draws 40 --top 3"
                             " --min-pta 0";
  CliRun one = Medtwin(search + " --threads 1");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_THAT(one.out, HasSubstr("ID 1: 16 regimens, 40 posterior draws, on day 2"));
  CliRun two = Medtwin(search + " --threads 2");
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(two.out, one.out);
  CliRun all = Medtwin(search + " --exhaustive");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(all.out, one.out);
  CliRun zero = Medtwin(search + " --threads 0");
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_THAT(zero.err, HasSubstr("--threads: threads must be >= 1 (got 0)"));
}

// `medtwin assimilate`: one row per observation, the interval made before the level was seen
// brackets its median, the parameters follow; an unknown method is refused by name.
TEST(Cli, AssimilatePrintsOneStepAheadPredictionsAndParameters) {
  const std::string data = WriteFile("assim.csv",
                                     "ID,TIME,EVID,AMT,RATE,II,ADDL,DV,MDV,WT,AGE,SEX,SCR\n"
                                     "1,0,1,1000,1000,12,5,.,1,80,60,0,1.1\n"
                                     "1,11.5,0,0,0,0,0,12.1,0,80,60,0,1.1\n"
                                     "1,13,0,0,0,0,0,28.4,0,80,60,0,1.1\n"
                                     "1,47.5,0,0,0,0,0,15.2,0,80,60,0,1.1\n");
  for (const char* method : {"enkf", "ensrf", "ukf", "pf", "map"}) {
    SCOPED_TRACE(method);
    CliRun r = Medtwin(std::string("assimilate vancomycin_goti2018 --data ") + data +
                       " --members 100 --method " + method);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream lines(r.out);
    std::string header, row;
    std::getline(lines, header);
    EXPECT_EQ(header, "ID,TIME,OBS,DV,PRED,PRED_LO,PRED_HI,CL,V1,V2");
    int rows = 0;
    while (std::getline(lines, row)) {
      ++rows;
      std::vector<std::string> cells;
      std::stringstream ss(row);
      std::string cell;
      while (std::getline(ss, cell, ',')) cells.push_back(cell);
      ASSERT_EQ(cells.size(), 10u) << row;
      EXPECT_EQ(cells[2], "CP");
      EXPECT_LT(std::stod(cells[5]), std::stod(cells[4]));
      EXPECT_LT(std::stod(cells[4]), std::stod(cells[6]));
      EXPECT_GT(std::stod(cells[7]), 0.0);
    }
    EXPECT_EQ(rows, 3);
  }
  CliRun bad = Medtwin("assimilate vancomycin_goti2018 --data " + data + " --method kalman");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--method: filter method 'kalman' is not available"));
  CliRun gate = Medtwin("assimilate vancomycin_goti2018 --data " + data + " --gate -1");
  EXPECT_EQ(gate.exit_code, 2);
  EXPECT_THAT(gate.err, HasSubstr("gate_z must be >= 0"));
}

// `--correlated-error OBS:FRACTION:TAU[:ORDER[:DAMPING]]` carries an OU (or, ORDER 2, a smooth
// second-order) share of the residual error in the filter: the predictions change (the first
// interval only through the split's random draws, the later ones through the error carried from the
// levels before); malformed or invalid values are refused naming the flag or the option.
TEST(Cli, AssimilateTakesCorrelatedResidualError) {
  const std::string data = WriteFile("assim_ou.csv",
                                     "ID,TIME,EVID,AMT,RATE,II,ADDL,DV,MDV,WT,AGE,SEX,SCR\n"
                                     "1,0,1,1000,1000,12,5,.,1,80,60,0,1.1\n"
                                     "1,11.5,0,0,0,0,0,12.1,0,80,60,0,1.1\n"
                                     "1,12,0,0,0,0,0,30.9,0,80,60,0,1.1\n"
                                     "1,13,0,0,0,0,0,28.4,0,80,60,0,1.1\n");
  const std::string base = "assimilate vancomycin_goti2018 --data " + data + " --members 100";
  CliRun white = Medtwin(base);
  CliRun ou = Medtwin(base + " --correlated-error CP:0.8:4");
  CliRun ou1 = Medtwin(base + " --correlated-error CP:0.8:4:1");
  CliRun smooth = Medtwin(base + " --correlated-error CP:0.8:4:2:0.7");
  ASSERT_EQ(white.exit_code, 0) << white.err;
  ASSERT_EQ(ou.exit_code, 0) << ou.err;
  ASSERT_EQ(smooth.exit_code, 0) << smooth.err;
  EXPECT_EQ(std::count(ou.out.begin(), ou.out.end(), '\n'), 4);
  EXPECT_NE(ou.out, white.out);
  EXPECT_EQ(ou1.out, ou.out);  // ORDER 1 is the default
  EXPECT_EQ(std::count(smooth.out.begin(), smooth.out.end(), '\n'), 4);
  EXPECT_NE(smooth.out, ou.out);
  const std::pair<const char*, const char*> refused[] = {
      {" --correlated-error CP:0.8", "--correlated-error CP:0.8: expected OBSERVABLE:FRACTION:TAU"},
      {" --correlated-error CP:0.8:x", "TAU: 'x' is not a finite number"},
      {" --correlated-error CP:1.5:4", "correlated_errors[0].fraction = 1.5"},
      {" --correlated-error CGM:0.5:4", "has no observable 'CGM'"},
      {" --method map --correlated-error CP:0.5:4", "the map filter"},
      {" --correlated-error CP:0.8:4:2:0.5:1",
       "expected OBSERVABLE:FRACTION:TAU[:ORDER[:DAMPING]]"},
      {" --correlated-error CP:0.8:4:3", "ORDER is 1 (Ornstein-Uhlenbeck) or 2"},
      {" --correlated-error CP:0.8:4:2:0", "correlated_errors[0].damping = 0"},
      {" --correlated-error CP:0.8:4:1:0.5", "damping = 0.5: applies to order 2 only"}};
  for (const auto& [flags, message] : refused) {
    CliRun r = Medtwin(base + flags);
    EXPECT_EQ(r.exit_code, 2) << flags;
    EXPECT_THAT(r.err, HasSubstr(message));
  }
}

// `medtwin assimilate` with model error (--initial-state-sd, --state-noise, --eta-noise): the
// process noise widens the one-step-ahead interval of a later level; names are checked.
TEST(Cli, AssimilateTakesModelErrorOptions) {
  const std::string data = WriteFile("assim_noise.csv",
                                     "ID,TIME,EVID,AMT,RATE,II,ADDL,DV,MDV,WT,AGE,SEX,SCR\n"
                                     "1,0,1,1000,1000,12,5,.,1,80,60,0,1.1\n"
                                     "1,11.5,0,0,0,0,0,12.1,0,80,60,0,1.1\n"
                                     "1,47.5,0,0,0,0,0,15.2,0,80,60,0,1.1\n");
  // The width PRED_HI - PRED_LO of the last row.
  auto last_width = [&](const std::string& flags) {
    CliRun r = Medtwin("assimilate vancomycin_goti2018 --data " + data + " --members 200 " + flags);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string row = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
    std::vector<std::string> cells;
    std::stringstream ss(row);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    EXPECT_EQ(cells.size(), 10u) << row;
    return cells.size() == 10u ? std::stod(cells[6]) - std::stod(cells[5]) : 0.0;
  };
  const double plain = last_width("");
  const double noisy =
      last_width("--initial-state-sd 0.1 --state-noise central=0.1,periph=0.1 --eta-noise CL=0.05");
  EXPECT_GT(noisy, 1.2 * plain);
  CliRun bad =
      Medtwin("assimilate vancomycin_goti2018 --data " + data + " --state-noise blood=0.1");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--state-noise: 'blood' is not one of central, periph"));
  CliRun map =
      Medtwin("assimilate vancomycin_goti2018 --data " + data + " --method map --eta-noise 0.1");
  EXPECT_EQ(map.exit_code, 2);
  EXPECT_THAT(map.err, HasSubstr("eta_noise_sd: method map carries no state"));
}

// --plotting-positions: the same draws, the limits at k/(m+1) instead of sample quantiles. With
// 8 members the 5 % and 95 % positions fall outside the sample quantiles' (the interval widens
// to the extremes) and the median is the same.
TEST(Cli, AssimilatePlottingPositionsWidenASmallEnsemblesInterval) {
  const std::string data = WriteFile("assim_pp.csv",
                                     "ID,TIME,EVID,AMT,RATE,II,ADDL,DV,MDV,WT,AGE,SEX,SCR\n"
                                     "1,0,1,1000,1000,12,5,.,1,80,60,0,1.1\n"
                                     "1,11.5,0,0,0,0,0,12.1,0,80,60,0,1.1\n"
                                     "1,47.5,0,0,0,0,0,15.2,0,80,60,0,1.1\n");
  auto first_row = [&](const std::string& flags) {
    CliRun r = Medtwin("assimilate vancomycin_goti2018 --data " + data + " --members 8 " + flags);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::istringstream lines(r.out);
    std::string row;
    std::getline(lines, row);  // header
    std::getline(lines, row);
    std::vector<double> v;
    std::stringstream ss(row);
    std::string cell;
    for (int i = 0; std::getline(ss, cell, ','); ++i) {
      if (i >= 3) v.push_back(std::stod(cell));  // DV, PRED, PRED_LO, PRED_HI, parameters
    }
    return v;
  };
  const std::vector<double> sample = first_row(""), plotting = first_row("--plotting-positions");
  ASSERT_GE(sample.size(), 4u);
  ASSERT_EQ(plotting.size(), sample.size());
  EXPECT_DOUBLE_EQ(plotting[1], sample[1]);  // PRED
  EXPECT_LT(plotting[2], sample[2]);         // PRED_LO
  EXPECT_GT(plotting[3], sample[3]);         // PRED_HI
}
