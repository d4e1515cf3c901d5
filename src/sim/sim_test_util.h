// Test-only helpers shared by the simulator and estimation tests: a model by name and a dataset
// from CSV text, failing the current test (not aborting) when either cannot be made.
#ifndef MEDTWIN_SRC_SIM_SIM_TEST_UTIL_H_
#define MEDTWIN_SRC_SIM_SIM_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "medtwin/dataset.h"
#include "medtwin/model.h"

namespace medtwin::testing {

inline std::unique_ptr<Model> Make(const std::string& name) {
  auto m = MakeModel(name);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

inline Dataset Read(const std::string& csv, const Model& m) {
  auto d = ReadDataset(csv, m);
  EXPECT_TRUE(d.ok()) << d.status().ToString() << "\n" << csv;
  return std::move(d).value();
}

}  // namespace medtwin::testing

#endif  // MEDTWIN_SRC_SIM_SIM_TEST_UTIL_H_
