// NONMEM-style dataset reader: header layout, per-record parsing and validation against a model.
//
// Every check names the source, the line, the column and the offending text, so that a clinician
// editing a spreadsheet can find the cell. The reader is also a fuzz target
// (fuzz/dataset_fuzz.cc): it must return a Status, never crash or loop, on any byte string.
#include "medtwin/dataset.h"

#include <array>
#include <charconv>
#include <climits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "events/csv.h"

namespace medtwin {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Standard NONMEM columns, in kStdNames order.
enum StdColumn {
  kId,
  kTime,
  kDv,
  kAmt,
  kEvid,
  kCmt,
  kRate,
  kIi,
  kAddl,
  kSs,
  kMdv,
  kDvid,
  kCens,
  kNumStd
};
constexpr std::array<const char*, kNumStd> kStdNames = {
    "ID", "TIME", "DV", "AMT", "EVID", "CMT", "RATE", "II", "ADDL", "SS", "MDV", "DVID", "CENS"};

std::string Num(double v) {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, ptr) : std::string("?");
}

std::string At(const std::string& source, int line) {
  return source + " line " + std::to_string(line);
}

// Where the columns are, found from the header row.
struct Layout {
  int header_line = 0;
  std::vector<std::string> names;         // as written
  std::array<int, kNumStd> field{};       // field index, -1 = absent
  std::vector<int> covariate_field;       // per model covariate, -1 = absent
  std::vector<ModifierColumn> modifiers;  // becomes Dataset::modifier_columns
  std::vector<int> modifier_field;        // per modifier column
};

// Everything the per-record checks need.
struct Context {
  const Model& model;
  const std::string& source;
  Layout layout;
  // Per state: index into layout.modifiers of its Rn and Dn columns, -1 = none.
  std::vector<int> rate_modifier;
  std::vector<int> duration_modifier;

  const ModelSpec& spec() const { return model.spec(); }
  std::string ModelName() const { return "model '" + spec().name + "'"; }
};

// ---------------------------------------------------------------------------------------------
// Header.

// "F2" -> (kBioavailability, 2); returns 0 as the number when `upper` is not a modifier name.
int ModifierNumber(const std::string& upper, ModifierKind* kind) {
  static const std::array<std::pair<const char*, ModifierKind>, 4> kPrefixes = {{
      {"ALAG", ModifierKind::kLag},
      {"F", ModifierKind::kBioavailability},
      {"R", ModifierKind::kRate},
      {"D", ModifierKind::kDuration},
  }};
  for (const auto& [prefix, k] : kPrefixes) {
    std::string_view p(prefix);
    if (upper.size() <= p.size() || upper.compare(0, p.size(), p) != 0) continue;
    std::string_view digits = std::string_view(upper).substr(p.size());
    if (digits.size() > 6) return -1;  // an absurd state number; reported as out of range
    int n = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return 0;
      n = n * 10 + (c - '0');
    }
    *kind = k;
    return n == 0 ? -1 : n;
  }
  return 0;
}

Status HeaderError(const Context& ctx, const std::string& column, const std::string& problem,
                   StatusCode code = StatusCode::kInvalidArgument) {
  std::string where = At(ctx.source, ctx.layout.header_line);
  if (!column.empty()) where += ", column " + csv::Quote(column);
  return Status(code, where + ": " + problem);
}

// Classifies header field `i` into a standard column, covariate, modifier or an ignored column.
Status ClassifyColumn(Context* ctx, int i) {
  Layout& lay = ctx->layout;
  const std::string& name = lay.names[i];
  for (int s = 0; s < kNumStd; ++s) {
    if (!csv::EqualsIgnoreCase(name, kStdNames[s])) continue;
    lay.field[s] = i;
    return Status::Ok();
  }
  for (size_t c = 0; c < ctx->spec().covariates.size(); ++c) {
    if (!csv::EqualsIgnoreCase(name, ctx->spec().covariates[c].name)) continue;
    lay.covariate_field[c] = i;
    return Status::Ok();
  }
  ModifierKind kind{};
  int n = ModifierNumber(csv::ToUpper(name), &kind);
  if (n == 0) return Status::Ok();  // an extra column: ignored
  if (n < 0 || n > ctx->model.num_states()) {
    return HeaderError(*ctx, name,
                       "dose-modifier column for a state that does not exist: " + ctx->ModelName() +
                           " has states 1.." + std::to_string(ctx->model.num_states()));
  }
  for (const ModifierColumn& other : lay.modifiers) {
    if (other.kind == kind && other.state == n - 1) {
      return HeaderError(
          *ctx, name,
          "duplicate dose-modifier column (same as '" + csv::Quote(other.column) + "')");
    }
  }
  lay.modifiers.push_back({kind, n - 1, name});
  lay.modifier_field.push_back(i);
  int m = static_cast<int>(lay.modifiers.size()) - 1;
  if (kind == ModifierKind::kRate) ctx->rate_modifier[n - 1] = m;
  if (kind == ModifierKind::kDuration) ctx->duration_modifier[n - 1] = m;
  return Status::Ok();
}

Status CheckRequiredColumns(const Context& ctx) {
  for (int s : {kId, kTime}) {
    if (ctx.layout.field[s] < 0) {
      return HeaderError(ctx, "", std::string("no ") + kStdNames[s] + " column (required)",
                         StatusCode::kNotFound);
    }
  }
  const auto& covs = ctx.spec().covariates;
  for (size_t c = 0; c < covs.size(); ++c) {
    if (ctx.layout.covariate_field[c] >= 0 || !covs[c].required) continue;
    std::string what = covs[c].name + (covs[c].unit.empty() ? "" : " (" + covs[c].unit + ")");
    return HeaderError(
        ctx, "",
        "no " + covs[c].name + " column: covariate " + what + " is required by " + ctx.ModelName(),
        StatusCode::kNotFound);
  }
  return Status::Ok();
}

Status ParseHeader(Context* ctx, const std::vector<std::string>& fields) {
  Layout& lay = ctx->layout;
  lay.names = fields;
  lay.field.fill(-1);
  lay.covariate_field.assign(ctx->spec().covariates.size(), -1);
  ctx->rate_modifier.assign(ctx->model.num_states(), -1);
  ctx->duration_modifier.assign(ctx->model.num_states(), -1);
  std::unordered_map<std::string, size_t> seen;  // upper-case name -> field index
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].empty()) {
      return HeaderError(*ctx, "", "column " + std::to_string(i + 1) + " has an empty name");
    }
    auto [it, inserted] = seen.emplace(csv::ToUpper(fields[i]), i);
    if (!inserted) {
      return HeaderError(*ctx, fields[i],
                         "duplicate column (same name as column " + std::to_string(it->second + 1) +
                             " '" + csv::Quote(fields[it->second]) +
                             "'; names are case-insensitive)");
    }
    MEDTWIN_RETURN_IF_ERROR(ClassifyColumn(ctx, static_cast<int>(i)));
  }
  return CheckRequiredColumns(*ctx);
}

// ---------------------------------------------------------------------------------------------
// One data row.

class Row {
 public:
  Row(const Context& ctx, int line, const std::vector<std::string>& fields)
      : ctx_(ctx), line_(line), fields_(fields) {}

  int line() const { return line_; }
  const Context& ctx() const { return ctx_; }
  bool Has(int field) const { return field >= 0; }
  std::string_view Text(int field) const {
    return field >= 0 ? std::string_view(fields_[field]) : std::string_view();
  }
  int Std(int s) const { return ctx_.layout.field[s]; }

  // "<source> line N, column X: <problem> (got '<value>')"; `field` -1 = a column not in the file.
  Status FailAt(int field, const std::string& column, const std::string& problem,
                StatusCode code = StatusCode::kInvalidArgument) const {
    std::string msg = At(ctx_.source, line_) + ", column " + csv::Quote(column) + ": " + problem;
    if (field >= 0) msg += " (got '" + csv::Quote(fields_[field]) + "')";
    return Status(code, msg);
  }
  Status Fail(int field, const std::string& problem,
              StatusCode code = StatusCode::kInvalidArgument) const {
    return FailAt(field, ctx_.layout.names[field], problem, code);
  }
  Status FailStd(int s, const std::string& problem,
                 StatusCode code = StatusCode::kInvalidArgument) const {
    return FailAt(Std(s), Has(Std(s)) ? ctx_.layout.names[Std(s)] : kStdNames[s], problem, code);
  }

  // Missing ("" or "." or no column) -> nullopt. Non-numeric text is an error.
  Status Number(int field, std::optional<double>* out) const {
    out->reset();
    if (!Has(field)) return Status::Ok();
    double v = 0.0;
    switch (csv::ParseNumber(fields_[field], &v)) {
      case csv::NumberStatus::kOk:
        *out = v;
        return Status::Ok();
      case csv::NumberStatus::kMissing:
        return Status::Ok();
      case csv::NumberStatus::kNotFinite:
        return Fail(field, "not a finite number within the double range");
      case csv::NumberStatus::kNotANumber:
        break;
    }
    return Fail(field, "not a number");
  }

  // As Number, and the value must be a whole number within int range.
  Status Integer(int field, std::optional<int>* out) const {
    out->reset();
    std::optional<double> v;
    MEDTWIN_RETURN_IF_ERROR(Number(field, &v));
    if (!v) return Status::Ok();
    if (*v != std::floor(*v) || *v < INT_MIN || *v > INT_MAX) {
      return Fail(field, "not a whole number");
    }
    *out = static_cast<int>(*v);
    return Status::Ok();
  }

 private:
  const Context& ctx_;
  int line_;
  const std::vector<std::string>& fields_;
};

// Values of the optional standard columns before defaults are applied.
struct RawRow {
  std::optional<double> amt, rate, ii, dv;
  std::optional<int> addl, ss, mdv;
};

Status ReadId(const Row& row, std::string* id) {
  std::string_view text = csv::Trim(row.Text(row.Std(kId)));
  if (csv::IsMissing(text)) {
    return row.FailStd(kId, "missing value; ID is required on every record");
  }
  id->assign(text);
  return Status::Ok();
}

Status ReadTime(const Row& row, Record* rec) {
  std::optional<double> t;
  MEDTWIN_RETURN_IF_ERROR(row.Number(row.Std(kTime), &t));
  if (!t) return row.FailStd(kTime, "missing value; TIME is required on every record");
  if (*t < 0) return row.FailStd(kTime, "TIME must be >= 0 h");
  rec->time_h = *t;
  return Status::Ok();
}

Status ReadAmountAndRate(const Row& row, RawRow* raw) {
  MEDTWIN_RETURN_IF_ERROR(row.Number(row.Std(kAmt), &raw->amt));
  if (raw->amt && *raw->amt < 0) return row.FailStd(kAmt, "AMT must be >= 0");
  MEDTWIN_RETURN_IF_ERROR(row.Number(row.Std(kRate), &raw->rate));
  if (raw->rate && *raw->rate < 0 && *raw->rate != -1 && *raw->rate != -2) {
    return row.FailStd(kRate,
                       "RATE must be > 0 (infusion), 0 (bolus), -1 (modelled rate) or -2 "
                       "(modelled duration)");
  }
  return Status::Ok();
}

Status ReadEvid(const Row& row, const RawRow& raw, Record* rec) {
  std::optional<int> evid;
  MEDTWIN_RETURN_IF_ERROR(row.Integer(row.Std(kEvid), &evid));
  if (!evid) {
    // NONMEM datasets without EVID: a row with an amount or a rate is a dose.
    bool dose = raw.amt.value_or(0) > 0 || raw.rate.value_or(0) != 0;
    rec->evid = dose ? Evid::kDose : Evid::kObservation;
    return Status::Ok();
  }
  if (*evid < 0 || *evid > 4) return row.FailStd(kEvid, "EVID must be 0, 1, 2, 3 or 4");
  rec->evid = static_cast<Evid>(*evid);
  return Status::Ok();
}

Status ReadIntervalFields(const Row& row, RawRow* raw) {
  MEDTWIN_RETURN_IF_ERROR(row.Number(row.Std(kIi), &raw->ii));
  if (raw->ii && *raw->ii < 0) return row.FailStd(kIi, "II must be >= 0 h");
  MEDTWIN_RETURN_IF_ERROR(row.Integer(row.Std(kAddl), &raw->addl));
  if (raw->addl && *raw->addl < 0) {
    return row.FailStd(kAddl,
                       "negative ADDL (NONMEM 7.5 empirical steady state) is not supported; use "
                       "SS=1 with II for a steady state",
                       StatusCode::kUnsupported);
  }
  MEDTWIN_RETURN_IF_ERROR(row.Integer(row.Std(kSs), &raw->ss));
  if (raw->ss == 3) {
    return row.FailStd(kSs, "SS=3 (steady state seeded from the current state) is not supported",
                       StatusCode::kUnsupported);
  }
  if (raw->ss && (*raw->ss < 0 || *raw->ss > 2)) return row.FailStd(kSs, "SS must be 0, 1 or 2");
  return Status::Ok();
}

Status ReadMdvDv(const Row& row, RawRow* raw, Record* rec) {
  MEDTWIN_RETURN_IF_ERROR(row.Integer(row.Std(kMdv), &raw->mdv));
  if (raw->mdv && *raw->mdv != 0 && *raw->mdv != 1) return row.FailStd(kMdv, "MDV must be 0 or 1");
  MEDTWIN_RETURN_IF_ERROR(row.Number(row.Std(kDv), &raw->dv));
  rec->dv = raw->dv.value_or(0.0);
  if (rec->evid != Evid::kObservation) {
    if (raw->mdv == 0) {
      return row.FailStd(kMdv, "MDV=0 on a record with EVID " +
                                   std::to_string(static_cast<int>(rec->evid)) +
                                   "; only observation records (EVID 0) carry a DV");
    }
    rec->mdv = true;
    return Status::Ok();
  }
  if (raw->mdv == 0 && !raw->dv) {
    if (!row.Has(row.Std(kDv))) return row.FailStd(kMdv, "MDV=0 but the dataset has no DV column");
    return row.FailStd(kDv, "missing DV on an observation record with MDV=0");
  }
  rec->mdv = raw->mdv ? *raw->mdv == 1 : !raw->dv;
  return Status::Ok();
}

// DVID: which observable an observation measures (name or 1-based number; default the first).
// CENS (nlmixr2/Monolix convention): 1 = below the quantification limit, DV holding the limit.
Status ReadObservableAndCensoring(const Row& row, Record* rec) {
  const int field = row.Std(kDvid);
  const std::string_view text = row.Has(field) ? csv::Trim(row.Text(field)) : std::string_view();
  if (!csv::IsMissing(text)) {
    const ModelSpec& spec = row.ctx().spec();
    double number = 0.0;
    if (csv::ParseNumber(text, &number) == csv::NumberStatus::kOk) {
      // Range first: converting a double beyond int's range is undefined (found by
      // fuzz/dataset_fuzz.cc with a 49-digit DVID).
      const bool in_range = number >= 1.0 && number <= static_cast<double>(spec.observables.size());
      const int k = in_range ? static_cast<int>(number) : 0;
      if (!in_range || k != number) {
        return row.FailStd(kDvid, "no observable number " + std::string(text) + "; model '" +
                                      spec.name + "' has 1.." +
                                      std::to_string(spec.observables.size()));
      }
      rec->observable = k - 1;
    } else {
      rec->observable = spec.ObservableIndex(std::string(text));
      if (rec->observable < 0) {
        std::string names;
        for (const auto& o : spec.observables) names += (names.empty() ? "" : ", ") + o.name;
        return row.FailStd(kDvid, "no observable '" + std::string(text) + "' in model '" +
                                      spec.name + "' (observables: " + names + ")");
      }
    }
  }
  std::optional<int> cens;
  MEDTWIN_RETURN_IF_ERROR(row.Integer(row.Std(kCens), &cens));
  if (cens && *cens != 0 && *cens != 1) {
    return row.FailStd(kCens,
                       "CENS must be 0 or 1 (1: below the quantification limit, DV = the limit)");
  }
  rec->censored = cens.value_or(0) == 1;
  if (rec->censored && (rec->evid != Evid::kObservation || rec->mdv)) {
    return row.FailStd(kCens, "CENS=1 needs an observation record with a DV (the limit)");
  }
  return Status::Ok();
}

std::string StateLabel(const Context& ctx, int state) {
  return std::to_string(state + 1) + " '" + ctx.spec().states[state].name + "'";
}

// CMT given as a number: 1-based state; negative = compartment off (EVID 2 only); 0 = default.
Status ReadCmtNumber(const Row& row, double v, Record* rec) {
  const Context& ctx = row.ctx();
  int n_states = ctx.model.num_states();
  if (v != std::floor(v)) return row.FailStd(kCmt, "not a whole number");
  if (std::fabs(v) > n_states) {
    return row.FailStd(kCmt, "no compartment with this number: " + ctx.ModelName() +
                                 " has states 1.." + std::to_string(n_states));
  }
  int n = static_cast<int>(v);
  if (n < 0 && rec->evid != Evid::kOther) {
    return row.FailStd(kCmt,
                       "a negative CMT (turn the compartment off) is allowed only on EVID 2 "
                       "records");
  }
  rec->state = n == 0 ? -1 : std::abs(n) - 1;
  rec->state_off = n < 0;
  return Status::Ok();
}

Status ReadCmt(const Row& row, Record* rec) {
  const Context& ctx = row.ctx();
  int field = row.Std(kCmt);
  double v = 0.0;
  csv::NumberStatus ns =
      row.Has(field) ? csv::ParseNumber(row.Text(field), &v) : csv::NumberStatus::kMissing;
  if (ns == csv::NumberStatus::kOk) {
    MEDTWIN_RETURN_IF_ERROR(ReadCmtNumber(row, v, rec));
  } else if (ns == csv::NumberStatus::kNotANumber) {
    rec->state = ctx.spec().StateIndex(std::string(csv::Trim(row.Text(field))));
    if (rec->state < 0 || rec->state >= ctx.model.num_states()) {
      return row.FailStd(kCmt, "no state with this name in " + ctx.ModelName(),
                         StatusCode::kNotFound);
    }
  } else if (ns == csv::NumberStatus::kNotFinite) {
    return row.FailStd(kCmt, "not a finite number");
  }
  if (!rec->IsDose()) return Status::Ok();
  if (rec->state < 0) rec->state = ctx.spec().default_dose_state;
  if (rec->state < 0 || rec->state >= ctx.model.num_states()) {
    return row.FailStd(kCmt,
                       "no CMT given and " + ctx.ModelName() + " has no valid default dose state");
  }
  if (!ctx.spec().states[rec->state].dosable) {
    return row.FailStd(kCmt, "state " + StateLabel(ctx, rec->state) + " of " + ctx.ModelName() +
                                 " does not accept doses");
  }
  return Status::Ok();
}

// A RATE of -1 / -2 needs the rate / duration from a parameter Rn / Dn or a column of that name
// with a value on this row.
Status CheckModelledRate(const Row& row, const Record& rec) {
  if (rec.rate != -1 && rec.rate != -2) return Status::Ok();
  const Context& ctx = row.ctx();
  bool is_rate = rec.rate == -1;
  std::string name = (is_rate ? "R" : "D") + std::to_string(rec.state + 1);
  if (ctx.spec().ParameterIndex(name) >= 0) return Status::Ok();
  int m = is_rate ? ctx.rate_modifier[rec.state] : ctx.duration_modifier[rec.state];
  std::string what = is_rate ? "a modelled rate" : "a modelled duration";
  std::string head = "RATE=" + Num(rec.rate) + " needs " + what + " (parameter " + name +
                     " or column " + name + ")";
  if (m < 0) return row.FailStd(kRate, head + ", but " + ctx.ModelName() + " has none");
  int field = ctx.layout.modifier_field[m];
  if (csv::IsMissing(row.Text(field))) {
    return row.Fail(field, head + ", but " + name + " is missing on this record and " +
                               ctx.ModelName() + " has no parameter " + name);
  }
  return Status::Ok();
}

Status CheckDose(const Row& row, const RawRow& raw, const Record& rec) {
  std::string evid = "EVID " + std::to_string(static_cast<int>(rec.evid));
  if (!row.Has(row.Std(kAmt))) {
    return row.FailStd(kAmt,
                       "a dose record (" + evid + ") needs AMT, but the dataset has no AMT column",
                       StatusCode::kNotFound);
  }
  if (!raw.amt) return row.FailStd(kAmt, "missing value; a dose record (" + evid + ") needs AMT");
  bool ss_infusion = rec.ss != 0 && rec.amt == 0 && rec.rate > 0 && rec.ii_h == 0;
  if (rec.amt == 0 && !ss_infusion) {
    return row.FailStd(kAmt,
                       "a dose needs AMT > 0; AMT=0 is allowed only for a steady-state infusion "
                       "(SS=1 or 2, RATE > 0, II=0)");
  }
  MEDTWIN_RETURN_IF_ERROR(CheckModelledRate(row, rec));
  if (rec.addl > 0 && rec.ii_h == 0) {
    return row.FailStd(kAddl, "ADDL > 0 additional doses need a dosing interval II > 0");
  }
  if (rec.ss != 0 && rec.ii_h == 0 && !ss_infusion) {
    return row.FailStd(kSs,
                       "a steady-state dose needs a dosing interval II > 0 (only a "
                       "steady-state infusion with AMT=0 and RATE > 0 has II=0)");
  }
  return Status::Ok();
}

// NONMEM: on observation, other and reset records the dose items must be zero. A non-zero value
// there is almost always a dose written with the wrong EVID, so it is an error, not ignored.
Status CheckNonDose(const Row& row, const Record& rec) {
  const std::array<std::pair<int, bool>, 5> dose_items = {{{kAmt, rec.amt != 0},
                                                           {kRate, rec.rate != 0},
                                                           {kIi, rec.ii_h != 0},
                                                           {kAddl, rec.addl != 0},
                                                           {kSs, rec.ss != 0}}};
  for (const auto& [s, set] : dose_items) {
    if (!set) continue;
    return row.FailStd(s, std::string(kStdNames[s]) + " is set on a record with EVID " +
                              std::to_string(static_cast<int>(rec.evid)) +
                              "; AMT, RATE, II, ADDL and SS apply to dose records (EVID 1 or 4) "
                              "and must be 0 or empty elsewhere");
  }
  return Status::Ok();
}

Status ReadStandardFields(const Row& row, Record* rec) {
  RawRow raw;
  MEDTWIN_RETURN_IF_ERROR(ReadTime(row, rec));
  MEDTWIN_RETURN_IF_ERROR(ReadAmountAndRate(row, &raw));
  MEDTWIN_RETURN_IF_ERROR(ReadEvid(row, raw, rec));
  MEDTWIN_RETURN_IF_ERROR(ReadIntervalFields(row, &raw));
  MEDTWIN_RETURN_IF_ERROR(ReadMdvDv(row, &raw, rec));
  MEDTWIN_RETURN_IF_ERROR(ReadObservableAndCensoring(row, rec));
  MEDTWIN_RETURN_IF_ERROR(ReadCmt(row, rec));
  rec->amt = raw.amt.value_or(0.0);
  rec->rate = raw.rate.value_or(0.0);
  rec->ii_h = raw.ii.value_or(0.0);
  rec->addl = raw.addl.value_or(0);
  rec->ss = raw.ss.value_or(0);
  return rec->IsDose() ? CheckDose(row, raw, *rec) : CheckNonDose(row, *rec);
}

// Validates one modifier value. Rn and Dn must be positive only where they are used: on a dose
// into their state with RATE -1 (Rn) or -2 (Dn).
Status CheckModifier(const Row& row, const ModifierColumn& mc, int field, double v,
                     const Record& rec) {
  bool on_target = rec.IsDose() && rec.state == mc.state;
  switch (mc.kind) {
    case ModifierKind::kBioavailability:
      if (v < 0) return row.Fail(field, "bioavailability F must be >= 0");
      break;
    case ModifierKind::kLag:
      if (v < 0) return row.Fail(field, "lag time ALAG must be >= 0 h");
      break;
    case ModifierKind::kRate:
      if (on_target && rec.rate == -1 && v <= 0) {
        return row.Fail(field, "the modelled rate of this RATE=-1 dose must be > 0");
      }
      break;
    case ModifierKind::kDuration:
      if (on_target && rec.rate == -2 && v <= 0) {
        return row.Fail(field, "the modelled duration of this RATE=-2 dose must be > 0 h");
      }
      break;
  }
  return Status::Ok();
}

Status ReadModifiers(const Row& row, Record* rec) {
  const Layout& lay = row.ctx().layout;
  rec->modifiers.assign(lay.modifiers.size(), kNaN);
  for (size_t m = 0; m < lay.modifiers.size(); ++m) {
    int field = lay.modifier_field[m];
    std::optional<double> v;
    MEDTWIN_RETURN_IF_ERROR(row.Number(field, &v));
    if (!v) continue;
    MEDTWIN_RETURN_IF_ERROR(CheckModifier(row, lay.modifiers[m], field, *v, *rec));
    rec->modifiers[m] = *v;
  }
  return Status::Ok();
}

Status ReadCovariates(const Row& row, Record* rec) {
  const Context& ctx = row.ctx();
  const auto& covs = ctx.spec().covariates;
  rec->covariates.resize(covs.size());
  for (size_t c = 0; c < covs.size(); ++c) {
    const CovariateSpec& cs = covs[c];
    int field = ctx.layout.covariate_field[c];
    if (field < 0) {
      rec->covariates[c] = cs.reference;
      continue;
    }
    std::optional<double> v;
    MEDTWIN_RETURN_IF_ERROR(row.Number(field, &v));
    if (!v && !cs.may_be_missing) {
      return row.Fail(field, "missing value for covariate " + cs.name + ", which " +
                                 ctx.ModelName() + " does not allow to be missing");
    }
    if (v && (*v < cs.lower || *v > cs.upper)) {
      return row.Fail(field, cs.name + " is outside the plausible range [" + Num(cs.lower) + ", " +
                                 Num(cs.upper) + "] " + cs.unit + " of " + ctx.ModelName());
    }
    rec->covariates[c] = v.value_or(kNaN);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Assembling subjects.

class SubjectBuilder {
 public:
  explicit SubjectBuilder(Dataset* ds) : ds_(ds) {}

  // Appends `rec` to the subject `id`, checking contiguity and time order.
  Status Add(const Row& row, const std::string& id, Record rec) {
    if (ds_->subjects.empty() || ds_->subjects.back().id != id) {
      auto [it, inserted] = first_line_.emplace(id, row.line());
      if (!inserted) {
        return row.FailStd(kId, "subject '" + csv::Quote(id) + "' (first record at line " +
                                    std::to_string(it->second) + ") appears again after subject '" +
                                    csv::Quote(ds_->subjects.back().id) +
                                    "'; a subject's records must be contiguous");
      }
      ds_->subjects.push_back({id, {}});
    }
    std::vector<Record>& recs = ds_->subjects.back().records;
    if (!recs.empty() && rec.time_h < recs.back().time_h) {
      std::string problem = "TIME decreases within subject '" + csv::Quote(id) +
                            "' (the record at line " + std::to_string(recs.back().line) +
                            " has TIME=" + Num(recs.back().time_h) + ")";
      if (rec.evid != Evid::kReset && rec.evid != Evid::kResetDose) {
        return row.FailStd(kTime, problem);
      }
      // NONMEM lets time restart at a reset record (help page "TIME data item"); the simulator
      // does not implement it, so a valid NONMEM dataset gets "unsupported", not "invalid".
      return row.FailStd(
          kTime, problem + "; restarting TIME at a reset record (EVID 3/4) is not supported",
          StatusCode::kUnsupported);
    }
    recs.push_back(std::move(rec));
    return Status::Ok();
  }

 private:
  Dataset* ds_;
  std::unordered_map<std::string, int> first_line_;
};

// NONMEM IGNORE=C / IGNORE=#: a row whose first character is 'C' or '#'. A first field "." is
// data (nmtests datasets have a column named C holding ".").
bool IsCommentRow(std::string_view line) {
  line = csv::Trim(line);
  return !line.empty() && (line.front() == 'C' || line.front() == '#');
}

// Finds and parses the header: the first line that is neither blank nor a '#' comment.
Status ReadHeader(csv::LineReader* lines, Context* ctx, std::vector<std::string>* fields) {
  std::string_view line;
  int number = 0;
  while (lines->Next(&line, &number)) {
    std::string_view t = csv::Trim(line);
    if (t.empty() || t.front() == '#') continue;
    ctx->layout.header_line = number;
    std::string problem;
    if (!csv::SplitLine(line, fields, &problem)) {
      return Status::Invalid(At(ctx->source, number) + ": " + problem);
    }
    return ParseHeader(ctx, *fields);
  }
  return Status::Invalid(ctx->source + ": empty input: no header row");
}

Status ReadRow(const Context& ctx, int number, const std::vector<std::string>& fields,
               SubjectBuilder* subjects) {
  if (fields.size() != ctx.layout.names.size()) {
    return Status::Invalid(At(ctx.source, number) + ": " + std::to_string(fields.size()) +
                           " fields, but the header (line " +
                           std::to_string(ctx.layout.header_line) + ") has " +
                           std::to_string(ctx.layout.names.size()) + " columns");
  }
  Row row(ctx, number, fields);
  std::string id;
  Record rec;
  rec.line = number;
  MEDTWIN_RETURN_IF_ERROR(ReadId(row, &id));
  MEDTWIN_RETURN_IF_ERROR(ReadStandardFields(row, &rec));
  MEDTWIN_RETURN_IF_ERROR(ReadModifiers(row, &rec));
  MEDTWIN_RETURN_IF_ERROR(ReadCovariates(row, &rec));
  return subjects->Add(row, id, std::move(rec));
}

Status ReadRows(csv::LineReader* lines, const Context& ctx, const DatasetOptions& options,
                Dataset* ds) {
  SubjectBuilder subjects(ds);
  std::vector<std::string> fields;
  std::string problem;
  std::string_view line;
  int number = 0;
  size_t n_records = 0;
  while (lines->Next(&line, &number)) {
    if (csv::IsBlank(line) || IsCommentRow(line)) continue;
    if (++n_records > options.max_records) {
      return Status::Invalid(At(ctx.source, number) + ": more than max_records=" +
                             std::to_string(options.max_records) + " records");
    }
    if (!csv::SplitLine(line, &fields, &problem)) {
      return Status::Invalid(At(ctx.source, number) + ": " + problem);
    }
    MEDTWIN_RETURN_IF_ERROR(ReadRow(ctx, number, fields, &subjects));
  }
  if (n_records == 0) {
    return Status::Invalid(ctx.source + ": no records (only a header at line " +
                           std::to_string(ctx.layout.header_line) + ")");
  }
  return Status::Ok();
}

}  // namespace

const char* ToString(CovariateRule r) {
  switch (r) {
    case CovariateRule::kNocb:
      return "nocb";
    case CovariateRule::kLocf:
      return "locf";
  }
  return "unknown";
}

Result<CovariateRule> CovariateRuleFromString(const std::string& s) {
  if (csv::EqualsIgnoreCase(s, "nocb")) return CovariateRule::kNocb;
  if (csv::EqualsIgnoreCase(s, "locf")) return CovariateRule::kLocf;
  return Status::Invalid("unknown covariate rule '" + csv::Quote(s) + "' (expected nocb or locf)");
}

Status DatasetOptions::Validate() const {
  if (source_name.empty()) return Status::Invalid("DatasetOptions.source_name must not be empty");
  if (max_bytes == 0) return Status::Invalid("DatasetOptions.max_bytes must be > 0 (got 0)");
  if (max_records == 0) return Status::Invalid("DatasetOptions.max_records must be > 0 (got 0)");
  return Status::Ok();
}

Result<Dataset> ReadDataset(std::string_view csv_text, const Model& model,
                            const DatasetOptions& options) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  if (csv_text.size() > options.max_bytes) {
    return Status::Invalid(options.source_name + ": input is " + std::to_string(csv_text.size()) +
                           " bytes, more than max_bytes=" + std::to_string(options.max_bytes));
  }
  // Spreadsheet exports often start with a UTF-8 byte order mark; it is not part of the header.
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (csv_text.substr(0, kBom.size()) == kBom) csv_text.remove_prefix(kBom.size());
  Context ctx{model, options.source_name, {}, {}, {}};
  csv::LineReader lines(csv_text);
  std::vector<std::string> header;
  MEDTWIN_RETURN_IF_ERROR(ReadHeader(&lines, &ctx, &header));
  Dataset ds;
  MEDTWIN_RETURN_IF_ERROR(ReadRows(&lines, ctx, options, &ds));
  ds.modifier_columns = ctx.layout.modifiers;
  ds.covariate_present.resize(ctx.layout.covariate_field.size());
  for (size_t c = 0; c < ds.covariate_present.size(); ++c) {
    ds.covariate_present[c] = ctx.layout.covariate_field[c] >= 0;
  }
  return ds;
}

Result<Dataset> ReadDatasetFile(const std::string& path, const Model& model,
                                DatasetOptions options) {
  if (options.source_name == DatasetOptions().source_name) options.source_name = path;
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) return Status::NotFound(path + ": no such file");
  if (ec) return Status::Invalid(path + ": cannot access the file: " + ec.message());
  if (fs::is_directory(st)) return Status::Invalid(path + ": is a directory, not a dataset file");
  std::uintmax_t size = fs::file_size(path, ec);
  if (!ec && size > options.max_bytes) {
    return Status::Invalid(path + ": file is " + std::to_string(size) +
                           " bytes, more than max_bytes=" + std::to_string(options.max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Invalid(path + ": cannot open the file for reading");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::Invalid(path + ": read error");
  return ReadDataset(text.str(), model, options);
}

}  // namespace medtwin
