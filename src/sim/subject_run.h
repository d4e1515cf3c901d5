// SubjectRun: the event loop for one subject (internal to the simulator).
//
// Records and extra output times form a timeline in file order; doses implied by ADDL or lag
// and infusion ends live in a priority queue keyed by (time, class, sequence). At equal times
// infusion ends come first, then implied doses, then records, then extra output times.
#ifndef MEDTWIN_SIM_SUBJECT_RUN_H_
#define MEDTWIN_SIM_SUBJECT_RUN_H_

#include <queue>
#include <span>
#include <vector>

#include "events/schedule.h"
#include "medtwin/simulator.h"
#include "medtwin/state_history.h"
#include "sim/closed_form.h"
#include "sim/propagator.h"

namespace medtwin {

// An infusion in progress.
struct ActiveInfusion {
  long id = 0;
  int state = 0;
  double rate = 0.0;   // amount/h
  double end_h = 0.0;  // absolute end time (kInf: until reset)
  int derivs = -1;     // forward sensitivities: the dose's derivatives (SubjectRun::dose_derivs_)
};

// Forward sensitivities carried through the virtual dosing cycles of a steady-state record, in
// phase time (the cycle's dose at 0): s and dr (ne x n each) and the record's dose derivatives.
struct CycleSensitivity {
  std::vector<double> s, dr;
  int derivs = -1;
};

// Everything a run needs that outlives it (owned by Simulator::Impl).
struct RunContext {
  const Model* model = nullptr;
  const SimOptions* options = nullptr;
  Propagator* propagator = nullptr;        // the path chosen for this subject
  ClosedFormPropagator* linear = nullptr;  // non-null when the model is linear (SS, closed form)
  bool model_linear = false;               // dx/dt = A(p) x: superposition (SS=2) is valid
  // Storage for the trajectory of models that read past states, reused from run to run (null:
  // the run allocates its own). A run clears it first; keeping its capacity spares a sequential
  // filter, which runs every member anew between observations, from growing fresh buffers (and
  // their page faults) in every run.
  StateHistory* history = nullptr;
};

class SubjectRun {
 public:
  SubjectRun(const RunContext& ctx, const Subject& subject, const Dataset* dataset_info,
             const OutputRequest& request, const IndividualInput& individual,
             const RunStart* start = nullptr);
  Result<SimOutput> Execute();

 private:
  enum class PendingKind { kDose, kInfusionEnd };
  struct Pending {
    double t_h;
    int klass;  // 0 infusion end, 1 implied dose
    long seq;
    PendingKind kind;
    long generation;
    long infusion_id;
    ResolvedDose dose;
    int derivs = -1;  // forward sensitivities: the dose's derivatives (dose_derivs_)
  };
  struct Later {
    bool operator()(const Pending& a, const Pending& b) const;
  };
  struct TimelineItem {
    double t_h;
    int record;  // -1: extra output time
  };

  Status ComputeParameters();
  void BuildTimeline();
  int ParamSetAfter(int record) const;
  double NextDiscontinuity(size_t timeline_index) const;
  Status AdvanceTo(double t_h, size_t timeline_index);
  Status UpdateEvents(const int* root_directions);
  Status HandlePending(const Pending& e);
  Status HandleRecord(int r);
  Status HandleDoseRecord(int r);
  void GiveDose(const ResolvedDose& d, double t_h, int derivs = -1);
  void StartInfusion(int state, double rate, double end_h, int derivs = -1);
  void UpdateRates(std::vector<double>* rate, const std::vector<ActiveInfusion>& active) const;
  void Reset(int param_row);
  void Output(double t_h, int record, int param_row);
  std::string Where(double t_h) const;
  const double* Params(int row) const { return params_.data() + static_cast<size_t>(row) * np_; }

  // Forward sensitivities with respect to eta (subject_sensitivity.cc; see simulator.h).
  // Refuses what the sensitivities do not cover (kUnsupported, naming it); sets sens_on_, ne_.
  Status CheckSensitivities();
  // dp/deta_k for parameter row `row` (central differences of Individualize).
  Status ParameterDerivatives(std::span<const double> theta, std::span<const double> covariates,
                              int row);
  const double* DParams(int row) const {
    return dparams_.data() + static_cast<size_t>(row) * ne_ * np_;
  }
  // s = dx0/deta at the initial state of parameters p (after the start and EVID 3/4 resets).
  void InitialSensitivities(const double* p, const double* dp);
  // Derivatives of a resolved dose (amount, rate, duration, lag per eta) into dose_derivs_;
  // returns their index.
  Result<int> DoseDerivatives(const Record& rec, int param_row, const ResolvedDose& d);
  const double* DoseDerivs(int index) const {
    return dose_derivs_.data() + static_cast<size_t>(index) * 4 * ne_;
  }
  // s across a dose given at t_h: x_before/rate_before held before it, x_/rate_ after.
  void DoseJump(const ResolvedDose& d, int derivs, double t_h, const std::vector<double>& x_before,
                const std::vector<double>& rate_before);
  // s across the end of infusion a (its end time may depend on eta).
  void InfusionEndJump(const ActiveInfusion& a);
  // dr_: d(infusion rate)/deta of the infusions in progress.
  void UpdateRateDerivatives();
  // Appends the sensitivities of the output row at t_h (parameters of row `param_row`).
  void OutputSensitivities(double t_h, int param_row);

  // Steady state (steady_state.cc) for the dose d of parameter row `row`; `derivs` its
  // derivatives (forward sensitivities; -1 without).
  Status ApplySteadyState(const ResolvedDose& d, int row, double t_h, int derivs);
  Status PeriodicTrough(const ResolvedDose& d, int row, int derivs, std::vector<double>* x,
                        std::vector<ActiveInfusion>* active);
  Status ConstantInfusionState(const ResolvedDose& d, int row, std::vector<double>* x);
  // Runs the virtual cycle state x for duration_h with the infusions `active`, carrying the
  // sensitivities cs along when not null.
  Status RunWindow(int row, double duration_h, std::vector<double>* x,
                   std::vector<ActiveInfusion>* active, CycleSensitivity* cs = nullptr);
  static void AddDoseAtZero(const ResolvedDose& d, int derivs, std::vector<double>* x,
                            std::vector<ActiveInfusion>* active);
  // Sensitivities of the steady state (linear models; subject_sensitivity.cc): cs->s becomes
  // ds/deta at the trough x_ss (periodic doses; `active` the infusions running there) or at the
  // constant-infusion steady state, as the fixed point of one cycle's sensitivity map.
  Status PeriodicSensitivity(const ResolvedDose& d, int row, const std::vector<double>& x_ss,
                             const std::vector<ActiveInfusion>& active, CycleSensitivity* cs);
  Status ConstantInfusionSensitivity(const ResolvedDose& d, int row,
                                     const std::vector<double>& x_ss, CycleSensitivity* cs);
  // s across a virtual bolus at phase 0, dr of the infusions `active`, s across the end of a.
  void CycleDoseJump(const ResolvedDose& d, CycleSensitivity* cs) const;
  void CycleRateDerivatives(const std::vector<ActiveInfusion>& active, CycleSensitivity* cs) const;
  void CycleInfusionEnd(const ActiveInfusion& a, CycleSensitivity* cs) const;
  // With a lag the record's time is II - ALAG into the cycle, a phase that moves with eta:
  // s -= dx/dt * dALAG/deta there (x the state at the record, p its parameters).
  void LagPhaseShift(double t_h, const std::vector<double>& x, const double* p,
                     CycleSensitivity* cs);

  RunContext ctx_;
  const Model& model_;
  const Subject& subject_;
  const OutputRequest& request_;
  IndividualInput individual_;
  DoseModifierMap modifiers_;
  int n_, np_, no_;

  std::vector<double> params_;  // records x np (individual parameters per record)
  std::vector<int> param_set_;  // per record: index of its parameter row in params_
  std::vector<TimelineItem> timeline_;
  std::vector<double> next_dirty_;  // per timeline index: time of the next discontinuity record
  std::priority_queue<Pending, std::vector<Pending>, Later> queue_;
  long seq_ = 0, generation_ = 0, next_infusion_id_ = 0;

  double t_h_ = 0.0;
  std::vector<double> x_, rate_, ss_rate_;
  std::vector<ActiveInfusion> active_;
  const double* p_cur_ = nullptr;
  int row_cur_ = 0;                            // parameter row of p_cur_
  std::unique_ptr<EventState> events_;         // the model's discrete events, if it has any
  std::unique_ptr<StateHistory> own_history_;  // when the context lends none
  StateHistory* history_ = nullptr;            // the trajectory, if the model reads past states
  bool dirty_ = true;  // state, rates or parameters changed: the propagator must restart
  const RunStart* start_ = nullptr;     // continue from this state (null: from the initial state)
  bool replaying_ = false;              // before start_->time: set up doses, no integration/output
  bool start_record_replayed_ = false;  // start_->after_record has been replayed
  // Ends the replay: the state becomes start_->state at start_->time.
  Status TakeStartState();

  bool sens_on_ = false;             // forward sensitivities requested and possible
  int ne_ = 0;                       // random effects (sensitivity directions)
  std::vector<double> dparams_;      // rows x ne x np: dp/deta_k per parameter row
  std::vector<double> s_;            // ne x n: dx/deta_k now
  std::vector<double> dr_;           // ne x n: d(infusion rate)/deta_k now
  std::vector<double> dose_derivs_;  // per resolved dose: amount, rate, duration, lag (ne each)
  SensitivityInput sens_in_;         // what the propagator reads
  std::vector<double> scratch_x_[2], scratch_p_[2], scratch_y_[2];  // central differences
  SimOutput out_;
};

}  // namespace medtwin

#endif  // MEDTWIN_SIM_SUBJECT_RUN_H_
