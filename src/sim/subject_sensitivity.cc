// Forward sensitivities of a subject's run with respect to the random effects eta
// (include/medtwin/simulator.h): what happens to s = dx/deta at the start, at doses, at the end
// of infusions, at resets and at the output rows. Between those the propagator integrates s.
//
// Jumps at parameter-dependent times: a dose given at tau(eta) (a lag ALAG) maps x- to
// x+ = G(x-, p, amount, rate) (Model::OnDoseStart, then the bolus added). Differentiating
// x(t) = Phi(t, tau, G(x(tau-))) gives
//   s+ = DG [s- + f- dtau, dp, d amount, d rate] - f+ dtau,
// f-/f+ the full right-hand side (model plus infusions) just before/after the dose; with a dose
// of fixed time and G = x + amount this is s+ = s- + d amount. An infusion ending at
// tau_end = tau + duration(eta) leaves x continuous while f drops by its rate:
//   s+ = s- + rate * dtau_end   in the infused state.
// DG is a central directional difference (sim/directional.h); exact for G affine in x.
//
// Steady state (SS=1/2, linear models): the trough x_ss is the fixed point of one dosing
// cycle's map x -> Phi x + g(eta), Phi = exp(A II). One cycle run from x_ss with s = 0 gives
// c = dPhi/deta x_ss + dg/deta (doses, infusion rates and ends of the cycle included), and the
// trough's sensitivity is the fixed point s = Phi s + c: s = (I - Phi)^-1 c, per mode. A
// constant-infusion steady state is the fixed point of any window's map, so the same holds with
// the window's length. With a lag the record lies II - ALAG into the cycle: s -= f dALAG there.
#include <algorithm>
#include <cmath>
#include <string>

#include "sim/directional.h"
#include "sim/subject_run.h"

namespace medtwin {
namespace {

// Offsets of the derivative blocks of one resolved dose (ne values each).
enum DoseDerivBlock { kAmount = 0, kRate = 1, kDuration = 2, kLag = 3 };

}  // namespace

Status SubjectRun::CheckSensitivities() {
  const std::string why = "forward sensitivities: ";
  if (start_ != nullptr) {
    return Status::Unsupported(why + "not available for runs continued from a given state");
  }
  if (model_.reads_history()) {
    return Status::Unsupported(why + "model '" + model_.spec().name +
                               "' reads past states (delay)");
  }
  if (model_.num_roots() > 0) {
    return Status::Unsupported(why + "model '" + model_.spec().name +
                               "' has discrete events, whose times depend on the parameters");
  }
  ne_ = static_cast<int>(model_.spec().variability.parameters.size());
  if (!individual_.eta.empty() && static_cast<int>(individual_.eta.size()) != ne_) {
    return Status::Invalid("expected " + std::to_string(ne_) + " random effects, got " +
                           std::to_string(individual_.eta.size()));
  }
  out_.num_sensitivities = ne_;
  sens_on_ = ne_ > 0;  // no random effects: nothing to differentiate
  if (!sens_on_) return Status::Ok();
  s_.assign(static_cast<size_t>(ne_) * n_, 0.0);
  dr_.assign(static_cast<size_t>(ne_) * n_, 0.0);
  dparams_.clear();
  dose_derivs_.clear();
  for (int i = 0; i < 2; ++i) {
    scratch_x_[i].assign(n_, 0.0);
    scratch_p_[i].assign(np_, 0.0);
    scratch_y_[i].assign(std::max(n_, no_), 0.0);
  }
  sens_in_ = SensitivityInput{ne_, nullptr, dr_.data(), s_.data()};
  return Status::Ok();
}

Status SubjectRun::ParameterDerivatives(std::span<const double> theta,
                                        std::span<const double> covariates, int row) {
  std::vector<double> eta(individual_.eta.begin(), individual_.eta.end());
  eta.resize(ne_, 0.0);
  std::vector<double> plus(np_), minus(np_);
  dparams_.resize(static_cast<size_t>(row + 1) * ne_ * np_);
  double* dp = dparams_.data() + static_cast<size_t>(row) * ne_ * np_;
  for (int k = 0; k < ne_; ++k) {
    // eta is a log-scale effect of order 1: an absolute step of cbrt(eps) balances truncation
    // and rounding of the central difference.
    const double h = kDirectionalStep * std::max(1.0, std::fabs(eta[k]));
    const double e0 = eta[k];
    eta[k] = e0 + h;
    Status st = model_.Individualize(theta, eta, covariates, plus);
    eta[k] = e0 - h;
    if (st.ok()) st = model_.Individualize(theta, eta, covariates, minus);
    eta[k] = e0;
    if (!st.ok()) {
      return st.WithContext("subject " + subject_.id + ": forward sensitivities, eta " +
                            std::to_string(k + 1) + " perturbed");
    }
    for (int j = 0; j < np_; ++j) dp[k * np_ + j] = (plus[j] - minus[j]) / (2.0 * h);
  }
  return Status::Ok();
}

void SubjectRun::InitialSensitivities(const double* p, const double* dp) {
  for (int k = 0; k < ne_; ++k) {
    double* s = s_.data() + static_cast<size_t>(k) * n_;
    DirectionalStep step;
    step.AddValues(np_, p, dp + static_cast<size_t>(k) * np_);
    const double e = step.Step();
    if (e == 0.0) {
      std::fill(s, s + n_, 0.0);
      continue;
    }
    Perturb(np_, p, dp + static_cast<size_t>(k) * np_, e, scratch_p_[0].data(),
            scratch_p_[1].data());
    model_.InitialState(scratch_p_[0].data(), scratch_x_[0].data());
    model_.InitialState(scratch_p_[1].data(), scratch_x_[1].data());
    for (int i = 0; i < n_; ++i) s[i] = (scratch_x_[0][i] - scratch_x_[1][i]) / (2.0 * e);
  }
}

Result<int> SubjectRun::DoseDerivatives(const Record& rec, int param_row, const ResolvedDose& d) {
  const double* p = Params(param_row);
  const double* dp_row = DParams(param_row);
  const int index = static_cast<int>(dose_derivs_.size() / (4 * static_cast<size_t>(ne_)));
  dose_derivs_.resize(dose_derivs_.size() + 4 * static_cast<size_t>(ne_), 0.0);
  double* out = dose_derivs_.data() + static_cast<size_t>(index) * 4 * ne_;
  for (int k = 0; k < ne_; ++k) {
    const double* dp = dp_row + static_cast<size_t>(k) * np_;
    DirectionalStep step;
    step.AddValues(np_, p, dp);
    const double e = step.Step();
    if (e == 0.0) continue;  // F, ALAG, R, D cannot move with this eta
    Perturb(np_, p, dp, e, scratch_p_[0].data(), scratch_p_[1].data());
    Result<ResolvedDose> plus = modifiers_.Resolve(rec, scratch_p_[0].data());
    Result<ResolvedDose> minus = modifiers_.Resolve(rec, scratch_p_[1].data());
    if (!plus.ok() || !minus.ok()) {
      return Status::Unsupported(Where(rec.time_h) + " (line " + std::to_string(rec.line) +
                                 "): forward sensitivities: the dose modifiers cannot be "
                                 "differentiated there (" +
                                 (!plus.ok() ? plus : minus).status().message() + ")");
    }
    // A bolus turning into an infusion (or F reaching 0) is a kink, not a derivative.
    if (plus->IsInfusion() != d.IsInfusion() || minus->IsInfusion() != d.IsInfusion()) {
      return Status::Unsupported(Where(rec.time_h) +
                                 ": forward sensitivities: the dose changes kind when its "
                                 "modifiers move");
    }
    const double inv = 1.0 / (2.0 * e);
    out[kAmount * ne_ + k] = (plus->amount - minus->amount) * inv;
    out[kRate * ne_ + k] = (plus->rate - minus->rate) * inv;
    out[kDuration * ne_ + k] = d.IsInfusion() ? (plus->duration_h - minus->duration_h) * inv : 0.0;
    out[kLag * ne_ + k] = (plus->lag_h - minus->lag_h) * inv;
  }
  return index;
}

void SubjectRun::DoseJump(const ResolvedDose& d, int derivs, double t_h,
                          const std::vector<double>& x_before,
                          const std::vector<double>& rate_before) {
  const double* dd = derivs >= 0 ? DoseDerivs(derivs) : nullptr;
  const double* dp_cur = DParams(row_cur_);
  const double atol = ctx_.options->atol;
  // The right-hand side just before and after the dose, needed only if its time moves.
  bool time_moves = false;
  for (int k = 0; dd != nullptr && k < ne_; ++k) time_moves |= dd[kLag * ne_ + k] != 0.0;
  std::vector<double> f_before, f_after;
  if (time_moves) {
    f_before.resize(n_);
    f_after.resize(n_);
    model_.Rhs(t_h, x_before.data(), p_cur_, f_before.data());
    model_.Rhs(t_h, x_.data(), p_cur_, f_after.data());
    for (int i = 0; i < n_; ++i) {
      f_before[i] += rate_before[i];
      f_after[i] += rate_[i];
    }
  }
  std::vector<double> dir(n_);
  double* xs[2] = {scratch_x_[0].data(), scratch_x_[1].data()};
  for (int k = 0; k < ne_; ++k) {
    double* s = s_.data() + static_cast<size_t>(k) * n_;
    const double dtau = dd != nullptr ? dd[kLag * ne_ + k] : 0.0;
    for (int i = 0; i < n_; ++i) dir[i] = s[i] + (dtau != 0.0 ? f_before[i] * dtau : 0.0);
    const double* dp = dp_cur + static_cast<size_t>(k) * np_;
    const double da = dd != nullptr ? dd[kAmount * ne_ + k] : 0.0;
    const double drate = dd != nullptr ? dd[kRate * ne_ + k] : 0.0;
    DirectionalStep step;
    step.AddStates(n_, x_before.data(), dir.data(), atol);
    step.AddValues(np_, p_cur_, dp);
    step.AddValues(1, &d.amount, &da);
    step.AddValues(1, &d.rate, &drate);
    const double e = step.Step();
    if (e == 0.0) {
      std::fill(s, s + n_, 0.0);
    } else {
      Perturb(n_, x_before.data(), dir.data(), e, xs[0], xs[1]);
      Perturb(np_, p_cur_, dp, e, scratch_p_[0].data(), scratch_p_[1].data());
      for (int side = 0; side < 2; ++side) {
        const double sign = side == 0 ? 1.0 : -1.0;
        const double amount = d.amount + sign * e * da;
        const double rate = d.rate + sign * e * drate;
        model_.OnDoseStart(t_h, d.state, amount, rate, scratch_p_[side].data(), xs[side]);
        if (!d.IsInfusion()) xs[side][d.state] += amount;
      }
      for (int i = 0; i < n_; ++i) s[i] = (xs[0][i] - xs[1][i]) / (2.0 * e);
    }
    if (dtau != 0.0) {
      for (int i = 0; i < n_; ++i) s[i] -= f_after[i] * dtau;
    }
  }
}

void SubjectRun::InfusionEndJump(const ActiveInfusion& a) {
  if (a.derivs < 0) return;
  const double* dd = DoseDerivs(a.derivs);
  for (int k = 0; k < ne_; ++k) {
    const double dtau_end = dd[kLag * ne_ + k] + dd[kDuration * ne_ + k];
    s_[static_cast<size_t>(k) * n_ + a.state] += a.rate * dtau_end;
  }
}

void SubjectRun::UpdateRateDerivatives() {
  std::fill(dr_.begin(), dr_.end(), 0.0);
  for (const ActiveInfusion& a : active_) {
    if (a.derivs < 0) continue;
    const double* dd = DoseDerivs(a.derivs);
    for (int k = 0; k < ne_; ++k) dr_[static_cast<size_t>(k) * n_ + a.state] += dd[kRate * ne_ + k];
  }
}

Status SubjectRun::PeriodicSensitivity(const ResolvedDose& d, int row,
                                       const std::vector<double>& x_ss,
                                       const std::vector<ActiveInfusion>& active,
                                       CycleSensitivity* cs) {
  std::vector<double> x = x_ss;
  std::vector<ActiveInfusion> running = active;
  std::fill(cs->s.begin(), cs->s.end(), 0.0);
  AddDoseAtZero(d, cs->derivs, &x, &running);
  CycleDoseJump(d, cs);
  MEDTWIN_RETURN_IF_ERROR(RunWindow(row, d.ii_h, &x, &running, cs));
  MEDTWIN_RETURN_IF_ERROR(ctx_.linear->Prepare(Params(row)));
  const std::vector<double> c = cs->s;
  return ctx_.linear->kernel().PeriodicFixedPoint(d.ii_h, ne_, c.data(), cs->s.data());
}

Status SubjectRun::ConstantInfusionSensitivity(const ResolvedDose& d, int row,
                                               const std::vector<double>& x_ss,
                                               CycleSensitivity* cs) {
  // Any window will do; one day keeps 1 - exp(lambda T) away from 0 for the slow modes.
  constexpr double kWindowH = 24.0;
  std::vector<double> x = x_ss;
  std::vector<ActiveInfusion> running{{0, d.state, d.rate, kInf, cs->derivs}};
  std::fill(cs->s.begin(), cs->s.end(), 0.0);
  MEDTWIN_RETURN_IF_ERROR(RunWindow(row, kWindowH, &x, &running, cs));
  MEDTWIN_RETURN_IF_ERROR(ctx_.linear->Prepare(Params(row)));
  const std::vector<double> c = cs->s;
  return ctx_.linear->kernel().PeriodicFixedPoint(kWindowH, ne_, c.data(), cs->s.data());
}

void SubjectRun::CycleDoseJump(const ResolvedDose& d, CycleSensitivity* cs) const {
  // Virtual doses do not call OnDoseStart: a bolus adds its amount, an infusion its rate (dr).
  if (d.IsInfusion() || cs->derivs < 0) return;
  const double* dd = DoseDerivs(cs->derivs);
  for (int k = 0; k < ne_; ++k)
    cs->s[static_cast<size_t>(k) * n_ + d.state] += dd[kAmount * ne_ + k];
}

void SubjectRun::CycleRateDerivatives(const std::vector<ActiveInfusion>& active,
                                      CycleSensitivity* cs) const {
  std::fill(cs->dr.begin(), cs->dr.end(), 0.0);
  for (const ActiveInfusion& a : active) {
    if (a.derivs < 0) continue;
    const double* dd = DoseDerivs(a.derivs);
    for (int k = 0; k < ne_; ++k)
      cs->dr[static_cast<size_t>(k) * n_ + a.state] += dd[kRate * ne_ + k];
  }
}

void SubjectRun::CycleInfusionEnd(const ActiveInfusion& a, CycleSensitivity* cs) const {
  if (a.derivs < 0) return;
  const double* dd = DoseDerivs(a.derivs);  // in phase time only the duration moves the end
  for (int k = 0; k < ne_; ++k) {
    cs->s[static_cast<size_t>(k) * n_ + a.state] += a.rate * dd[kDuration * ne_ + k];
  }
}

void SubjectRun::LagPhaseShift(double t_h, const std::vector<double>& x, const double* p,
                               CycleSensitivity* cs) {
  if (cs->derivs < 0) return;
  const double* dd = DoseDerivs(cs->derivs);
  std::vector<double> f(n_);
  model_.Rhs(t_h, x.data(), p, f.data());
  for (int i = 0; i < n_; ++i) f[i] += ss_rate_[i];  // the infusions of the cycle's last segment
  for (int k = 0; k < ne_; ++k) {
    for (int i = 0; i < n_; ++i)
      cs->s[static_cast<size_t>(k) * n_ + i] -= f[i] * dd[kLag * ne_ + k];
  }
}

void SubjectRun::OutputSensitivities(double t_h, int param_row) {
  const double* p = Params(param_row);
  const double* dp_row = DParams(param_row);
  out_.state_sensitivities.insert(out_.state_sensitivities.end(), s_.begin(), s_.end());
  const size_t off = out_.observable_sensitivities.size();
  out_.observable_sensitivities.resize(off + static_cast<size_t>(ne_) * no_);
  double* dy = out_.observable_sensitivities.data() + off;
  for (int k = 0; k < ne_; ++k) {
    const double* s = s_.data() + static_cast<size_t>(k) * n_;
    const double* dp = dp_row + static_cast<size_t>(k) * np_;
    DirectionalStep step;
    step.AddStates(n_, x_.data(), s, ctx_.options->atol);
    step.AddValues(np_, p, dp);
    const double e = step.Step();
    if (e == 0.0) continue;  // zero-filled
    Perturb(n_, x_.data(), s, e, scratch_x_[0].data(), scratch_x_[1].data());
    Perturb(np_, p, dp, e, scratch_p_[0].data(), scratch_p_[1].data());
    model_.Observe(t_h, scratch_x_[0].data(), scratch_p_[0].data(), scratch_y_[0].data());
    model_.Observe(t_h, scratch_x_[1].data(), scratch_p_[1].data(), scratch_y_[1].data());
    for (int j = 0; j < no_; ++j) {
      dy[k * no_ + j] = (scratch_y_[0][j] - scratch_y_[1][j]) / (2.0 * e);
    }
  }
}

}  // namespace medtwin
