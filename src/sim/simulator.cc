#include "medtwin/simulator.h"

#include <chrono>
#include <cmath>
#include <sstream>

#include "sim/closed_form.h"
#include "sim/cvodes_integrator.h"
#include "sim/subject_run.h"

namespace medtwin {

const char* ToString(OdeMethod m) {
  switch (m) {
    case OdeMethod::kBdf:
      return "bdf";
    case OdeMethod::kAdams:
      return "adams";
    case OdeMethod::kExplicitRk:
      return "erk";
  }
  return "?";
}

Result<OdeMethod> OdeMethodFromString(const std::string& s) {
  if (s == "bdf") return OdeMethod::kBdf;
  if (s == "adams") return OdeMethod::kAdams;
  if (s == "erk") return OdeMethod::kExplicitRk;
  return Status::Invalid("unknown ODE method '" + s + "' (expected bdf, adams or erk)");
}

const char* ToString(SimPath p) {
  switch (p) {
    case SimPath::kAuto:
      return "auto";
    case SimPath::kOde:
      return "ode";
    case SimPath::kClosedForm:
      return "closed-form";
  }
  return "?";
}

Result<SimPath> SimPathFromString(const std::string& s) {
  if (s == "auto") return SimPath::kAuto;
  if (s == "ode") return SimPath::kOde;
  if (s == "closed-form") return SimPath::kClosedForm;
  return Status::Invalid("unknown path '" + s + "' (expected auto, ode or closed-form)");
}

Status SimOptions::Validate() const {
  auto bad = [](const char* name, double v, const char* expected) {
    std::ostringstream os;
    os << "option " << name << "=" << v << ": expected " << expected;
    return Status::Invalid(os.str());
  };
  if (!(rtol > 0.0 && rtol < 1.0)) return bad("rtol", rtol, "0 < rtol < 1");
  if (!(atol > 0.0 && std::isfinite(atol))) return bad("atol", atol, "atol > 0");
  if (max_steps <= 0) return bad("max_steps", max_steps, "max_steps > 0");
  if (!(ss_rtol > 0.0 && ss_rtol < 1.0)) return bad("ss_rtol", ss_rtol, "0 < ss_rtol < 1");
  if (!(ss_atol > 0.0 && std::isfinite(ss_atol))) return bad("ss_atol", ss_atol, "ss_atol > 0");
  if (ss_max_cycles <= 0) return bad("ss_max_cycles", ss_max_cycles, "ss_max_cycles > 0");
  return Status::Ok();
}

std::string SimSummary::Brief() const {
  std::ostringstream os;
  os << "path=" << ToString(path);
  if (!path_reason.empty()) os << " (" << path_reason << ")";
  os << " steps=" << steps << " rhs=" << rhs_evals << " jac=" << jac_evals
     << " err_fails=" << error_test_failures << " nl_fails=" << nonlinear_failures
     << " restarts=" << reinits << " kernel_evals=" << kernel_evals << " ss_cycles=" << ss_cycles
     << " wall=" << wall_time_s * 1e3 << "ms";
  return os.str();
}

class Simulator::Impl {
 public:
  Impl(const Model& model, const SimOptions& options) : model_(model), options_(options) {}

  Status Init() {
    MEDTWIN_RETURN_IF_ERROR(options_.Validate());
    std::vector<double> p = model_.spec().TypicalValues();
    std::vector<double> a(static_cast<size_t>(model_.num_states()) * model_.num_states());
    linear_ = model_.LinearMatrix(p.data(), a.data());
    if (options_.path == SimPath::kClosedForm && !linear_) {
      return Status::Unsupported("the closed-form path needs a linear model; '" +
                                 model_.spec().name + "' is nonlinear");
    }
    ode_ = std::make_unique<CvodesIntegrator>(model_, options_);
    if (linear_) closed_ = std::make_unique<ClosedFormPropagator>(model_);
    return Status::Ok();
  }

  Result<SimOutput> Run(const Dataset& data, const Subject& subject, const OutputRequest& request,
                        const IndividualInput& individual, const RunStart* start) {
    const auto clock_start = std::chrono::steady_clock::now();
    RunContext ctx{&model_, &options_, ode_.get(), closed_.get(), linear_, &history_};
    SimSummary summary;
    summary.path = SimPath::kOde;
    if (!linear_) {
      summary.path_reason = "model is nonlinear";
    } else if (options_.path == SimPath::kOde) {
      summary.path_reason = "requested";
    } else {
      ctx.propagator = closed_.get();
      summary.path = SimPath::kClosedForm;
    }
    Result<SimOutput> out = RunWith(ctx, data, subject, request, individual, start);
    if (!out.ok() && summary.path == SimPath::kClosedForm &&
        out.status().code() == StatusCode::kUnsupported && options_.path == SimPath::kAuto) {
      // The system matrix of this subject is not diagonalisable with real eigenvalues
      // (e.g. KA equal to a disposition rate): the ODE path is exact where the kernel is not.
      summary.path = SimPath::kOde;
      summary.path_reason = "closed form unavailable: " + out.status().message();
      ctx.propagator = ode_.get();
      out = RunWith(ctx, data, subject, request, individual, start);
    }
    if (!out.ok()) return out;
    SimSummary& s = out->summary;
    const long ss_cycles = s.ss_cycles;
    s = summary;
    s.ss_cycles = ss_cycles;
    ode_->AddCounters(&s);
    if (closed_) closed_->AddCounters(&s);
    s.wall_time_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - clock_start).count();
    return out;
  }

 private:
  Result<SimOutput> RunWith(const RunContext& ctx, const Dataset& data, const Subject& subject,
                            const OutputRequest& request, const IndividualInput& individual,
                            const RunStart* start) {
    ode_->ResetCounters();
    if (closed_) closed_->ResetCounters();
    SubjectRun run(ctx, subject, &data, request, individual, start);
    return run.Execute();
  }

  const Model& model_;
  SimOptions options_;
  bool linear_ = false;
  std::unique_ptr<CvodesIntegrator> ode_;
  std::unique_ptr<ClosedFormPropagator> closed_;
  StateHistory history_{model_.num_states()};  // lent to every run (RunContext::history)
};

Simulator::Simulator(const Model& model, SimOptions options)
    : model_(model), options_(options), impl_(std::make_unique<Impl>(model, options)) {}

Simulator::~Simulator() = default;

Status Simulator::Init() {
  Status st = impl_->Init();
  if (st.ok()) initialized_ = true;
  return st;
}

Result<SimOutput> Simulator::Run(const Dataset& data, size_t subject_index,
                                 const OutputRequest& request, const IndividualInput& individual,
                                 const RunStart* start) {
  if (!initialized_) MEDTWIN_RETURN_IF_ERROR(Init());
  if (subject_index >= data.subjects.size()) {
    return Status::Invalid("subject index " + std::to_string(subject_index) + " out of range");
  }
  if (start != nullptr && start->state.size() != static_cast<size_t>(model_.num_states())) {
    return Status::Invalid("start state has " + std::to_string(start->state.size()) +
                           " values; model '" + model_.spec().name + "' has " +
                           std::to_string(model_.num_states()) + " states");
  }
  return impl_->Run(data, data.subjects[subject_index], request, individual, start);
}

}  // namespace medtwin
