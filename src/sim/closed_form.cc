#include "sim/closed_form.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "sim/directional.h"

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
  if (sens_ != nullptr) {
    CouplingMatrices();
    kernel_.StartSensitivities(sens_->count, b_.data(), sens_->s, sens_->dr);
  } else {
    kernel_.StopSensitivities();
  }
  t_h_ = t_h;
  return Status::Ok();
}

Status ClosedFormPropagator::SetSensitivities(SensitivityInput* sens) {
  sens_ = sens;
  return Status::Ok();
}

// A(p) is an algebraic function of p (rates are ratios of clearances and volumes): a central
// directional difference along dp_k with the step of sim/directional.h is accurate to ~1e-11
// relative, and exact for entries linear in p.
void ClosedFormPropagator::CouplingMatrices() {
  const int n = model_.num_states(), np = model_.num_parameters();
  const size_t nn = static_cast<size_t>(n) * n;
  b_.assign(sens_->count * nn, 0.0);
  a_plus_.resize(nn);
  a_minus_.resize(nn);
  p_plus_.resize(np);
  p_minus_.resize(np);
  for (int k = 0; k < sens_->count; ++k) {
    const double* dp = sens_->dp + static_cast<size_t>(k) * np;
    DirectionalStep step;
    step.AddValues(np, cached_p_.data(), dp);
    const double e = step.Step();
    if (e == 0.0) continue;  // A does not move with this eta
    Perturb(np, cached_p_.data(), dp, e, p_plus_.data(), p_minus_.data());
    model_.LinearMatrix(p_plus_.data(), a_plus_.data());
    model_.LinearMatrix(p_minus_.data(), a_minus_.data());
    for (size_t i = 0; i < nn; ++i) b_[k * nn + i] = (a_plus_[i] - a_minus_[i]) / (2.0 * e);
  }
}

Status ClosedFormPropagator::Advance(double t_out_h, double t_stop_h, double* x,
                                     double* t_reached) {
  if (t_reached != nullptr) *t_reached = t_out_h;
  double* s = sens_ != nullptr ? sens_->s : nullptr;
  kernel_.Step(t_out_h - t_h_, x, s);
  t_h_ = t_out_h;
  ++evals_;
  const int n = model_.num_states();
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      return Status::Numerical("closed form: state '" + model_.spec().states[i].name +
                               "' is not finite at " + model_.spec().TimeText(t_out_h));
    }
  }
  for (int k = 0; s != nullptr && k < sens_->count; ++k) {
    for (int i = 0; i < n; ++i) {
      if (!std::isfinite(s[k * n + i])) {
        return Status::Numerical(
            "closed form: the sensitivity of state '" + model_.spec().states[i].name + "' to eta " +
            std::to_string(k + 1) + " is not finite at " + model_.spec().TimeText(t_out_h));
      }
    }
  }
  return Status::Ok();
}

void ClosedFormPropagator::AddCounters(SimSummary* summary) const {
  summary->kernel_evals += evals_;
}

}  // namespace medtwin
