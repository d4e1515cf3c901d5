#include "sbml/test_suite.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "medtwin/dataset.h"
#include "medtwin/sbml.h"
#include "medtwin/simulator.h"

namespace medtwin::sbml {
namespace {

namespace fs = std::filesystem;

std::string_view Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

// Comma-separated items, trimmed; empty items dropped (so "" is an empty list).
std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> items;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string_view::npos) end = s.size();
    const std::string_view item = Trim(s.substr(pos, end - pos));
    if (!item.empty()) items.emplace_back(item);
    pos = end + 1;
  }
  return items;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A decimal number; with `nonfinite`, also NaN, INF, -INF (any case), as in results files.
bool ParseDouble(std::string_view s, bool nonfinite, double* out) {
  if (nonfinite) {
    const std::string l = Lower(s);
    if (l == "nan" || l == "-nan") return *out = std::nan(""), true;
    if (l == "inf" || l == "+inf" || l == "infinity") return *out = kInf, true;
    if (l == "-inf" || l == "-infinity") return *out = -kInf, true;
  }
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && ptr == end && !s.empty() && std::isfinite(*out);
}

std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "INF" : "-INF";
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ptr);
}

std::string Short(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path.filename().string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string CaseName(int number) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%05d", number);
  return buf;
}

}  // namespace

Result<CaseSettings> ParseSettings(std::string_view text, const std::string& source) {
  std::map<std::string, std::string, std::less<>> kv;
  for (std::string_view line : Lines(text)) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    kv.emplace(Trim(line.substr(0, colon)), Trim(line.substr(colon + 1)));
  }
  auto get = [&](const char* key) -> Result<std::string> {
    auto it = kv.find(key);
    if (it == kv.end()) return Status::Invalid(source + ": missing key '" + key + "'");
    return it->second;
  };
  CaseSettings s;
  auto number = [&](const char* key, double lower, bool open, double* out) -> Status {
    auto v = get(key);
    if (!v.ok()) return v.status();
    if (!ParseDouble(*v, false, out) || *out < lower || (open && *out == lower)) {
      return Status::Invalid(source + ": " + key + " = '" + *v + "', expected a number " +
                             (open ? "> " : ">= ") + Short(lower));
    }
    return Status::Ok();
  };
  MEDTWIN_RETURN_IF_ERROR(number("start", -kInf, false, &s.start));
  MEDTWIN_RETURN_IF_ERROR(number("duration", 0.0, true, &s.duration));
  MEDTWIN_RETURN_IF_ERROR(number("absolute", 0.0, false, &s.absolute));
  MEDTWIN_RETURN_IF_ERROR(number("relative", 0.0, false, &s.relative));
  double steps = 0.0;
  MEDTWIN_RETURN_IF_ERROR(number("steps", 1.0, false, &steps));
  if (steps != std::floor(steps) || steps > 1e7) {
    return Status::Invalid(source + ": steps = '" + Short(steps) + "', expected an integer >= 1");
  }
  s.steps = static_cast<int>(steps);
  for (auto [key, list] : {std::pair{"variables", &s.variables}, std::pair{"amount", &s.amount},
                           std::pair{"concentration", &s.concentration}}) {
    auto v = get(key);
    if (!v.ok()) return v.status();
    *list = SplitList(*v);
  }
  if (s.variables.empty()) return Status::Invalid(source + ": 'variables' is empty");
  return s;
}

Result<ResultTable> ParseResults(std::string_view text, const std::string& source) {
  ResultTable t;
  int line_no = 0;
  for (std::string_view line : Lines(text)) {
    ++line_no;
    if (Trim(line).empty()) continue;
    std::vector<std::string> fields;
    size_t pos = 0;
    while (pos <= line.size()) {
      size_t end = std::min(line.find(',', pos), line.size());
      fields.emplace_back(Trim(line.substr(pos, end - pos)));
      pos = end + 1;
    }
    const std::string where = source + " line " + std::to_string(line_no);
    if (t.columns.empty()) {
      t.columns = std::move(fields);
      continue;
    }
    if (fields.size() != t.columns.size()) {
      return Status::Invalid(where + ": " + std::to_string(fields.size()) + " fields, header has " +
                             std::to_string(t.columns.size()));
    }
    for (size_t c = 0; c < fields.size(); ++c) {
      double v = 0.0;
      if (!ParseDouble(fields[c], true, &v)) {
        return Status::Invalid(where + ", column " + t.columns[c] + ": '" + fields[c] +
                               "' is not a number, NaN or INF");
      }
      t.values.push_back(v);
    }
  }
  if (t.columns.empty()) return Status::Invalid(source + ": no header row");
  return t;
}

std::string FormatResults(const ResultTable& table) {
  std::string out;
  for (size_t c = 0; c < table.columns.size(); ++c) {
    if (c > 0) out += ',';
    out += table.columns[c];
  }
  out += '\n';
  for (size_t r = 0; r < table.rows(); ++r) {
    for (size_t c = 0; c < table.columns.size(); ++c) {
      if (c > 0) out += ',';
      out += Num(table.at(r, c));
    }
    out += '\n';
  }
  return out;
}

std::vector<std::string> CaseInfo::AllTags() const {
  std::vector<std::string> all = component_tags;
  all.insert(all.end(), test_tags.begin(), test_tags.end());
  return all;
}

CaseInfo ParseModelHeader(std::string_view text) {
  CaseInfo info;
  bool have_component = false, have_test = false, have_type = false;
  for (std::string_view raw : Lines(text)) {
    const std::string_view line = Trim(raw);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon), value = line.substr(colon + 1);
    if (key == "componentTags" && !have_component) {
      info.component_tags = SplitList(value), have_component = true;
    } else if (key == "testTags" && !have_test) {
      info.test_tags = SplitList(value), have_test = true;
    } else if (key == "testType" && !have_type) {
      info.test_type = std::string(Trim(value)), have_type = true;
    }
  }
  return info;
}

Result<std::vector<int>> ParseCaseList(std::string_view spec) {
  constexpr int kMaxCase = 99999;
  auto parse = [](std::string_view s, int* out) {
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && ptr == s.data() + s.size() && !s.empty() && *out >= 1 &&
           *out <= kMaxCase;
  };
  std::vector<int> cases;
  size_t pos = 0;
  while (pos <= spec.size()) {
    const size_t end = std::min(spec.find(',', pos), spec.size());
    const std::string_view item = Trim(spec.substr(pos, end - pos));
    pos = end + 1;
    const size_t dash = item.find('-');
    int lo = 0, hi = 0;
    const bool ok = dash == std::string_view::npos
                        ? parse(item, &lo) && parse(item, &hi)
                        : parse(Trim(item.substr(0, dash)), &lo) &&
                              parse(Trim(item.substr(dash + 1)), &hi) && lo <= hi;
    if (!ok) {
      return Status::Invalid("--cases: '" + std::string(item) +
                             "' is not a case number or range A-B (1 <= A <= B <= 99999)");
    }
    for (int n = lo; n <= hi; ++n) cases.push_back(n);
  }
  std::sort(cases.begin(), cases.end());
  cases.erase(std::unique(cases.begin(), cases.end()), cases.end());
  return cases;
}

namespace {

// The suite's rule for one value (CompareResultSets): NaN only matches NaN, an infinity only the
// same infinity, a finite value needs a finite U within Ta + Tr*|C|.
bool ValueMatches(double c, double u, double absolute, double relative) {
  if (std::isnan(c)) return std::isnan(u);
  if (std::isinf(c)) return u == c;
  if (!std::isfinite(u)) return false;
  return std::fabs(c - u) <= absolute + relative * std::fabs(c);
}

}  // namespace

std::string JudgeResults(const ResultTable& expected, const ResultTable& simulated, double absolute,
                         double relative) {
  if (expected.columns.size() < 2) return "expected results have no variable columns";
  std::vector<size_t> col(expected.columns.size(), 0);
  for (size_t c = 1; c < expected.columns.size(); ++c) {
    auto it = std::find(simulated.columns.begin() + (simulated.columns.empty() ? 0 : 1),
                        simulated.columns.end(), expected.columns[c]);
    if (it == simulated.columns.end()) return "missing column " + expected.columns[c];
    col[c] = static_cast<size_t>(it - simulated.columns.begin());
  }
  if (simulated.rows() != expected.rows()) {
    return std::to_string(simulated.rows()) + " rows, expected " + std::to_string(expected.rows());
  }
  for (size_t r = 0; r < expected.rows(); ++r) {
    for (size_t c = 1; c < expected.columns.size(); ++c) {
      const double e = expected.at(r, c), u = simulated.at(r, col[c]);
      if (ValueMatches(e, u, absolute, relative)) continue;
      return "time " + Short(expected.at(r, 0)) + ", " + expected.columns[c] + ": expected " +
             Short(e) + ", got " + Short(u) + " (allowed difference " +
             Short(absolute + relative * std::fabs(e)) + ")";
    }
  }
  return {};
}

const char* ToString(CaseOutcome o) {
  switch (o) {
    case CaseOutcome::kPass:
      return "pass";
    case CaseOutcome::kFail:
      return "fail";
    case CaseOutcome::kUnsupported:
      return "unsupported";
  }
  return "?";
}

Status SuiteOptions::Validate() const {
  if (threads < 1)
    return Status::Invalid("threads = " + std::to_string(threads) + ", expected >= 1");
  if (!(tolerance_factor > 0.0 && tolerance_factor <= 1.0)) {
    return Status::Invalid("tolerance_factor = " + Short(tolerance_factor) + ", expected (0, 1]");
  }
  if (!(max_rtol > 0.0 && max_rtol < 1.0)) {
    return Status::Invalid("max_rtol = " + Short(max_rtol) + ", expected (0, 1)");
  }
  if (!(min_atol > 0.0)) return Status::Invalid("min_atol = " + Short(min_atol) + ", expected > 0");
  if (max_steps <= 0) {
    return Status::Invalid("max_steps = " + std::to_string(max_steps) + ", expected > 0");
  }
  for (int n : cases) {
    if (n < 1) return Status::Invalid("case number " + std::to_string(n) + ", expected >= 1");
  }
  return Status::Ok();
}

namespace {

// The model file: NNNNN-sbml-lXvY.xml with the highest (X, Y).
Result<fs::path> FindModelFile(const fs::path& dir, const std::string& name) {
  const std::string prefix = name + "-sbml-l";
  fs::path best;
  std::pair<int, int> best_lv{-1, -1};
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string f = entry.path().filename().string();
    int level = 0, version = 0;
    char tail[8] = {};
    if (f.rfind(prefix, 0) != 0 ||
        std::sscanf(f.c_str() + prefix.size(), "%dv%d%7s", &level, &version, tail) != 3 ||
        std::string(tail) != ".xml") {
      continue;
    }
    if (std::pair{level, version} > best_lv) best_lv = {level, version}, best = entry.path();
  }
  if (best.empty()) return Status::NotFound("no " + name + "-sbml-lXvY.xml in the case folder");
  // libSBML resolves a comp externalModelDefinition against a relative document path wrongly
  // ("Unresolved reference" when the suite is given as ../shared/...): pass an absolute path.
  return fs::absolute(best, ec);
}

// Output times start + k*duration/steps, k = 0..steps (computed per k, not accumulated).
std::vector<double> OutputTimes(const CaseSettings& s) {
  std::vector<double> t(static_cast<size_t>(s.steps) + 1);
  for (int k = 0; k <= s.steps; ++k) t[k] = s.start + k * s.duration / s.steps;
  return t;
}

SimOptions SolverOptions(const CaseSettings& s, const SuiteOptions& o) {
  SimOptions so;
  so.path = SimPath::kOde;
  so.rtol = std::min(o.max_rtol, s.relative * o.tolerance_factor);
  so.atol = std::max(o.min_atol, s.absolute * o.tolerance_factor);
  if (!(so.rtol > 0.0)) so.rtol = o.max_rtol;  // relative = 0: keep the cap
  so.max_steps = o.max_steps;
  return so;
}

// One subject "1" with a single EVID 2 record at `start`: the schedule has no doses, the
// requested times are the output grid.
Dataset OneSubject(const Model& model, double start) {
  Record rec;
  rec.line = 1;
  rec.time_h = start;
  rec.evid = Evid::kOther;
  rec.mdv = true;
  for (const auto& c : model.spec().covariates) rec.covariates.push_back(c.reference);
  Dataset data;
  data.subjects.push_back(Subject{"1", {rec}});
  data.covariate_present.assign(model.spec().covariates.size(), true);
  return data;
}

SbmlQuantity QuantityOf(const std::string& id, const CaseSettings& s) {
  auto in = [&](const std::vector<std::string>& v) {
    return std::find(v.begin(), v.end(), id) != v.end();
  };
  if (in(s.amount)) return SbmlQuantity::kAmount;
  if (in(s.concentration)) return SbmlQuantity::kConcentration;
  return SbmlQuantity::kNatural;
}

Result<ResultTable> Simulate(const SbmlModel& model, const CaseSettings& s, const SuiteOptions& o) {
  OutputRequest request;
  request.observation_records = false;
  request.times_h = OutputTimes(s);
  // Probes run during the simulation (delay() reads the run's past) with the individual
  // parameters: the declared values after initial assignments.
  for (const std::string& id : s.variables) {
    auto probe = model.Probe(id, QuantityOf(id, s));
    if (!probe.ok()) return probe.status();
    request.probes.push_back(std::move(*probe));
  }
  const std::vector<double> theta = model.spec().TypicalValues();
  Simulator sim(model, SolverOptions(s, o));
  auto out = sim.Run(OneSubject(model, s.start), 0, request, IndividualInput{theta, {}});
  if (!out.ok()) return out.status();
  ResultTable t;
  t.columns.push_back("time");
  t.columns.insert(t.columns.end(), s.variables.begin(), s.variables.end());
  const size_t nv = s.variables.size();
  for (size_t r = 0; r < out->rows(); ++r) {
    t.values.push_back(out->time_h[r]);
    t.values.insert(t.values.end(), out->probes.begin() + r * nv,
                    out->probes.begin() + (r + 1) * nv);
  }
  return t;
}

// The status message without the model path the importer puts first (every case has one
// model; the path is noise in a table), kept after the status code except for kUnsupported,
// whose outcome already says it.
std::string Reason(const Status& st, const std::string& path) {
  std::string m = st.message();
  if (m.rfind(path + ": ", 0) == 0) m.erase(0, path.size() + 2);
  if (st.code() == StatusCode::kUnsupported) return m;
  return std::string(ToString(st.code())) + ": " + m;
}

void Finish(CaseResult* r, CaseOutcome outcome, std::string reason) {
  r->outcome = outcome;
  r->reason = std::move(reason);
}

void RunCaseBody(const fs::path& dir, const SuiteOptions& o, CaseResult* r) {
  const std::string name = CaseName(r->number);
  auto model_m = ReadFile(dir / (name + "-model.m"));
  if (!model_m.ok()) return Finish(r, CaseOutcome::kFail, model_m.status().message());
  const CaseInfo info = ParseModelHeader(*model_m);
  r->tags = info.AllTags();
  if (info.test_type != "TimeCourse") {
    return Finish(r, CaseOutcome::kUnsupported, "testType " + info.test_type);
  }
  auto settings_text = ReadFile(dir / (name + "-settings.txt"));
  if (!settings_text.ok()) return Finish(r, CaseOutcome::kFail, settings_text.status().message());
  auto settings = ParseSettings(*settings_text, name + "-settings.txt");
  if (!settings.ok()) return Finish(r, CaseOutcome::kFail, settings.status().message());
  auto results_text = ReadFile(dir / (name + "-results.csv"));
  if (!results_text.ok()) return Finish(r, CaseOutcome::kFail, results_text.status().message());
  auto expected = ParseResults(*results_text, name + "-results.csv");
  if (!expected.ok()) return Finish(r, CaseOutcome::kFail, expected.status().message());
  auto file = FindModelFile(dir, name);
  if (!file.ok()) return Finish(r, CaseOutcome::kFail, file.status().message());
  auto model = LoadSbmlFile(file->string());
  if (!model.ok()) {
    const bool unsupported = model.status().code() == StatusCode::kUnsupported;
    return Finish(r, unsupported ? CaseOutcome::kUnsupported : CaseOutcome::kFail,
                  Reason(model.status(), file->string()));
  }
  auto simulated = Simulate(**model, *settings, o);
  if (!simulated.ok()) {
    return Finish(r, CaseOutcome::kFail, Reason(simulated.status(), file->string()));
  }
  r->simulated = std::move(*simulated);
  std::string mismatch =
      JudgeResults(*expected, r->simulated, settings->absolute, settings->relative);
  const CaseOutcome outcome = mismatch.empty() ? CaseOutcome::kPass : CaseOutcome::kFail;
  Finish(r, outcome, std::move(mismatch));
}

}  // namespace

CaseResult RunCase(const std::string& case_dir, int number, const SuiteOptions& options) {
  CaseResult r;
  r.number = number;
  const auto t0 = std::chrono::steady_clock::now();
  // The importer and simulator report errors as Status; an exception here (bad_alloc, a
  // libSBML throw) is a bug, recorded as a crash so the conformance test can catch it.
  try {
    RunCaseBody(case_dir, options, &r);
  } catch (const std::exception& e) {
    r.crashed = true;
    Finish(&r, CaseOutcome::kFail, std::string("exception: ") + e.what());
  } catch (...) {
    r.crashed = true;
    Finish(&r, CaseOutcome::kFail, "exception of unknown type");
  }
  r.wall_time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace {

// Case folders present: names of exactly five digits.
std::vector<int> ListCases(const fs::path& dir) {
  std::vector<int> cases;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string f = entry.path().filename().string();
    if (f.size() != 5 || !std::all_of(f.begin(), f.end(), ::isdigit)) continue;
    if (entry.is_directory(ec)) cases.push_back(std::stoi(f));
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

// Workers take cases in order from a shared counter; finished results are handed to `on_case`
// strictly in case order (a case waits in `results` until all cases before it are done).
void RunAll(const fs::path& dir, const std::vector<int>& cases, const SuiteOptions& o,
            const std::function<void(const CaseResult&)>& on_case,
            std::vector<CaseResult>* results) {
  results->assign(cases.size(), CaseResult{});
  std::vector<char> done(cases.size(), 0);
  std::atomic<size_t> next{0};
  size_t emitted = 0;
  std::mutex mu;
  auto work = [&] {
    for (size_t i = next++; i < cases.size(); i = next++) {
      CaseResult r = RunCase((dir / CaseName(cases[i])).string(), cases[i], o);
      std::lock_guard<std::mutex> lock(mu);
      (*results)[i] = std::move(r);
      done[i] = 1;
      for (; emitted < cases.size() && done[emitted]; ++emitted) {
        if (on_case) on_case((*results)[emitted]);
      }
    }
  };
  const int n = std::min<int>(o.threads, static_cast<int>(cases.size()));
  std::vector<std::thread> workers;
  for (int k = 1; k < n; ++k) workers.emplace_back(work);
  work();
  for (auto& w : workers) w.join();
}

}  // namespace

Result<SuiteResult> RunSuite(const std::string& cases_dir, const SuiteOptions& options,
                             const std::function<void(const CaseResult&)>& on_case) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  std::error_code ec;
  if (!fs::is_directory(cases_dir, ec)) {
    return Status::NotFound("cases folder " + cases_dir + " does not exist or is not a folder");
  }
  const std::vector<int> present = ListCases(cases_dir);
  SuiteResult result;
  std::vector<int> cases = present;
  if (!options.cases.empty()) {
    cases.clear();
    for (int n : options.cases) {
      if (std::binary_search(present.begin(), present.end(), n)) {
        cases.push_back(n);
      } else {
        ++result.summary.missing;
      }
    }
  }
  if (cases.empty()) return Status::NotFound("no requested case folder (NNNNN) in " + cases_dir);
  const auto t0 = std::chrono::steady_clock::now();
  RunAll(cases_dir, cases, options, on_case, &result.cases);
  SuiteSummary& s = result.summary;
  s.wall_time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.threads = std::min<int>(options.threads, static_cast<int>(cases.size()));
  for (const CaseResult& c : result.cases) {
    (c.outcome == CaseOutcome::kPass   ? s.pass
     : c.outcome == CaseOutcome::kFail ? s.fail
                                       : s.unsupported)++;
  }
  return result;
}

std::vector<TagStats> CountTags(const std::vector<CaseResult>& cases) {
  std::map<std::string, TagStats> by_tag;
  for (const CaseResult& c : cases) {
    for (const std::string& tag : c.tags) {
      TagStats& t = by_tag[tag];
      t.tag = tag;
      ++t.cases;
      (c.outcome == CaseOutcome::kPass   ? t.pass
       : c.outcome == CaseOutcome::kFail ? t.fail
                                         : t.unsupported)++;
    }
  }
  std::vector<TagStats> out;
  for (auto& [tag, stats] : by_tag) out.push_back(stats);
  return out;
}

std::vector<std::pair<std::string, int>> FailingTags(const std::vector<CaseResult>& cases) {
  std::vector<std::pair<std::string, int>> out;
  for (const TagStats& t : CountTags(cases)) {
    if (t.fail > 0) out.emplace_back(t.tag, t.fail);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

namespace {

// One line, at most `max` characters (long libSBML messages span lines).
std::string OneLine(const std::string& s, size_t max) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ', space = false;
    out += c;
  }
  if (out.size() > max) out = out.substr(0, max - 3) + "...";
  return out;
}

}  // namespace

std::string CaseLine(const CaseResult& c) {
  std::string line = CaseName(c.number) + " " + ToString(c.outcome);
  if (!c.reason.empty()) line += " " + OneLine(c.reason, 160);
  return line;
}

namespace {

std::string Cell(const std::string& s) {
  std::string out;
  for (char c : OneLine(s, 200)) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string Percent(int part, int whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %%", whole ? 100.0 * part / whole : 0.0);
  return buf;
}

void WriteMethod(std::ostringstream& os, const SuiteOptions& o) {
  os << "# SBML Test Suite conformance\n\n"
     << "medtwin runs the semantic cases of the SBML Test Suite (sbmlteam/sbml-test-suite, "
        "`cases/semantic`) through its SBML importer and simulator and judges every case with "
        "the suite's own rule. This page is generated; regenerate it with\n\n"
     << "```\nmedtwin sbml-test ../shared/data/sbml-test-suite/cases --threads 8 "
        "--report docs/sbml-conformance.md\n```\n\n"
     << "## How a case is run\n\n"
     << "- `testType` other than `TimeCourse` (e.g. `FluxBalanceSteadyState`): unsupported.\n"
     << "- The model `NNNNN-sbml-lXvY.xml` (highest Level/Version present) is loaded with "
        "`LoadSbmlFile`; a construct the importer refuses (`kUnsupported`) makes the case "
        "unsupported, any other load error a failure.\n"
     << "- The model is simulated from `start` with output at `start + k*duration/steps`, "
        "k = 0..steps, on the ODE path (CVODES BDF), parameters at their SBML values.\n"
     << "- Each of `variables` is read as an amount if listed in `amount`, a concentration if "
        "listed in `concentration`, else in its natural SBML meaning.\n"
     << "- With `--threads`, cases run in parallel, one simulator per worker; documents using "
        "the comp package are loaded one at a time (libSBML's comp flattening is not "
        "thread-safe). Output is in case order whatever the thread count.\n\n"
     << "## Pass rule\n\n"
     << "As in the suite's `CompareResultSets`: every value U at every row satisfies "
        "|C − U| ≤ absolute + relative·|C| (C the expected value, tolerances from "
        "`NNNNN-settings.txt`); an expected NaN needs NaN, an expected ±INF the same infinity, a "
        "non-finite value on one side only fails; every row and column must be present. Time "
        "values are not compared.\n\n"
     << "## Solver settings\n\n"
     << "The pass tolerances tightened " << Short(1.0 / o.tolerance_factor)
     << " times, as AMICI and libRoadRunner do: rtol = min(" << Short(o.max_rtol) << ", relative × "
     << Short(o.tolerance_factor) << "), atol = max(" << Short(o.min_atol) << ", absolute × "
     << Short(o.tolerance_factor) << "); at most " << o.max_steps
     << " CVODES steps between two outputs.\n\n";
}

void WriteTotals(std::ostringstream& os, const SuiteResult& r) {
  const SuiteSummary& s = r.summary;
  os << "## Totals\n\n| Outcome | Cases | Share |\n|---|---:|---:|\n"
     << "| pass | " << s.pass << " | " << Percent(s.pass, s.total()) << " |\n"
     << "| fail | " << s.fail << " | " << Percent(s.fail, s.total()) << " |\n"
     << "| unsupported | " << s.unsupported << " | " << Percent(s.unsupported, s.total())
     << " |\n| **total** | " << s.total() << " | |\n\n";
  if (s.missing > 0) os << s.missing << " requested case numbers have no folder.\n\n";
  os << "## By tag\n\n| Tag | Cases | Pass | Fail | Unsupported |\n|---|---:|---:|---:|---:|\n";
  for (const TagStats& t : CountTags(r.cases)) {
    os << "| " << t.tag << " | " << t.cases << " | " << t.pass << " | " << t.fail << " | "
       << t.unsupported << " |\n";
  }
  os << '\n';
}

void WriteCaseList(std::ostringstream& os, const SuiteResult& r, CaseOutcome outcome,
                   const char* title) {
  os << "## " << title << "\n\n";
  int n = 0;
  for (const CaseResult& c : r.cases) n += c.outcome == outcome;
  if (n == 0) {
    os << "None.\n\n";
    return;
  }
  os << "| Case | Tags | Reason |\n|---|---|---|\n";
  for (const CaseResult& c : r.cases) {
    if (c.outcome != outcome) continue;
    std::string tags;
    for (const std::string& t : c.tags) tags += (tags.empty() ? "" : ", ") + t;
    os << "| " << CaseName(c.number) << " | " << Cell(tags) << " | " << Cell(c.reason) << " |\n";
  }
  os << '\n';
}

}  // namespace

std::string MarkdownReport(const SuiteResult& result, const SuiteOptions& options) {
  std::ostringstream os;
  WriteMethod(os, options);
  WriteTotals(os, result);
  WriteCaseList(os, result, CaseOutcome::kFail, "Failing cases");
  WriteCaseList(os, result, CaseOutcome::kUnsupported, "Unsupported cases");
  return os.str();
}

}  // namespace medtwin::sbml
