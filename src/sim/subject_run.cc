#include "sim/subject_run.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

namespace medtwin {
namespace {

// Connects a run's history to the propagator for the run's lifetime.
class HistoryRecording {
 public:
  HistoryRecording(Propagator* p, StateHistory* h) : p_(p) { p_->SetHistory(h); }
  ~HistoryRecording() { p_->SetHistory(nullptr); }
  HistoryRecording(const HistoryRecording&) = delete;
  HistoryRecording& operator=(const HistoryRecording&) = delete;

 private:
  Propagator* p_;
};

// Connects a run's sensitivities to the propagator for the run's lifetime.
class SensitivityBinding {
 public:
  explicit SensitivityBinding(Propagator* p) : p_(p) {}
  ~SensitivityBinding() { (void)p_->SetSensitivities(nullptr); }  // cannot fail for null
  SensitivityBinding(const SensitivityBinding&) = delete;
  SensitivityBinding& operator=(const SensitivityBinding&) = delete;

 private:
  Propagator* p_;
};

}  // namespace

bool SubjectRun::Later::operator()(const Pending& a, const Pending& b) const {
  if (a.t_h != b.t_h) return a.t_h > b.t_h;
  if (a.klass != b.klass) return a.klass > b.klass;
  return a.seq > b.seq;
}

SubjectRun::SubjectRun(const RunContext& ctx, const Subject& subject, const Dataset* dataset_info,
                       const OutputRequest& request, const IndividualInput& individual,
                       const RunStart* start)
    : ctx_(ctx),
      model_(*ctx.model),
      subject_(subject),
      request_(request),
      individual_(individual),
      modifiers_(ctx.model->spec(),
                 dataset_info ? dataset_info->modifier_columns : std::vector<ModifierColumn>{}),
      n_(ctx.model->num_states()),
      np_(ctx.model->num_parameters()),
      no_(ctx.model->num_observables()),
      x_(n_, 0.0),
      rate_(n_, 0.0),
      ss_rate_(n_, 0.0),
      start_(start) {}

std::string SubjectRun::Where(double t_h) const {
  return "subject " + subject_.id + " at " + model_.spec().TimeText(t_h);
}

Status SubjectRun::ComputeParameters() {
  const ModelSpec& spec = model_.spec();
  std::vector<double> theta(individual_.theta.begin(), individual_.theta.end());
  if (theta.empty()) {
    theta = spec.TypicalValues();
  }
  if (static_cast<int>(theta.size()) != np_) {
    return Status::Invalid("expected " + std::to_string(np_) + " population parameters, got " +
                           std::to_string(theta.size()));
  }
  const size_t nrec = subject_.records.size();
  param_set_.assign(nrec, 0);
  params_.clear();
  const std::vector<double>* prev_cov = nullptr;
  for (size_t r = 0; r < nrec; ++r) {
    const Record& rec = subject_.records[r];
    // Records with the same covariates as the previous one share its parameter row.
    if (prev_cov &&
        std::equal(rec.covariates.begin(), rec.covariates.end(), prev_cov->begin(), prev_cov->end(),
                   [](double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); })) {
      param_set_[r] = param_set_[r - 1];
      continue;
    }
    const size_t row = params_.size() / std::max(np_, 1);
    params_.resize(params_.size() + np_);
    Status st = model_.Individualize(theta, individual_.eta, rec.covariates,
                                     std::span<double>(params_.data() + row * np_, np_));
    if (!st.ok())
      return st.WithContext("subject " + subject_.id + " line " + std::to_string(rec.line));
    param_set_[r] = static_cast<int>(row);
    prev_cov = &rec.covariates;
    if (sens_on_) {
      MEDTWIN_RETURN_IF_ERROR(ParameterDerivatives(theta, rec.covariates, static_cast<int>(row)));
    }
  }
  return Status::Ok();
}

// NOCB: the interval after record r is governed by the next record's covariates.
int SubjectRun::ParamSetAfter(int r) const {
  const int last = static_cast<int>(subject_.records.size()) - 1;
  if (r < 0) return param_set_[0];
  if (ctx_.options->covariates == CovariateRule::kNocb) return param_set_[std::min(r + 1, last)];
  return param_set_[r];
}

void SubjectRun::BuildTimeline() {
  const auto& recs = subject_.records;
  timeline_.clear();
  size_t e = 0;
  const auto& extra = request_.times_h;
  for (size_t r = 0; r < recs.size(); ++r) {
    while (e < extra.size() && extra[e] < recs[r].time_h) timeline_.push_back({extra[e++], -1});
    timeline_.push_back({recs[r].time_h, static_cast<int>(r)});
  }
  while (e < extra.size()) timeline_.push_back({extra[e++], -1});
  // Time of the next record that changes the dynamics, for CVODES's stop time.
  next_dirty_.assign(timeline_.size() + 1, kInf);
  for (size_t i = timeline_.size(); i-- > 0;) {
    next_dirty_[i] = next_dirty_[i + 1];
    const int r = timeline_[i].record;
    if (r < 0) continue;
    const Record& rec = recs[r];
    const bool dirty = rec.evid == Evid::kDose || rec.evid == Evid::kReset ||
                       rec.evid == Evid::kResetDose || rec.state_off ||
                       ParamSetAfter(r) != ParamSetAfter(r - 1);
    if (dirty) next_dirty_[i] = rec.time_h;
  }
}

double SubjectRun::NextDiscontinuity(size_t i) const {
  double t = next_dirty_[i];
  if (events_) t = std::min(t, events_->NextScheduledTime());
  if (!queue_.empty()) t = std::min(t, queue_.top().t_h);
  return t;
}

Status SubjectRun::TakeStartState() {
  replaying_ = false;
  t_h_ = start_->time;
  std::copy(start_->state.begin(), start_->state.end(), x_.begin());
  dirty_ = true;
  if (history_) {
    history_->Clear();
    const std::vector<double> zero(n_, 0.0);
    history_->Record(t_h_, x_.data(), zero.data());
  }
  if (events_) MEDTWIN_RETURN_IF_ERROR(UpdateEvents(nullptr));
  return Status::Ok();
}

Status SubjectRun::AdvanceTo(double t_h, size_t timeline_index) {
  if (replaying_) {  // before the start state: time moves, the state is not integrated
    t_h_ = std::max(t_h_, t_h);
    return Status::Ok();
  }
  while (t_h_ < t_h) {
    // Delayed model events are discontinuities too: integrate up to the next one at most.
    const double t_event = events_ ? events_->NextScheduledTime() : kInf;
    const double target = std::min(t_h, t_event);
    if (dirty_) {
      sens_in_.dp = sens_on_ ? DParams(row_cur_) : nullptr;
      MEDTWIN_RETURN_IF_ERROR(ctx_.propagator->Restart(t_h_, x_.data(), p_cur_, rate_.data()));
      dirty_ = false;
    }
    const double t_stop = std::max(target, std::min(NextDiscontinuity(timeline_index), t_event));
    double t_reached = target;
    Status st = ctx_.propagator->Advance(target, t_stop, x_.data(), &t_reached);
    if (!st.ok()) return st.WithContext("subject " + subject_.id);
    t_h_ = t_reached;
    if (events_) MEDTWIN_RETURN_IF_ERROR(UpdateEvents(ctx_.propagator->RootsFound()));
  }
  return Status::Ok();
}

Status SubjectRun::UpdateEvents(const int* root_directions) {
  bool changed = false;
  Status st = events_->Update(t_h_, x_.data(), p_cur_, root_directions, &changed);
  if (!st.ok()) return st.WithContext(Where(t_h_));
  if (changed) dirty_ = true;
  return Status::Ok();
}

void SubjectRun::UpdateRates(std::vector<double>* rate,
                             const std::vector<ActiveInfusion>& active) const {
  // Recomputed from the list (not incremented) so rates return to exactly zero.
  std::fill(rate->begin(), rate->end(), 0.0);
  for (const auto& a : active) (*rate)[a.state] += a.rate;
}

void SubjectRun::StartInfusion(int state, double rate, double end_h, int derivs) {
  const long id = next_infusion_id_++;
  active_.push_back({id, state, rate, end_h, derivs});
  if (std::isfinite(end_h)) {
    Pending e{end_h, 0, seq_++, PendingKind::kInfusionEnd, generation_, id, {}};
    queue_.push(e);
  }
  UpdateRates(&rate_, active_);
  if (sens_on_) UpdateRateDerivatives();
  dirty_ = true;
}

void SubjectRun::GiveDose(const ResolvedDose& d, double t_h, int derivs) {
  if (d.amount == 0.0 && d.rate == 0.0) return;
  std::vector<double> x_before, rate_before;
  if (sens_on_) x_before = x_, rate_before = rate_;
  model_.OnDoseStart(t_h, d.state, d.amount, d.rate, p_cur_, x_.data());
  if (d.IsInfusion()) {
    StartInfusion(d.state, d.rate, t_h + d.duration_h, derivs);
  } else {
    x_[d.state] += d.amount;
    dirty_ = true;
  }
  if (sens_on_) DoseJump(d, derivs, t_h, x_before, rate_before);
}

void SubjectRun::Reset(int param_row) {
  model_.InitialState(Params(param_row), x_.data());
  if (sens_on_) InitialSensitivities(Params(param_row), DParams(param_row));
  active_.clear();
  UpdateRates(&rate_, active_);
  if (sens_on_) UpdateRateDerivatives();
  ++generation_;  // pending ADDL/lagged doses and infusion ends are cancelled
  dirty_ = true;
}

Status SubjectRun::HandlePending(const Pending& e) {
  if (e.generation != generation_) return Status::Ok();
  if (e.kind == PendingKind::kInfusionEnd) {
    auto it = std::find_if(active_.begin(), active_.end(),
                           [&](const ActiveInfusion& a) { return a.id == e.infusion_id; });
    if (it != active_.end()) {
      if (sens_on_) InfusionEndJump(*it);
      active_.erase(it);
      UpdateRates(&rate_, active_);
      if (sens_on_) UpdateRateDerivatives();
      dirty_ = true;
    }
    return Status::Ok();
  }
  GiveDose(e.dose, e.t_h, e.derivs);
  return Status::Ok();
}

Status SubjectRun::HandleDoseRecord(int r) {
  const Record& rec = subject_.records[r];
  const double* p = params_.data() + static_cast<size_t>(param_set_[r]) * np_;
  Result<ResolvedDose> dose = modifiers_.Resolve(rec, p);
  if (!dose.ok()) return dose.status().WithContext("subject " + subject_.id);
  const ResolvedDose& d = *dose;
  int derivs = -1;
  if (sens_on_) {
    Result<int> made = DoseDerivatives(rec, param_set_[r], d);
    if (!made.ok()) return made.status();
    derivs = *made;
  }
  if (d.ss != 0) MEDTWIN_RETURN_IF_ERROR(ApplySteadyState(d, param_set_[r], rec.time_h, derivs));
  // NONMEM 7.5 (nmtests scenario 29): an SS record with AMT=0, RATE>0 sets the state to the
  // constant-infusion steady state; the infusion itself does not continue past the record.
  if (d.IsSteadyStateInfusion()) return Status::Ok();
  for (int k = 0; k <= d.addl; ++k) {
    const double t_dose = rec.time_h + k * d.ii_h + d.lag_h;
    if (k == 0 && d.lag_h == 0.0) {
      GiveDose(d, t_dose, derivs);
      continue;
    }
    queue_.push(Pending{t_dose, 1, seq_++, PendingKind::kDose, generation_, -1, d, derivs});
  }
  return Status::Ok();
}

Status SubjectRun::HandleRecord(int r) {
  const Record& rec = subject_.records[r];
  if (rec.evid == Evid::kReset || rec.evid == Evid::kResetDose) Reset(param_set_[r]);
  if (rec.state_off && rec.state >= 0) {
    x_[rec.state] = 0.0;
    for (int k = 0; k < ne_ && sens_on_; ++k) s_[static_cast<size_t>(k) * n_ + rec.state] = 0.0;
    dirty_ = true;
  }
  if (rec.IsDose()) MEDTWIN_RETURN_IF_ERROR(HandleDoseRecord(r));
  const int row_next = ParamSetAfter(r);
  if (row_next != row_cur_) {
    row_cur_ = row_next;
    p_cur_ = Params(row_cur_);
    dirty_ = true;
  }
  const bool is_obs = rec.evid == Evid::kObservation || rec.evid == Evid::kOther;
  if (is_obs ? request_.observation_records : request_.dose_records) {
    Output(rec.time_h, r, param_set_[r]);
  }
  return Status::Ok();
}

void SubjectRun::Output(double t_h, int record, int param_row) {
  if (replaying_) return;
  const double* p = Params(param_row);
  out_.time_h.push_back(t_h);
  out_.record.push_back(record);
  out_.states.insert(out_.states.end(), x_.begin(), x_.end());
  const size_t off = out_.observables.size();
  out_.observables.resize(off + no_);
  model_.Observe(t_h, x_.data(), p, out_.observables.data() + off);
  for (const auto& probe : request_.probes) out_.probes.push_back(probe(t_h, x_.data(), p));
  if (sens_on_) OutputSensitivities(t_h, param_row);
}

Result<SimOutput> SubjectRun::Execute() {
  if (subject_.records.empty())
    return Status::Invalid("subject " + subject_.id + " has no records");
  if (request_.sensitivities) MEDTWIN_RETURN_IF_ERROR(CheckSensitivities());
  MEDTWIN_RETURN_IF_ERROR(ComputeParameters());
  BuildTimeline();
  const size_t rows = timeline_.size();  // an upper bound of the output rows
  out_.time_h.reserve(rows);
  out_.record.reserve(rows);
  out_.states.reserve(rows * n_);
  out_.observables.reserve(rows * no_);
  row_cur_ = ParamSetAfter(-1);
  p_cur_ = Params(row_cur_);
  t_h_ = std::min(timeline_.front().t_h, subject_.records.front().time_h);
  model_.InitialState(p_cur_, x_.data());
  std::optional<SensitivityBinding> bind_sensitivities;
  if (sens_on_) {
    InitialSensitivities(p_cur_, DParams(row_cur_));
    MEDTWIN_RETURN_IF_ERROR(ctx_.propagator->SetSensitivities(&sens_in_));
    bind_sensitivities.emplace(ctx_.propagator);
  }
  // Models reading past states see the trajectory from here on: the initial state first (also
  // the state before the start), then what the propagator records.
  std::optional<StateHistory::Scope> bind_history;
  std::optional<HistoryRecording> recording;
  if (model_.reads_history()) {
    if (ctx_.history != nullptr && ctx_.history->num_states() == n_) {
      history_ = ctx_.history;
      history_->Clear();
    } else {
      own_history_ = std::make_unique<StateHistory>(n_);
      history_ = own_history_.get();
    }
    double horizon = 0.0;  // the longest look-back over the subject's parameter rows
    for (size_t row = 0; row * np_ < params_.size() || row == 0; ++row) {
      horizon = std::max(horizon, model_.HistoryHorizon(params_.data() + row * np_));
      if (np_ == 0) break;
    }
    history_->set_horizon(horizon);
    const std::vector<double> zero(n_, 0.0);
    history_->Record(t_h_, x_.data(), zero.data());
    bind_history.emplace(history_);
    recording.emplace(ctx_.propagator, history_);
  }
  events_ = model_.NewEventState();
  if (events_ && sens_on_) {
    return Status::Unsupported("forward sensitivities: model '" + model_.spec().name +
                               "' has discrete events, whose times depend on the parameters");
  }
  if (events_) {
    bool changed = false;
    Status st = events_->Initialize(t_h_, x_.data(), p_cur_, &changed);
    if (!st.ok()) return st.WithContext(Where(t_h_));
  }
  replaying_ = start_ != nullptr;
  if (replaying_ && start_->after_record >= 0 &&
      (start_->after_record >= static_cast<int>(subject_.records.size()) ||
       subject_.records[start_->after_record].time_h != start_->time)) {
    return Status::Invalid("subject " + subject_.id + ": start record " +
                           std::to_string(start_->after_record) + " is not a record at time " +
                           std::to_string(start_->time));
  }
  if (replaying_ && start_->time < t_h_) {
    return Status::Invalid("subject " + subject_.id + ": start time " +
                           std::to_string(start_->time) + " is before the first record (" +
                           std::to_string(t_h_) + ")");
  }
  size_t i = 0;
  while (i < timeline_.size()) {
    const TimelineItem& item = timeline_[i];
    if (replaying_) {
      const double next = queue_.empty() ? item.t_h : std::min(item.t_h, queue_.top().t_h);
      const bool reached = start_->after_record >= 0
                               ? (next > start_->time || start_record_replayed_)
                               : next >= start_->time;
      if (reached) MEDTWIN_RETURN_IF_ERROR(TakeStartState());
    }
    if (!queue_.empty() && queue_.top().t_h <= item.t_h) {
      const Pending e = queue_.top();
      queue_.pop();
      MEDTWIN_RETURN_IF_ERROR(AdvanceTo(e.t_h, i));
      MEDTWIN_RETURN_IF_ERROR(HandlePending(e));
      if (events_ && dirty_) MEDTWIN_RETURN_IF_ERROR(UpdateEvents(nullptr));
      continue;
    }
    MEDTWIN_RETURN_IF_ERROR(AdvanceTo(item.t_h, i));
    if (item.record >= 0) {
      if (replaying_ && item.record == start_->after_record) start_record_replayed_ = true;
      MEDTWIN_RETURN_IF_ERROR(HandleRecord(item.record));
      if (events_ && dirty_) MEDTWIN_RETURN_IF_ERROR(UpdateEvents(nullptr));
    } else {
      Output(item.t_h, -1, row_cur_);
    }
    ++i;
    if (item.record >= 0 && item.record == request_.last_record && !replaying_) break;
  }
  if (replaying_) MEDTWIN_RETURN_IF_ERROR(TakeStartState());  // every record came before
  for (double y : out_.observables) {
    if (!std::isfinite(y)) {
      return Status::Numerical("subject " + subject_.id + ": an observable is not finite");
    }
  }
  return std::move(out_);
}

}  // namespace medtwin
