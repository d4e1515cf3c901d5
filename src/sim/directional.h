// Central directional differences for forward sensitivities: d/de g(z + e v) at e = 0 for the
// model's callbacks (Rhs, Observe, InitialState, OnDoseStart), which give no derivatives.
//
// The step e is chosen so that no component of z moves by more than kDirectionalStep of its own
// scale (|x_i| + atol for states, |z_i| for parameters and dose amounts, 1 where that is 0). With
// kDirectionalStep = cbrt(machine epsilon) the truncation error O(e^2) and the rounding error
// O(eps/e) of a central difference are both about 1e-11 relative, far below the integrator's
// tolerances; exact for maps that are affine in z (doses, most observables).
#ifndef MEDTWIN_SIM_DIRECTIONAL_H_
#define MEDTWIN_SIM_DIRECTIONAL_H_

namespace medtwin {

inline constexpr double kDirectionalStep = 6.0554544523933395e-06;  // cbrt(2^-52)

// Accumulates the relative size of a direction, block by block, and turns it into a step.
class DirectionalStep {
 public:
  // States x (n values) moving along v; amounts below atol count as atol.
  void AddStates(int n, const double* x, const double* v, double atol);
  // Other values (parameters, dose amounts) moving along v.
  void AddValues(int n, const double* z, const double* v);
  // The step e; 0 when every direction component is 0 (the derivative is then 0), NaN when a
  // component is not finite (so the derivative is NaN and the caller's finiteness check fires).
  double Step() const;

 private:
  void Note(double ratio);
  double max_ratio_ = 0.0;  // max_i |v_i| / scale_i
  bool finite_ = true;
};

// z + e v and z - e v into plus and minus (n values).
void Perturb(int n, const double* z, const double* v, double e, double* plus, double* minus);

}  // namespace medtwin

#endif  // MEDTWIN_SIM_DIRECTIONAL_H_
