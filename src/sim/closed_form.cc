#include "sim/closed_form.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace medtwin {

ClosedFormPropagator::ClosedFormPropagator(const Model& model)
    : model_(model),
      a_(static_cast<size_t>(model.num_states()) * model.num_states()),
      cached_p_(model.num_parameters()) {}

Status ClosedFormPropagator::Prepare(const double* p) {
  const int np = model_.num_parameters();
  if (cached_ && std::equal(p, p + np, cached_p_.begin())) return Status::Ok();
  cached_ = false;
  if (!model_.LinearMatrix(p, a_.data())) {
    return Status::Unsupported("model '" + model_.spec().name + "' is not linear");
  }
  MEDTWIN_RETURN_IF_ERROR(kernel_.Decompose(a_.data(), model_.num_states()));
  std::copy(p, p + np, cached_p_.begin());
  cached_ = true;
  return Status::Ok();
}

Status ClosedFormPropagator::Restart(double t_h, const double* x, const double* p,
                                     const double* r) {
  MEDTWIN_RETURN_IF_ERROR(Prepare(p));
  kernel_.Start(x, r);
  t_h_ = t_h;
  return Status::Ok();
}

Status ClosedFormPropagator::Advance(double t_out_h, double t_stop_h, double* x,
                                     double* t_reached) {
  if (t_reached != nullptr) *t_reached = t_out_h;
  kernel_.Step(t_out_h - t_h_, x);
  t_h_ = t_out_h;
  ++evals_;
  for (int i = 0; i < model_.num_states(); ++i) {
    if (!std::isfinite(x[i])) {
      return Status::Numerical("closed form: state '" + model_.spec().states[i].name +
                               "' is not finite at t=" + std::to_string(t_out_h) + " h");
    }
  }
  return Status::Ok();
}

void ClosedFormPropagator::AddCounters(SimSummary* summary) const {
  summary->kernel_evals += evals_;
}

}  // namespace medtwin
