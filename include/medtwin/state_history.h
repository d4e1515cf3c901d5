// StateHistory: the trajectory of one simulation run so far, for models whose dynamics read
// past states (SBML delay()).
//
// The simulator records the state and its derivative at every accepted solver step, at every
// output time and on both sides of every jump (dose, event, reset), and binds the history to
// the running thread for the duration of the run; model code reads it with Current(). Between
// records the state is the cubic Hermite interpolant of the two neighbours (the same order as
// CVODES's own dense output at its default tolerances); before the first record it is the
// first record's state (the initial state held constant into the past, as SBML requires for
// delays reaching before the start); after the last record, a linear extrapolation from it
// (only reached when a delay is shorter than the solver's current step).
//
// Thread safety: one history per run; Current() is per thread.
#ifndef MEDTWIN_STATE_HISTORY_H_
#define MEDTWIN_STATE_HISTORY_H_

#include <cstddef>
#include <vector>

namespace medtwin {

class StateHistory {
 public:
  explicit StateHistory(int num_states) : n_(num_states) {}

  int num_states() const { return n_; }
  bool empty() const { return times_.empty(); }
  std::size_t size() const { return times_.size(); }
  double first_time() const { return times_.front(); }
  double last_time() const { return times_.back(); }
  // The records themselves (the solver's accepted states, not interpolated): record k's time and
  // state (num_states values), k < size(); and the first record at or after t (size() if none).
  double time(std::size_t k) const { return times_[k]; }
  const double* state(std::size_t k) const { return x_.data() + k * n_; }
  std::size_t FirstAtOrAfter(double t) const;

  // Appends (t, x, dxdt). t may equal the last time (a jump: the later record is the value
  // from t on) or precede it (an output inside the last solver step): records stay sorted.
  void Record(double t, const double* x, const double* dxdt);
  // Replaces the derivative of the last record (known only after the record exists, when the
  // right-hand side itself reads the history).
  void SetLastDerivative(const double* dxdt);
  // Forgets the records after t (the solver stepped past a point where the state then jumped).
  void TruncateAfter(double t);
  // Keeps only what lies within `horizon` of the latest record (plus the record just before
  // that window, for interpolation); Record() then discards older records as it goes, in
  // batches so that each record is moved O(1) times. Default: keep everything.
  void set_horizon(double horizon) { horizon_ = horizon; }
  void Clear();

  // State at time tau into x (num_states values). REQUIRES: !empty().
  void At(double tau, double* x) const;
  // State `i` alone at time tau (the same value as At(tau, x)[i]): a delay that reads one
  // state need not interpolate all of them. REQUIRES: !empty(), 0 <= i < num_states().
  double At(double tau, int i) const;

  // The history bound to this thread (null outside runs of models that read it).
  static const StateHistory* Current();
  // Binds a history to this thread for the scope's lifetime (restores the previous binding).
  class Scope {
   public:
    explicit Scope(const StateHistory* h);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    const StateHistory* previous_;
  };

 private:
  // Where tau falls: records k0 and k1 and the weights of x_k0, dx_k0, x_k1, dx_k1 (cubic
  // Hermite between neighbours; after the last record or before the first, k1 = k0 and its
  // weights are 0).
  struct Weights {
    std::size_t k0, k1;
    double h00, h10, h01, h11;
  };
  Weights Locate(double tau) const;
  void DiscardOld();

  int n_;
  double horizon_ = 1e300;
  std::vector<double> times_;
  std::vector<double> x_;   // size() x n_
  std::vector<double> dx_;  // size() x n_
};

}  // namespace medtwin

#endif  // MEDTWIN_STATE_HISTORY_H_
