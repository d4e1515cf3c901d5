// Population simulation: virtual subjects sampled from a model's between-subject variability,
// simulated in parallel, summarised as percentiles per output time.
//
// Each regimen subject (ID) in the dataset is an arm; every arm gets n_subjects virtual
// subjects. Virtual subject k of arm a draws its random effects from its own generator seeded
// by (seed, a, k), so results are identical for any thread count.
#ifndef MEDTWIN_POPULATION_H_
#define MEDTWIN_POPULATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"
#include "medtwin/status.h"

namespace medtwin {

struct PopulationOptions {
  int n_subjects = 1000;  // virtual subjects per arm, >= 1
  uint64_t seed = 1;      // random seed
  int threads = 1;        // the caller's thread budget, >= 1: RunPopulation uses this many
                          // std::threads (the calling one included), each with one Simulator
  std::vector<double> percentiles = {5.0, 50.0, 95.0};  // in [0, 100], ascending
  bool residual_error = false;  // add each observable's residual error to the prediction
  bool keep_all = false;        // keep every virtual subject's rows (for --all)
  SimOptions sim;
  Status Validate() const;
};

struct PopulationArm {
  std::string id;              // regimen subject ID
  std::vector<double> time_h;  // output rows
  // Percentiles, indexed [(row * num_observables + obs) * num_percentiles + k].
  std::vector<double> percentiles;
  // When keep_all: observables of every subject, [(subject * rows + row) * num_observables + obs].
  std::vector<double> all;
  // Random effects of every subject, [subject * num_eta + j] (always kept: small).
  std::vector<double> eta;
};

struct PopulationSummary {
  long subjects = 0;  // virtual subjects simulated (all arms)
  int threads = 0;
  double wall_time_s = 0.0;
  double subjects_per_second = 0.0;
  long steps = 0, rhs_evals = 0, kernel_evals = 0;
  long closed_form_subjects = 0;  // subjects that took the closed-form path
  std::string Brief() const;
};

struct PopulationResult {
  std::vector<PopulationArm> arms;
  PopulationSummary summary;
};

// REQUIRES: regimen was read for `model`. theta: population typical values (spec order; empty
// = the model's). Errors name the virtual subject and arm.
Result<PopulationResult> RunPopulation(const Model& model, const Dataset& regimen,
                                       const OutputRequest& request,
                                       const std::vector<double>& theta,
                                       const PopulationOptions& options);

}  // namespace medtwin

#endif  // MEDTWIN_POPULATION_H_
