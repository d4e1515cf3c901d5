#include "medtwin/state_history.h"

#include <algorithm>

namespace medtwin {
namespace {
thread_local const StateHistory* tl_current = nullptr;
}  // namespace

void StateHistory::Record(double t, const double* x, const double* dxdt) {
  const size_t k = times_.empty() || t >= times_.back()
                       ? times_.size()
                       : std::upper_bound(times_.begin(), times_.end(), t) - times_.begin();
  times_.insert(times_.begin() + k, t);
  x_.insert(x_.begin() + k * n_, x, x + n_);
  dx_.insert(dx_.begin() + k * n_, dxdt, dxdt + n_);
  // Amortised: act only once the window is twice the horizon.
  if (times_.back() - times_.front() > 2.0 * horizon_) DiscardOld();
}

void StateHistory::DiscardOld() {
  const double cut = times_.back() - horizon_;
  // Keep the last record at or before the cut: interpolation at the cut needs it.
  size_t first = std::upper_bound(times_.begin(), times_.end(), cut) - times_.begin();
  if (first > 0) --first;
  if (first == 0) return;
  times_.erase(times_.begin(), times_.begin() + first);
  x_.erase(x_.begin(), x_.begin() + first * n_);
  dx_.erase(dx_.begin(), dx_.begin() + first * n_);
}

void StateHistory::SetLastDerivative(const double* dxdt) {
  std::copy(dxdt, dxdt + n_, dx_.end() - n_);
}

void StateHistory::TruncateAfter(double t) {
  const size_t keep = std::upper_bound(times_.begin(), times_.end(), t) - times_.begin();
  times_.resize(keep);
  x_.resize(keep * n_);
  dx_.resize(keep * n_);
}

std::size_t StateHistory::FirstAtOrAfter(double t) const {
  return std::lower_bound(times_.begin(), times_.end(), t) - times_.begin();
}

void StateHistory::Clear() {
  times_.clear();
  x_.clear();
  dx_.clear();
}

StateHistory::Weights StateHistory::Locate(double tau) const {
  // The last record at or before tau (after a jump at tau: the state after it).
  const size_t upper = std::upper_bound(times_.begin(), times_.end(), tau) - times_.begin();
  if (upper == 0) return {0, 0, 1.0, 0.0, 0.0, 0.0};  // before the start: the initial state
  const size_t k = upper - 1;
  const double s = tau - times_[k];
  if (upper == times_.size()) return {k, k, 1.0, s, 0.0, 0.0};  // linear extrapolation
  const double h = times_[k + 1] - times_[k];  // > 0: tau lies strictly before times_[k + 1]
  const double u = s / h;
  // Cubic Hermite basis on [0, 1], the derivative weights scaled by h.
  return {k,
          k + 1,
          (1.0 + 2.0 * u) * (1.0 - u) * (1.0 - u),
          u * (1.0 - u) * (1.0 - u) * h,
          u * u * (3.0 - 2.0 * u),
          u * u * (u - 1.0) * h};
}

void StateHistory::At(double tau, double* x) const {
  const Weights w = Locate(tau);
  const double* x0 = x_.data() + w.k0 * n_;
  const double* d0 = dx_.data() + w.k0 * n_;
  const double* x1 = x_.data() + w.k1 * n_;
  const double* d1 = dx_.data() + w.k1 * n_;
  for (int i = 0; i < n_; ++i) {
    x[i] = w.h00 * x0[i] + w.h10 * d0[i] + w.h01 * x1[i] + w.h11 * d1[i];
  }
}

double StateHistory::At(double tau, int i) const {
  const Weights w = Locate(tau);
  return w.h00 * x_[w.k0 * n_ + i] + w.h10 * dx_[w.k0 * n_ + i] + w.h01 * x_[w.k1 * n_ + i] +
         w.h11 * dx_[w.k1 * n_ + i];
}

const StateHistory* StateHistory::Current() { return tl_current; }

StateHistory::Scope::Scope(const StateHistory* h) : previous_(tl_current) { tl_current = h; }

StateHistory::Scope::~Scope() { tl_current = previous_; }

}  // namespace medtwin
