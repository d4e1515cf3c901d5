// SubjectRun: the event loop for one subject (internal to the simulator).
//
// Records and extra output times form a timeline in file order; doses implied by ADDL or lag
// and infusion ends live in a priority queue keyed by (time, class, sequence). At equal times
// infusion ends come first, then implied doses, then records, then extra output times.
#ifndef MEDTWIN_SIM_SUBJECT_RUN_H_
#define MEDTWIN_SIM_SUBJECT_RUN_H_

#include <queue>
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
};

// Everything a run needs that outlives it (owned by Simulator::Impl).
struct RunContext {
  const Model* model = nullptr;
  const SimOptions* options = nullptr;
  Propagator* propagator = nullptr;        // the path chosen for this subject
  ClosedFormPropagator* linear = nullptr;  // non-null when the model is linear (SS, closed form)
  bool model_linear = false;               // dx/dt = A(p) x: superposition (SS=2) is valid
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
  void GiveDose(const ResolvedDose& d, double t_h);
  void StartInfusion(int state, double rate, double end_h);
  void UpdateRates(std::vector<double>* rate, const std::vector<ActiveInfusion>& active) const;
  void Reset(const double* p);
  void Output(double t_h, int record, const double* p);
  std::string Where(double t_h) const;

  // Steady state (steady_state.cc).
  Status ApplySteadyState(const ResolvedDose& d, const double* p, double t_h);
  Status PeriodicTrough(const ResolvedDose& d, const double* p, std::vector<double>* x,
                        std::vector<ActiveInfusion>* active);
  Status ConstantInfusionState(const ResolvedDose& d, const double* p, std::vector<double>* x);
  Status RunWindow(const double* p, double duration_h, std::vector<double>* x,
                   std::vector<ActiveInfusion>* active);
  static void AddDoseAtZero(const ResolvedDose& d, std::vector<double>* x,
                            std::vector<ActiveInfusion>* active);

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
  std::unique_ptr<EventState> events_;     // the model's discrete events, if it has any
  std::unique_ptr<StateHistory> history_;  // the trajectory, if the model reads past states
  bool dirty_ = true;  // state, rates or parameters changed: the propagator must restart
  const RunStart* start_ = nullptr;     // continue from this state (null: from the initial state)
  bool replaying_ = false;              // before start_->time: set up doses, no integration/output
  bool start_record_replayed_ = false;  // start_->after_record has been replayed
  // Ends the replay: the state becomes start_->state at start_->time.
  Status TakeStartState();
  SimOutput out_;
};

}  // namespace medtwin

#endif  // MEDTWIN_SIM_SUBJECT_RUN_H_
