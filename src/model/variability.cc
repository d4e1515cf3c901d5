// WithVariability (include/medtwin/model.h): a model whose random effects act on parameters of
// the caller's choosing, delegating everything else to the model it wraps.
#include <cmath>
#include <utility>

#include "medtwin/model.h"
#include "model/model_internal.h"

namespace medtwin {
namespace {

class VariabilityOverride final : public Model {
 public:
  VariabilityOverride(ModelSpec spec, std::unique_ptr<Model> inner, std::vector<int> index)
      : Model(std::move(spec)), inner_(std::move(inner)), index_(std::move(index)) {}

  // The wrapped model's individual parameters at eta = 0 (its covariate effects), then
  // exp(eta_j) on each parameter of the new variability.
  Status Individualize(std::span<const double> theta, std::span<const double> eta,
                       std::span<const double> covariates, std::span<double> out) const override {
    MEDTWIN_RETURN_IF_ERROR(internal::CheckIndividualizeSizes(spec(), theta, eta, covariates, out));
    MEDTWIN_RETURN_IF_ERROR(inner_->Individualize(theta, {}, covariates, out));
    for (size_t j = 0; j < eta.size(); ++j) out[index_[j]] *= std::exp(eta[j]);
    return internal::CheckIndividualParameters(spec(), out);
  }
  void InitialState(const double* p, double* x) const override { inner_->InitialState(p, x); }
  void Rhs(double t, const double* x, const double* p, double* dxdt) const override {
    inner_->Rhs(t, x, p, dxdt);
  }
  void Observe(double t, const double* x, const double* p, double* y) const override {
    inner_->Observe(t, x, p, y);
  }
  void OnDoseStart(double t, int state, double amount, double rate, const double* p,
                   double* x) const override {
    inner_->OnDoseStart(t, state, amount, rate, p, x);
  }
  bool LinearMatrix(const double* p, double* a) const override {
    return inner_->LinearMatrix(p, a);
  }
  int num_roots() const override { return inner_->num_roots(); }
  void Roots(double t, const double* x, const double* p, double* g) const override {
    inner_->Roots(t, x, p, g);
  }
  std::unique_ptr<EventState> NewEventState() const override { return inner_->NewEventState(); }
  bool reads_history() const override { return inner_->reads_history(); }
  double HistoryHorizon(const double* p) const override { return inner_->HistoryHorizon(p); }

 private:
  std::unique_ptr<Model> inner_;
  std::vector<int> index_;  // per new random effect: its parameter's index
};

}  // namespace

Result<std::unique_ptr<Model>> WithVariability(std::unique_ptr<Model> model,
                                               Variability variability) {
  ModelSpec spec = model->spec();
  const std::string where = "model '" + spec.name + "': random effects";
  std::vector<int> index;
  for (const std::string& name : variability.parameters) {
    const int k = spec.ParameterIndex(name);
    if (k < 0) {
      return Status::Invalid(where + ": '" + name + "' is not a parameter of the model");
    }
    for (int seen : index) {
      if (seen == k) return Status::Invalid(where + ": '" + name + "' is listed twice");
    }
    if (!(spec.parameters[k].typical > 0.0)) {
      return Status::Invalid(where + ": '" + name + "' has typical value " +
                             std::to_string(spec.parameters[k].typical) +
                             "; a log-normal random effect (P * exp(eta)) acts only on positive "
                             "parameters");
    }
    index.push_back(k);
  }
  // The spec's own spelling of each name (the caller may match case-insensitively).
  for (size_t j = 0; j < index.size(); ++j) {
    variability.parameters[j] = spec.parameters[index[j]].name;
  }
  spec.variability = std::move(variability);
  MEDTWIN_RETURN_IF_ERROR(spec.Validate().WithContext(where));
  return std::unique_ptr<Model>(
      new VariabilityOverride(std::move(spec), std::move(model), std::move(index)));
}

}  // namespace medtwin
