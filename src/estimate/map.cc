// MAP / maximum-likelihood estimation (NLopt L-BFGS), Laplace covariance and SIR.
#include <nlopt.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <sstream>
#include <string>

#include "estimate/posterior.h"
#include "medtwin/estimate.h"

namespace medtwin {
namespace {

// Etas stay within +-kEtaBound (a factor e^10 on the parameter): a fit that runs there is
// reported as unidentified, not returned.
constexpr double kEtaBound = 10.0;
// Central differences on eta (log scale) unless FitOptions::difference_step says otherwise.
constexpr double kGradientStep = 1e-5;
constexpr double kHessianStep = 2e-3;
constexpr double kInfeasible = 1e20;  // objective where parameters leave the model's bounds
constexpr double kMaxLogSd = 5.0;     // Laplace SD of a log parameter beyond which it is unknown
// A point where L-BFGS stalls counts as the optimum if a Newton step would lower OFV by less
// than half this (g' H^-1 g; 1e-8 puts eta within 1e-4 posterior SD of the optimum).
constexpr double kNewtonDecrement = 1e-8;
// The same for a fit whose caller declared the objective noisy (FitOptions::difference_step):
// its difference gradients carry an error of about noise / step, and a Newton step along it of
// g' H^-1 g = 1e-3 moves eta by about 0.02 posterior SD, well inside the posterior's width.
constexpr double kNoisyNewtonDecrement = 1e-3;
// With sensitivity gradients, L-BFGS is stopped after kMaxStalls points in a row that lie within
// kStallStep (in eta) of the best point so far: its line search is then shrinking into the
// objective's numerical noise (the integrator's error, about rtol relative).
constexpr double kStallStep = 1e-8;
constexpr int kMaxStalls = 2;

struct OptimState {
  Posterior* post = nullptr;
  double gradient_step = kGradientStep;
  int evaluations = 0;
  int failed_trials = 0;  // trial points the model could not be simulated at
  std::string first_trial_failure;
  Status error;
  bool use_sensitivities = true;  // until the simulator says it cannot provide them
  std::string fallback_reason;    // why finite differences are used
  int gradient_evaluations = 0;
  nlopt_opt opt = nullptr;     // the running optimiser (to stop it)
  std::vector<double> best_x;  // lowest objective seen with sensitivities, and where
  double best_f = HUGE_VAL;
  int stalls = 0;
  bool sens_closed_form = false, sens_ode = false;  // paths that gave sensitivity gradients
};

// How the gradients of a fit were computed, for SubjectFit::gradient.
std::string GradientSource(const OptimState& s) {
  if (!s.use_sensitivities) return "central finite differences (" + s.fallback_reason + ")";
  if (s.sens_closed_form && s.sens_ode) return "forward sensitivities (closed form and CVODES)";
  return s.sens_closed_form ? "forward sensitivities (closed form)"
                            : "forward sensitivities (CVODES)";
}

// Records a point evaluated with sensitivities; stops the optimiser once it stalls.
void NoteProgress(OptimState* s, const double* x, double f) {
  const size_t n = static_cast<size_t>(s->post->num_etas());
  double step = HUGE_VAL;
  if (!s->best_x.empty()) {
    step = 0.0;
    for (size_t i = 0; i < n; ++i) step = std::max(step, std::fabs(x[i] - s->best_x[i]));
  }
  s->stalls = step <= kStallStep ? s->stalls + 1 : 0;
  if (f < s->best_f) {
    s->best_f = f;
    s->best_x.assign(x, x + n);
  }
  if (s->stalls >= kMaxStalls && s->opt != nullptr) nlopt_force_stop(s->opt);
}

// Whether an evaluation that failed counts as an infeasible point the line search backs off
// from: parameters out of the model's bounds anywhere but at the start, and, at a point the
// optimiser chose (`trial`, not a difference neighbour), a model that cannot be simulated there
// (a circulation at a factor e^1.25 less blood and 60 % more resistance, say). L-BFGS's first
// trial lies on the eta bounds when the gradient is large; where the model cannot be simulated,
// the fit would otherwise stop there. A failure at the point finally returned is still an error.
bool Infeasible(OptimState* s, const Status& st, bool trial) {
  if (s->evaluations <= 1) return false;
  if (st.code() == StatusCode::kInvalidArgument) return true;
  if (!trial || st.code() != StatusCode::kNumerical) return false;
  if (s->failed_trials++ == 0) s->first_trial_failure = st.message();
  return true;
}

Result<double> Evaluate(OptimState* s, const double* eta, bool trial = false) {
  ++s->evaluations;
  auto v = s->post->Objective(eta);
  if (!v.ok() && Infeasible(s, v.status(), trial)) return kInfeasible;
  return v;
}

// OFV and its gradient from forward sensitivities; kUnsupported where there are none.
Result<double> EvaluateWithGradient(OptimState* s, const double* eta, double* grad) {
  ++s->evaluations;
  auto v = s->post->ObjectiveAndGradient(eta, grad);
  if (!v.ok() && Infeasible(s, v.status(), true)) {
    // As with finite differences, a flat infeasible value makes the line search back off.
    std::fill(grad, grad + s->post->num_etas(), 0.0);
    return kInfeasible;
  }
  if (!v.ok() && v.status().code() == StatusCode::kUnsupported) --s->evaluations;
  if (v.ok()) {
    (s->post->last_path() == SimPath::kClosedForm ? s->sens_closed_form : s->sens_ode) = true;
  }
  return v;
}

double NloptObjective(unsigned n, const double* x, double* grad, void* data) {
  auto* s = static_cast<OptimState*>(data);
  if (grad != nullptr) ++s->gradient_evaluations;
  if (grad != nullptr && s->use_sensitivities) {
    auto f = EvaluateWithGradient(s, x, grad);
    if (f.ok()) {
      NoteProgress(s, x, *f);
      return *f;
    }
    if (f.status().code() != StatusCode::kUnsupported) {
      s->error = f.status();
      return HUGE_VAL;
    }
    // Not available for this subject (model events or delays, SS dosing on a nonlinear model, a
    // dose that changes kind as eta moves): finite differences from here on.
    s->use_sensitivities = false;
    s->fallback_reason = f.status().message();
  }
  auto f = Evaluate(s, x, true);
  if (!f.ok()) {
    s->error = f.status();
    return HUGE_VAL;
  }
  if (grad != nullptr && *f >= kInfeasible) {  // no slope to follow: the line search backs off
    std::fill(grad, grad + n, 0.0);
  } else if (grad != nullptr) {
    std::vector<double> xp(x, x + n);
    for (unsigned i = 0; i < n; ++i) {
      const double h = s->gradient_step * std::max(1.0, std::fabs(x[i]));
      xp[i] = x[i] + h;
      auto up = Evaluate(s, xp.data());
      xp[i] = x[i] - h;
      auto down = Evaluate(s, xp.data());
      xp[i] = x[i];
      if (!up.ok() || !down.ok()) {
        s->error = !up.ok() ? up.status() : down.status();
        return HUGE_VAL;
      }
      grad[i] = (*up - *down) / (2.0 * h);
    }
  }
  return *f;
}

// L-BFGS from *x (overwritten with the result) with the gradients `state` provides.
nlopt_result Minimise(OptimState* state, const FitOptions& options, std::vector<double>* x) {
  const int n = static_cast<int>(x->size());
  std::vector<double> lo(n, -kEtaBound), hi(n, kEtaBound);
  nlopt_opt opt = nlopt_create(NLOPT_LD_LBFGS, n);
  nlopt_set_min_objective(opt, NloptObjective, state);
  nlopt_set_lower_bounds(opt, lo.data());
  nlopt_set_upper_bounds(opt, hi.data());
  nlopt_set_xtol_abs1(opt, options.xtol);
  nlopt_set_ftol_abs(opt, 1e-12);
  nlopt_set_maxeval(opt, std::max(1, options.max_evaluations - state->evaluations));
  state->opt = opt;
  double f = 0.0;
  const nlopt_result r = nlopt_optimize(opt, x->data(), &f);
  state->opt = nullptr;
  nlopt_destroy(opt);
  // With sensitivities the best point seen is kept (a stopped line search may end elsewhere).
  if (state->use_sensitivities && !state->best_x.empty() && state->best_f < f) *x = state->best_x;
  return r;
}

const char* StopReason(nlopt_result r) {
  switch (r) {
    case NLOPT_SUCCESS:
      return "converged";
    case NLOPT_STOPVAL_REACHED:
      return "objective reached the stop value";
    case NLOPT_FTOL_REACHED:
      return "converged (objective change below tolerance)";
    case NLOPT_XTOL_REACHED:
      return "converged (parameter change below tolerance)";
    case NLOPT_MAXEVAL_REACHED:
      return "stopped: evaluation limit reached";
    case NLOPT_MAXTIME_REACHED:
      return "stopped: time limit reached";
    case NLOPT_ROUNDOFF_LIMITED:
      return "stopped: roundoff limited (the optimum is as precise as the objective allows)";
    case NLOPT_FORCED_STOP:
      return "stopped: the objective failed";
    default:
      return "failed";
  }
}

// Hessian of OFV at x by central differences (exact for quadratics up to rounding).
Result<Eigen::MatrixXd> Hessian(Posterior* post, const std::vector<double>& x, double f0,
                                double step) {
  const int n = static_cast<int>(x.size());
  Eigen::MatrixXd h(n, n);
  std::vector<double> y = x;
  auto at = [&](int i, double di, int j, double dj) -> Result<double> {
    y = x;
    y[i] += di;
    y[j] += dj;
    return post->Objective(y.data());
  };
  for (int i = 0; i < n; ++i) {
    const double hi = step;
    auto up = at(i, hi, i, 0.0), down = at(i, -hi, i, 0.0);
    if (!up.ok()) return up.status();
    if (!down.ok()) return down.status();
    h(i, i) = (*up - 2.0 * f0 + *down) / (hi * hi);
    for (int j = 0; j < i; ++j) {
      const double hj = step;
      auto pp = at(i, hi, j, hj), pm = at(i, hi, j, -hj), mp = at(i, -hi, j, hj),
           mm = at(i, -hi, j, -hj);
      for (const auto* r : {&pp, &pm, &mp, &mm}) {
        if (!r->ok()) return r->status();
      }
      h(i, j) = h(j, i) = (*pp - *pm - *mp + *mm) / (4.0 * hi * hj);
    }
  }
  return h;
}

// Newton decrement g' H^-1 g at x (g as the optimiser computes it, h the Hessian there);
// infinite if h is not positive definite.
Result<double> NewtonDecrement(OptimState* state, const std::vector<double>& x,
                               const Eigen::MatrixXd& h) {
  Eigen::VectorXd g(x.size());
  NloptObjective(static_cast<unsigned>(x.size()), x.data(), g.data(), state);
  if (!state->error.ok()) return state->error;
  Eigen::LLT<Eigen::MatrixXd> llt(h);
  if (llt.info() != Eigen::Success) return HUGE_VAL;
  return g.dot(llt.solve(g));
}

struct ModeSearch {
  nlopt_result result = NLOPT_FAILURE;
  std::string stop_reason;
  std::optional<Eigen::MatrixXd> hessian;  // of OFV at the mode, if computed on the way
  std::string failure_detail;              // why a stalled point was not accepted
};

// L-BFGS from *x to the mode of OFV (written to *x). Either gradient carries the integrator's
// error (sensitivities: about rtol relative; differences: the objective's error over the step),
// which near the optimum can exceed what is left to gain: the line search then stalls (stopped
// by NoteProgress, or failing in NLopt). A stalled point is accepted if a Newton step would gain
// nothing; otherwise a sensitivity fit goes on with finite differences, and a finite-difference
// fit reports the failure with what a Newton step would still gain.
Result<ModeSearch> FindMode(OptimState* state, const FitOptions& options, std::vector<double>* x) {
  ModeSearch out;
  out.result = Minimise(state, options, x);
  if (!state->error.ok()) return state->error;
  out.stop_reason = StopReason(out.result);
  if (out.result != NLOPT_FAILURE && out.result != NLOPT_FORCED_STOP) return out;
  // At the eta bound the caller reports the parameter as not identified.
  for (double e : *x) {
    if (std::fabs(e) > 0.999 * kEtaBound) return out;
  }
  auto at_x = state->post->Objective(x->data());
  if (!at_x.ok()) return at_x.status();
  auto h = Hessian(state->post, *x, *at_x,
                   options.difference_step > 0.0 ? options.difference_step : kHessianStep);
  if (!h.ok()) return h.status();
  auto decrement = NewtonDecrement(state, *x, *h);
  if (!decrement.ok()) return decrement.status();
  std::ostringstream why;
  if (*decrement < (options.difference_step > 0.0 ? kNoisyNewtonDecrement : kNewtonDecrement)) {
    out.result = NLOPT_SUCCESS;
    why << "converged (the line search stalled at the gradient's precision; Newton decrement "
        << *decrement << ")";
    out.stop_reason = why.str();
    out.hessian = std::move(h).value();
  } else if (!state->use_sensitivities) {
    why << "; a Newton step from its last point would still lower OFV by " << 0.5 * *decrement;
    out.failure_detail = why.str();
  } else {
    state->use_sensitivities = false;
    state->fallback_reason = "the line search with sensitivities stalled before the optimum";
    out.result = Minimise(state, options, x);
    if (!state->error.ok()) return state->error;
    out.stop_reason = StopReason(out.result);
  }
  return out;
}

// The parameters that dominate an eigenvector, for "cannot identify" messages.
std::string Dominant(const ModelSpec& spec, const Eigen::VectorXd& v) {
  std::string names;
  for (int i = 0; i < v.size(); ++i) {
    if (std::fabs(v(i)) < 0.3) continue;
    names += (names.empty() ? "" : " and ") + spec.variability.parameters[i];
  }
  return names;
}

// Sampling-importance-resampling around the MAP (DOMAIN.md 3.4).
Status Sir(Posterior* post, const FitOptions& o, SubjectFit* fit) {
  const int n = post->num_etas();
  const Eigen::Map<const Eigen::MatrixXd> cov(fit->covariance.data(), n, n);
  const Eigen::Map<const Eigen::VectorXd> mode(fit->eta.data(), n);
  Eigen::LLT<Eigen::MatrixXd> llt(cov);
  if (llt.info() != Eigen::Success) return Status::Numerical("SIR: Laplace covariance not usable");
  const Eigen::MatrixXd l = llt.matrixL();
  const Eigen::MatrixXd l_inv =
      l.triangularView<Eigen::Lower>().solve(Eigen::MatrixXd::Identity(n, n));
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> normal;
  std::chi_squared_distribution<double> chi2(1.0);
  std::vector<double> draws, log_w;
  draws.reserve(static_cast<size_t>(o.sir_proposals) * n);
  Eigen::VectorXd z(n), eta(n);
  for (int k = 0; k < o.sir_proposals; ++k) {
    for (int i = 0; i < n; ++i) z(i) = normal(rng);
    const double scale = std::sqrt(1.0 / chi2(rng));  // t with 1 df = normal / sqrt(chi2_1)
    const Eigen::VectorXd u = z * scale;              // standardised proposal
    if (u.norm() > 6.0) continue;                     // beyond 6 SD: rejected
    eta = mode + l * u;
    auto ofv = post->Objective(eta.data());
    if (!ofv.ok()) {
      if (ofv.status().code() == StatusCode::kInvalidArgument) continue;  // out of bounds
      return ofv.status().WithContext("SIR");
    }
    // log proposal density (up to a constant): multivariate t, 1 df: -(1 + n)/2 ln(1 + u'u).
    const double log_q = -0.5 * (1.0 + n) * std::log1p((l_inv * (eta - mode)).squaredNorm());
    log_w.push_back(-0.5 * *ofv - log_q);
    draws.insert(draws.end(), eta.data(), eta.data() + n);
  }
  if (log_w.empty()) return Status::Numerical("SIR: no proposal had a finite posterior");
  const double max_lw = *std::max_element(log_w.begin(), log_w.end());
  std::vector<double> w(log_w.size());
  double sum = 0.0, sum2 = 0.0;
  for (size_t k = 0; k < w.size(); ++k) {
    w[k] = std::exp(log_w[k] - max_lw);
    sum += w[k];
    sum2 += w[k] * w[k];
  }
  fit->sir_effective_size = sum * sum / sum2;
  std::discrete_distribution<size_t> pick(w.begin(), w.end());
  fit->sir_draws.clear();
  fit->sir_draws.reserve(static_cast<size_t>(o.sir_resamples) * n);
  for (int k = 0; k < o.sir_resamples; ++k) {
    const size_t j = pick(rng);
    fit->sir_draws.insert(fit->sir_draws.end(), draws.begin() + j * n, draws.begin() + (j + 1) * n);
  }
  return Status::Ok();
}

// Adaptive random-walk Metropolis (Haario et al. 2001, Bernoulli 7:223) around the MAP.
Status Mcmc(Posterior* post, const FitOptions& o, SubjectFit* fit) {
  const int n = post->num_etas();
  const double scale = 2.38 * 2.38 / n;
  Eigen::MatrixXd prop = scale * Eigen::Map<const Eigen::MatrixXd>(fit->covariance.data(), n, n);
  Eigen::MatrixXd l = prop.llt().matrixL();
  std::mt19937_64 rng(o.seed ^ 0x5DEECE66DULL);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  Eigen::VectorXd x = Eigen::Map<const Eigen::VectorXd>(fit->eta.data(), n), z(n);
  double f = fit->objective;
  // Running mean and covariance of the burn-in, for the adaptation.
  Eigen::VectorXd mean = x;
  Eigen::MatrixXd m2 = Eigen::MatrixXd::Zero(n, n);
  const long total = o.mcmc_burn_in + static_cast<long>(o.mcmc_samples) * o.mcmc_thin;
  long accepted = 0, proposals = 0;
  fit->mcmc_draws.clear();
  fit->mcmc_draws.reserve(static_cast<size_t>(o.mcmc_samples) * n);
  for (long it = 0; it < total; ++it) {
    for (int i = 0; i < n; ++i) z(i) = normal(rng);
    const Eigen::VectorXd y = x + l * z;
    auto fy = post->Objective(y.data());
    if (!fy.ok() && fy.status().code() != StatusCode::kInvalidArgument) {
      return fy.status().WithContext("MCMC");
    }
    // Out of the model's bounds: zero posterior, rejected.
    const bool accept = fy.ok() && std::log(unif(rng)) < -0.5 * (*fy - f);
    if (it >= o.mcmc_burn_in) {
      ++proposals;
      accepted += accept;
    }
    if (accept) {
      x = y;
      f = *fy;
    }
    if (it < o.mcmc_burn_in) {
      // Welford update; adapt every 200 iterations once the estimate has settled.
      const Eigen::VectorXd d = x - mean;
      mean += d / static_cast<double>(it + 2);
      m2 += d * (x - mean).transpose();
      if (it >= 500 && (it + 1) % 200 == 0) {
        Eigen::MatrixXd c = m2 / static_cast<double>(it + 1);
        c += 1e-8 * Eigen::MatrixXd::Identity(n, n);
        Eigen::LLT<Eigen::MatrixXd> llt(scale * c);
        if (llt.info() == Eigen::Success) l = llt.matrixL();
      }
    } else if ((it - o.mcmc_burn_in) % o.mcmc_thin == o.mcmc_thin - 1) {
      fit->mcmc_draws.insert(fit->mcmc_draws.end(), x.data(), x.data() + n);
    }
  }
  fit->mcmc_acceptance =
      proposals > 0 ? static_cast<double>(accepted) / static_cast<double>(proposals) : 0.0;
  return Status::Ok();
}

}  // namespace

const char* ToString(PriorKind p) { return p == PriorKind::kPopulation ? "population" : "none"; }

const char* ToString(GradientMethod g) {
  return g == GradientMethod::kAuto ? "auto" : "finite-difference";
}

Result<GradientMethod> GradientMethodFromString(const std::string& s) {
  if (s == "auto") return GradientMethod::kAuto;
  if (s == "finite-difference") return GradientMethod::kFiniteDifference;
  return Status::Invalid("unknown gradient method '" + s +
                         "' (expected auto or finite-difference)");
}

Result<PriorKind> PriorKindFromString(const std::string& s) {
  if (s == "population") return PriorKind::kPopulation;
  if (s == "none") return PriorKind::kNone;
  return Status::Invalid("unknown prior '" + s + "' (expected population or none)");
}

Status FitOptions::Validate() const {
  MEDTWIN_RETURN_IF_ERROR(sim.Validate());
  if (max_evaluations <= 0) return Status::Invalid("max_evaluations must be > 0");
  if (!(xtol > 0.0)) return Status::Invalid("xtol must be > 0");
  for (double e : initial_eta) {
    if (!(std::fabs(e) < kEtaBound)) {
      return Status::Invalid("initial_eta values must be finite and within +-" +
                             std::to_string(kEtaBound) + ", got " + std::to_string(e));
    }
  }
  if (!(difference_step >= 0.0 && difference_step < 1.0)) {
    return Status::Invalid("difference_step must be in [0, 1) (0: the defaults), got " +
                           std::to_string(difference_step));
  }
  if (sir_proposals < 0) return Status::Invalid("sir_proposals must be >= 0");
  if (sir_proposals > 0 && sir_resamples <= 0) return Status::Invalid("sir_resamples must be > 0");
  if (mcmc_samples < 0) return Status::Invalid("mcmc_samples must be >= 0");
  if (mcmc_samples > 0 && (mcmc_burn_in < 0 || mcmc_thin <= 0)) {
    return Status::Invalid("mcmc_burn_in must be >= 0 and mcmc_thin > 0");
  }
  return Status::Ok();
}

Result<double> SubjectObjective(const Model& model, const Dataset& data, size_t subject_index,
                                const FitOptions& options, const std::vector<double>& eta) {
  auto post = Posterior::Make(model, data, subject_index, options);
  if (!post.ok()) return post.status();
  if (static_cast<int>(eta.size()) != (*post)->num_etas()) {
    return Status::Invalid("expected " + std::to_string((*post)->num_etas()) + " etas");
  }
  return (*post)->Objective(eta.data());
}

Result<SubjectFit> FitSubject(const Model& model, const Dataset& data, size_t subject_index,
                              const FitOptions& options) {
  auto made = Posterior::Make(model, data, subject_index, options);
  if (!made.ok()) return made.status();
  Posterior* post = made->get();
  const ModelSpec& spec = model.spec();
  const int n = post->num_etas();
  SubjectFit fit;
  fit.id = post->subject_id();
  const std::string who = "subject " + fit.id;

  // Minimise OFV from eta = 0 (the population typical individual) or the caller's start.
  if (!options.initial_eta.empty() && static_cast<int>(options.initial_eta.size()) != n) {
    return Status::Invalid(who + ": initial_eta has " + std::to_string(options.initial_eta.size()) +
                           " values, expected " + std::to_string(n) + " (one per random effect)");
  }
  std::vector<double> x =
      options.initial_eta.empty() ? std::vector<double>(n, 0.0) : options.initial_eta;
  OptimState state;
  state.post = post;
  if (options.difference_step > 0.0) state.gradient_step = options.difference_step;
  if (options.gradient == GradientMethod::kFiniteDifference) {
    state.use_sensitivities = false;
    state.fallback_reason = "requested";
  }
  auto mode = FindMode(&state, options, &x);
  if (!mode.ok()) return mode.status().WithContext(who);
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > 0.999 * kEtaBound) {
      return Status::Invalid(who + ": the estimate of " + spec.variability.parameters[i] +
                             " ran to its bound (a factor e^" + std::to_string(kEtaBound) +
                             "); the data do not determine it" +
                             (post->has_prior() ? "" : " (fit with the population prior)"));
    }
  }
  const nlopt_result r = mode->result;
  if (r < 0 && r != NLOPT_ROUNDOFF_LIMITED) {
    return Status::Numerical(who + ": the optimiser failed (" + StopReason(r) + ")" +
                             mode->failure_detail);
  }
  if (state.failed_trials > 0) {
    fit.warnings.push_back(std::to_string(state.failed_trials) +
                           " trial point(s) of the optimiser could not be simulated and were "
                           "treated as infeasible; the first: " +
                           state.first_trial_failure);
  }
  fit.evaluations = state.evaluations;
  fit.gradient_evaluations = state.gradient_evaluations;
  fit.gradient = GradientSource(state);
  fit.converged = r > 0 || r == NLOPT_ROUNDOFF_LIMITED;
  fit.stop_reason = mode->stop_reason;
  auto at_mode = post->Objective(x.data());
  if (!at_mode.ok()) return at_mode.status().WithContext(who);
  fit.objective = *at_mode;
  fit.eta = x;

  // Laplace: covariance = (H / 2)^-1, H the Hessian of OFV = -2 log posterior.
  auto h = mode->hessian
               ? Result<Eigen::MatrixXd>(*mode->hessian)
               : Hessian(post, x, fit.objective,
                         options.difference_step > 0.0 ? options.difference_step : kHessianStep);
  if (!h.ok()) return h.status().WithContext(who);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(*h);
  const Eigen::VectorXd lambda = eig.eigenvalues();
  const double lmax = lambda.maxCoeff(), lmin = lambda.minCoeff();
  if (!(lmin > 1e-9 * std::max(lmax, 1e-300))) {
    return Status::Invalid(
        who + ": the data cannot identify " + Dominant(spec, eig.eigenvectors().col(0)) +
        " (the posterior is flat in that direction: Hessian eigenvalue " + std::to_string(lmin) +
        ")" + (post->has_prior() ? "" : "; fit with the population prior"));
  }
  fit.condition_number = lmax / lmin;
  const Eigen::MatrixXd cov = (0.5 * *h).inverse();
  fit.covariance.assign(cov.data(), cov.data() + n * n);
  // Practically flat: one SD of the estimate spans more than a factor e^kMaxLogSd.
  for (int i = 0; i < n; ++i) {
    if (std::sqrt(cov(i, i)) > kMaxLogSd) {
      return Status::Invalid(who + ": the data cannot identify " +
                             Dominant(spec, eig.eigenvectors().col(0)) + " (the SD of log " +
                             spec.variability.parameters[i] + " is " +
                             std::to_string(std::sqrt(cov(i, i))) + ")" +
                             (post->has_prior() ? "" : "; fit with the population prior"));
    }
  }

  MEDTWIN_RETURN_IF_ERROR(post->Parameters(x.data(), &fit.parameters));
  std::vector<double> ipred, pred;
  MEDTWIN_RETURN_IF_ERROR(post->Predict(x.data(), &ipred));
  const std::vector<double> zero(n, 0.0);
  MEDTWIN_RETURN_IF_ERROR(post->Predict(zero.data(), &pred));
  int censored = 0;
  for (size_t k = 0; k < post->observations().size(); ++k) {
    FittedObservation o = post->observations()[k];
    o.pred = pred[k];
    o.ipred = ipred[k];
    o.res = o.dv - o.ipred;
    const ResidualError& e = post->error(o.observable);
    const bool log_scale = e.model == ErrorModel::kExponential;
    const double r_scaled = log_scale ? std::log(o.dv / o.ipred) : o.res;
    o.iwres = o.censored ? std::nan("") : r_scaled / e.Sd(o.ipred);
    censored += o.censored;
    fit.observations.push_back(o);
  }
  if (censored == static_cast<int>(fit.observations.size())) {
    fit.warnings.push_back("all " + std::to_string(censored) +
                           " observations are below the quantification limit: the estimate "
                           "rests on the prior and the limits");
  }
  if (options.sir_proposals > 0) MEDTWIN_RETURN_IF_ERROR(Sir(post, options, &fit));
  if (options.mcmc_samples > 0) MEDTWIN_RETURN_IF_ERROR(Mcmc(post, options, &fit));
  return fit;
}

Result<DatasetFit> FitDataset(const Model& model, const Dataset& data, const FitOptions& options) {
  DatasetFit out;
  for (size_t s = 0; s < data.subjects.size(); ++s) {
    auto fit = FitSubject(model, data, s, options);
    if (!fit.ok()) return fit.status();
    out.subjects.push_back(std::move(fit).value());
  }
  const ModelSpec& spec = model.spec();
  const size_t n = spec.variability.parameters.size();
  const size_t m = out.subjects.size();
  out.shrinkage.assign(n, std::nan(""));
  if (options.prior != PriorKind::kPopulation || m < 2) return out;
  for (size_t i = 0; i < n; ++i) {
    double mean = 0.0, ss = 0.0;
    for (const auto& f : out.subjects) mean += f.eta[i];
    mean /= static_cast<double>(m);
    for (const auto& f : out.subjects) ss += (f.eta[i] - mean) * (f.eta[i] - mean);
    const double sd = std::sqrt(ss / static_cast<double>(m - 1));
    out.shrinkage[i] = 1.0 - sd / std::sqrt(spec.variability.omega[i * n + i]);
  }
  return out;
}

}  // namespace medtwin
