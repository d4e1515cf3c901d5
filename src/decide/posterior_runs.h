// Internals shared by the forecast and the what-if comparison: one simulation of a regimen per
// posterior draw, from the start or from the draw's filter state. Not a public API.
#ifndef MEDTWIN_DECIDE_POSTERIOR_RUNS_H_
#define MEDTWIN_DECIDE_POSTERIOR_RUNS_H_

#include <functional>
#include <string>
#include <vector>

#include "medtwin/decide.h"

namespace medtwin::decide_internal {

// Percentile q (0..100) of sorted values, linear between order statistics (type 7).
double Percentile(const std::vector<double>& sorted, double q);

// Simulates subject `subject_index` of `regimen` once per row k of `etas` (m rows of the
// posterior's random effects, as PosteriorDraws returns them) and calls each(k, output). A
// posterior carrying filter states (start_record >= 0) continues draw k from its state; row k
// pairs with state k mod the states available (PosteriorDraws cycles the draws in order).
// Errors name `who` and the draw.
Status ForEachDraw(const Model& model, const Dataset& regimen, size_t subject_index,
                   const IndividualPosterior& posterior, const std::vector<double>& etas, int m,
                   const SimOptions& sim_options, const OutputRequest& request,
                   const std::string& who,
                   const std::function<Status(int k, const SimOutput& out)>& each);

}  // namespace medtwin::decide_internal

#endif  // MEDTWIN_DECIDE_POSTERIOR_RUNS_H_
