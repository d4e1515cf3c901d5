// Dose optimization over an individual posterior: targets, the regimen datasets, the exposure
// metrics and the candidate search (DOMAIN.md 3.5).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "medtwin/decide.h"

namespace medtwin {
namespace {

std::string Num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

Result<double> ParseNumber(const std::string& s, const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != s.size() || !std::isfinite(v)) {
    return Status::Invalid("target '" + text + "': '" + s + "' is not a number");
  }
  return v;
}

// "name(arg)" -> name, arg ("" when there are no parentheses).
bool SplitCall(const std::string& head, std::string* name, std::string* arg) {
  const size_t open = head.find('(');
  if (open == std::string::npos) {
    *name = head;
    arg->clear();
    return true;
  }
  if (head.back() != ')') return false;
  *name = head.substr(0, open);
  *arg = head.substr(open + 1, head.size() - open - 2);
  return !arg->empty();
}

// Integral of the level over the grid: Simpson's rule for unequal steps on consecutive pairs
// of steps (exact for quadratics), the trapezoid rule on a last odd step.
double Integral(const std::vector<double>& t, const std::vector<double>& y) {
  double s = 0;
  size_t i = 0;
  for (; i + 2 < t.size(); i += 2) {
    const double h0 = t[i + 1] - t[i], h1 = t[i + 2] - t[i + 1];
    s += (h0 + h1) / 6.0 *
         ((2.0 - h1 / h0) * y[i] + (h0 + h1) * (h0 + h1) / (h0 * h1) * y[i + 1] +
          (2.0 - h0 / h1) * y[i + 2]);
  }
  if (i + 1 < t.size()) s += 0.5 * (t[i + 1] - t[i]) * (y[i] + y[i + 1]);
  return s;
}

double Interpolate(const std::vector<double>& t, const std::vector<double>& y, double at) {
  const auto it = std::lower_bound(t.begin(), t.end(), at - 1e-9);
  if (it == t.end()) return y.back();
  const size_t j = static_cast<size_t>(it - t.begin());
  if (j == 0 || std::fabs(t[j] - at) < 1e-9) return y[j];
  const double w = (at - t[j - 1]) / (t[j] - t[j - 1]);
  return y[j - 1] + w * (y[j] - y[j - 1]);
}

}  // namespace

const char* ToString(TargetKind k) {
  switch (k) {
    case TargetKind::kAuc24:
      return "auc24";
    case TargetKind::kTrough:
      return "trough";
    case TargetKind::kPeak:
      return "peak";
    case TargetKind::kTimeAbove:
      return "time_above";
  }
  return "?";
}

std::string Target::ToString() const {
  // Appends rather than operator+ chains: g++ 12 reports a false -Wrestrict on those (GCC
  // bug 105329).
  std::string s = medtwin::ToString(kind);
  if (kind == TargetKind::kTimeAbove) s.append("(").append(Num(threshold)).append(")");
  if (kind == TargetKind::kPeak && peak_offset_h >= 0) {
    s.append("(").append(Num(peak_offset_h)).append(")");
  }
  if (!HasRange()) {
    // a metric only (MetricFromString)
  } else if (std::isinf(low)) {
    s.append("<=").append(Num(high));
  } else if (std::isinf(high)) {
    s.append(">=").append(Num(low));
  } else {
    s.append("=").append(Num(low)).append("..").append(Num(high));
  }
  if (!std::isnan(preferred)) s.append("@").append(Num(preferred));
  return s;
}

Status Target::Validate() const {
  const std::string who = "target " + ToString();
  if (std::isnan(low) || std::isnan(high) || !(low <= high) || (std::isinf(low) && low > 0) ||
      (std::isinf(high) && high < 0) || (std::isinf(low) && std::isinf(high))) {
    return Status::Invalid(who + ": needs a range low <= high with at least one finite bound");
  }
  if (!std::isnan(preferred) && !Met(preferred)) {
    return Status::Invalid(who + ": the preferred value lies outside the range");
  }
  if (kind == TargetKind::kTimeAbove && !(threshold > 0)) {
    return Status::Invalid(who + ": the threshold must be > 0");
  }
  if (kind == TargetKind::kTimeAbove && (low < 0 || high > 1) && !std::isinf(high)) {
    return Status::Invalid(who + ": time above a threshold is a fraction in [0, 1]");
  }
  if (observable < 0) return Status::Invalid(who + ": observable index must be >= 0");
  return Status::Ok();
}

namespace {

// The metric named by `head` (auc24, trough, peak, peak(H), time_above(L)) into t; `text` is the
// whole target for messages.
Status ParseMetric(const std::string& head, const std::string& text, const std::string& expected,
                   Target* t) {
  std::string name, arg;
  if (!SplitCall(head, &name, &arg)) {
    return Status::Invalid("target '" + text + "': unbalanced parentheses" + expected);
  }
  if (name == "auc24") {
    t->kind = TargetKind::kAuc24;
  } else if (name == "trough") {
    t->kind = TargetKind::kTrough;
  } else if (name == "peak") {
    t->kind = TargetKind::kPeak;
  } else if (name == "time_above") {
    t->kind = TargetKind::kTimeAbove;
  } else {
    return Status::Invalid("target '" + text + "': unknown metric '" + name + "'" + expected);
  }
  if (!arg.empty()) {
    if (t->kind != TargetKind::kPeak && t->kind != TargetKind::kTimeAbove) {
      return Status::Invalid("target '" + text + "': " + name + " takes no argument");
    }
    auto v = ParseNumber(arg, text);
    if (!v.ok()) return v.status();
    (t->kind == TargetKind::kPeak ? t->peak_offset_h : t->threshold) = *v;
    if (t->kind == TargetKind::kPeak && *v < 0) {
      return Status::Invalid("target '" + text + "': the peak offset must be >= 0 h");
    }
    if (t->kind == TargetKind::kTimeAbove && !(*v > 0)) {
      return Status::Invalid("target '" + text + "': the threshold must be > 0");
    }
  } else if (t->kind == TargetKind::kTimeAbove) {
    return Status::Invalid("target '" + text + "': time_above needs a level, time_above(10)");
  }
  return Status::Ok();
}

}  // namespace

Result<Target> MetricFromString(const std::string& text) {
  Target t;
  MEDTWIN_RETURN_IF_ERROR(
      ParseMetric(text, text, " (expected auc24, trough, peak, peak(1) or time_above(10))", &t));
  return t;
}

Result<Target> TargetFromString(const std::string& text) {
  const std::string expected =
      " (expected e.g. auc24=400..600, trough<=20, peak(1)=20..40, time_above(10)>=0.6)";
  Target t;
  size_t op = text.find_first_of("<>=");
  if (op == std::string::npos || op == 0) {
    return Status::Invalid("target '" + text + "': no comparison" + expected);
  }
  MEDTWIN_RETURN_IF_ERROR(ParseMetric(text.substr(0, op), text, expected, &t));
  std::string rest = text.substr(op);
  std::string value = rest.substr(rest.size() > 1 && rest[1] == '=' ? 2 : 1);
  const size_t at = value.find('@');
  std::string preferred;
  if (at != std::string::npos) {
    preferred = value.substr(at + 1);
    value = value.substr(0, at);
    auto p = ParseNumber(preferred, text);
    if (!p.ok()) return p.status();
    t.preferred = *p;
  }
  if (rest.rfind("<=", 0) == 0 || rest.rfind(">=", 0) == 0) {
    auto v = ParseNumber(value, text);
    if (!v.ok()) return v.status();
    (rest[0] == '<' ? t.high : t.low) = *v;
  } else if (rest[0] == '=') {
    const size_t dots = value.find("..");
    if (dots == std::string::npos) {
      return Status::Invalid("target '" + text + "': '=' needs a range LOW..HIGH" + expected);
    }
    auto lo = ParseNumber(value.substr(0, dots), text);
    if (!lo.ok()) return lo.status();
    auto hi = ParseNumber(value.substr(dots + 2), text);
    if (!hi.ok()) return hi.status();
    t.low = *lo;
    t.high = *hi;
  } else {
    return Status::Invalid("target '" + text + "': use <=, >= or =LOW..HIGH" + expected);
  }
  MEDTWIN_RETURN_IF_ERROR(t.Validate());
  return t;
}

std::string Regimen::ToString() const {
  std::string s = Num(amount) + " mg q" + Num(interval_h) + "h over " + Num(duration_h) + " h";
  if (loading > 0) s += " (loading " + Num(loading) + " mg)";
  return s;
}

Status DoseSearchSpace::Validate() const {
  if (amounts.empty()) {
    if (!(amount_min > 0 && amount_max > amount_min)) {
      return Status::Invalid("amounts: give the allowed set, or a range 0 < min < max");
    }
    if (amount_steps < 1) return Status::Invalid("amount_steps must be >= 1");
  }
  for (size_t i = 0; i < amounts.size(); ++i) {
    if (!(amounts[i] > 0) || (i > 0 && !(amounts[i] > amounts[i - 1]))) {
      return Status::Invalid("amounts must be > 0 and increasing (got " + Num(amounts[i]) + ")");
    }
  }
  for (double a : loading_amounts) {
    if (!(a > 0)) return Status::Invalid("loading amounts must be > 0 (got " + Num(a) + ")");
  }
  if (intervals_h.empty()) return Status::Invalid("intervals: none given");
  for (double v : intervals_h) {
    if (!(v > 0)) return Status::Invalid("intervals must be > 0 h (got " + Num(v) + ")");
  }
  if (durations_h.empty()) return Status::Invalid("durations: none given");
  for (double d : durations_h) {
    if (!(d > 0)) return Status::Invalid("infusion durations must be > 0 h (got " + Num(d) + ")");
    for (double v : intervals_h) {
      if (d > v) {
        return Status::Invalid("infusion duration " + Num(d) + " h exceeds the interval " + Num(v) +
                               " h");
      }
    }
  }
  if (!(start_h >= 0)) return Status::Invalid("start must be >= 0 h (got " + Num(start_h) + ")");
  if (day < 0) return Status::Invalid("day must be >= 0 (0: steady state)");
  if (loading && day == 0) {
    return Status::Invalid(
        "loading: a loading dose does not change the steady state; evaluate on a day (day >= 1)");
  }
  if (!(max_rate_mg_per_h > 0)) {
    return Status::Invalid("max_rate must be > 0 mg/h (got " + Num(max_rate_mg_per_h) + ")");
  }
  const double smallest = amounts.empty() ? amount_min : amounts.front();
  const double longest = *std::max_element(durations_h.begin(), durations_h.end());
  if (smallest / longest > max_rate_mg_per_h) {
    return Status::Invalid("max_rate " + Num(max_rate_mg_per_h) + " mg/h excludes every regimen: " +
                           Num(smallest) + " mg over " + Num(longest) +
                           " h is already faster; allow longer durations or smaller amounts");
  }
  return Status::Ok();
}

Status DoseOptions::Validate() const {
  MEDTWIN_RETURN_IF_ERROR(sim.Validate());
  if (draws <= 0) return Status::Invalid("draws must be > 0");
  if (!(min_pta >= 0 && min_pta <= 1)) return Status::Invalid("min_pta must lie in [0, 1]");
  if (top <= 0) return Status::Invalid("top must be > 0");
  if (refine_top < 0) return Status::Invalid("refine_top must be >= 0");
  if (refine_evaluations <= 0) return Status::Invalid("refine_evaluations must be > 0");
  if (threads < 1) return Status::Invalid("threads must be >= 1 (got " + Num(threads) + ")");
  return Status::Ok();
}

double TargetMetric(const Target& target, const std::vector<double>& t,
                    const std::vector<double>& y, double w0, double w1, double last_dose_end_h) {
  switch (target.kind) {
    case TargetKind::kAuc24:
      return 24.0 * Integral(t, y) / (w1 - w0);
    case TargetKind::kTrough:
      return y.back();
    case TargetKind::kPeak:
      if (target.peak_offset_h >= 0) {
        return Interpolate(t, y, std::min(w1, last_dose_end_h + target.peak_offset_h));
      }
      return *std::max_element(y.begin(), y.end());
    case TargetKind::kTimeAbove: {
      // Linear interpolation of each crossing between grid points.
      const double c = target.threshold;
      double above = 0;
      for (size_t i = 0; i + 1 < t.size(); ++i) {
        const double a = y[i] - c, b = y[i + 1] - c, h = t[i + 1] - t[i];
        if (a > 0 && b > 0) {
          above += h;
        } else if (a > 0 || b > 0) {
          above += h * std::max(a, b) / std::fabs(a - b);
        }
      }
      return above / (w1 - w0);
    }
  }
  return 0.0;
}

}  // namespace medtwin
