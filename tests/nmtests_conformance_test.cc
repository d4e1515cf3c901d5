// NONMEM dosing conformance: the 29 scenarios of mrgsolve/nmtests (dosing/1001), run through
// NONMEM 7.5, reproduced through both the ODE and the closed-form path.
// Data and tolerance: ../shared/data/nmtests-dosing/README.md
//   model ADVAN2/TRANS2: CL = 1.1 L/h, V = 20 L, KA = 1.5 1/h; ALAG2 = LAGT, F2 = BIOAV,
//   R2 = RAT2 if MODE == 1, D2 = DUR2 if MODE == 2; CP = A(2)/(V/1000);
//   pass: |ours - CP| <= 1e-4 |CP| + 1e-3 on every row.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"

namespace medtwin {
namespace {

const std::string kDir = std::string(MEDTWIN_SHARED_DATA) + "/nmtests-dosing/";

std::vector<std::vector<std::string>> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string f;
    while (std::getline(ss, f, ',')) fields.push_back(f);
    rows.push_back(fields);
  }
  return rows;
}

// The control stream's $PK block as a data transformation: LAGT/BIOAV become the per-record
// modifier columns ALAG2/F2, MODE selects whether RAT2 is R2 or DUR2 is D2.
std::string TranslateDataset(const std::vector<std::vector<std::string>>& rows) {
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < rows[0].size(); ++i) col[rows[0][i]] = i;
  std::ostringstream os;
  os << "C,ID,TIME,EVID,AMT,CMT,SS,II,ADDL,RATE,ALAG2,F2,R2,D2,DV\n";
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r];
    auto get = [&](const char* name) { return f[col.at(name)]; };
    const std::string mode = get("MODE");
    os << get("C") << ',' << get("ID") << ',' << get("time") << ',' << get("evid") << ','
       << get("amt") << ',' << get("cmt") << ',' << get("ss") << ',' << get("ii") << ','
       << get("addl") << ',' << get("rate") << ',' << get("LAGT") << ',' << get("BIOAV") << ','
       << (mode == "1" ? get("RAT2") : ".") << ',' << (mode == "2" ? get("DUR2") : ".") << ','
       << get("DV") << '\n';
  }
  return os.str();
}

class NmtestsConformance : public ::testing::TestWithParam<SimPath> {};

TEST_P(NmtestsConformance, ReproducesNonmemForEveryRow) {
  const auto input = ReadCsv(kDir + "1001.csv");
  const auto nonmem = ReadCsv(kDir + "1001-nm.csv");
  ASSERT_EQ(input.size(), 3838u) << "missing ../shared/data/nmtests-dosing";
  ASSERT_EQ(nonmem.size(), input.size());

  auto model = MakeModel("pk1cmt");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const ModelSpec& spec = (*model)->spec();
  std::vector<double> theta = spec.TypicalValues();
  theta[spec.ParameterIndex("CL")] = 1.1;
  theta[spec.ParameterIndex("V")] = 20.0;
  theta[spec.ParameterIndex("KA")] = 1.5;

  DatasetOptions dopt;
  dopt.source_name = "1001.csv";
  auto data = ReadDataset(TranslateDataset(input), **model, dopt);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  ASSERT_EQ(data->subjects.size(), 29u);

  SimOptions opt;
  opt.path = GetParam();
  Simulator sim(**model, opt);
  OutputRequest request;
  request.dose_records = true;  // NONMEM's table has one row per input row
  const int cp = spec.ObservableIndex("CP");
  size_t row = 1, failures = 0;
  for (size_t s = 0; s < data->subjects.size(); ++s) {
    auto out = sim.Run(*data, s, request, {theta, {}});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->summary.path, GetParam()) << out->summary.path_reason;
    ASSERT_EQ(out->rows(), data->subjects[s].records.size());
    for (size_t i = 0; i < out->rows(); ++i, ++row) {
      ASSERT_EQ(nonmem[row][0], data->subjects[s].id);
      const double expected = std::stod(nonmem[row][2]);
      const double ours = out->observables[i * spec.observables.size() + cp] * 1000.0;
      const double tol = 1e-4 * std::fabs(expected) + 1e-3;
      if (std::fabs(ours - expected) > tol && ++failures <= 20) {
        ADD_FAILURE() << "ID " << data->subjects[s].id << " TIME " << out->time_h[i] << " (row "
                      << row << "): NONMEM " << expected << ", medtwin " << ours;
      }
    }
  }
  EXPECT_EQ(failures, 0u) << "rows outside tolerance";
  EXPECT_EQ(row, nonmem.size());
}

INSTANTIATE_TEST_SUITE_P(BothPaths, NmtestsConformance,
                         ::testing::Values(SimPath::kOde, SimPath::kClosedForm),
                         [](const auto& info) {
                           return std::string(info.param == SimPath::kOde ? "Ode" : "ClosedForm");
                         });

}  // namespace
}  // namespace medtwin
