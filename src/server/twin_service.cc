#include "server/twin_service.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include <unistd.h>

#include "medtwin/decide.h"
#include "medtwin/model.h"
#include "medtwin/twin.h"
#include "server/ingest.h"
#include "server/twin_inputs.h"

namespace medtwin::server {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kDocFormat = "medtwin-server-twin/1";
constexpr size_t kMaxSkippedKept = 100;
constexpr size_t kMaxEventsKept = 10'000;
constexpr int kMaxCommitAttempts = 5;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ------------------------------------------------------------------ requests

// The request object with only `allowed` keys; errors name the field.
Result<Json> ParseRequest(std::string_view text, const std::vector<std::string>& allowed) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return Status::Invalid("request body: not valid JSON");
  if (!j.is_object()) return Status::Invalid("request body: must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return Status::Invalid("request: unknown field '" + key + "' (expected " + list + ")");
    }
  }
  return j;
}

Result<double> Number(const Json& j, const std::string& key, double fallback, double lo,
                      double hi) {
  if (!j.contains(key)) return fallback;
  const Json& v = j[key];
  if (!v.is_number()) return Status::Invalid(key + ": must be a number");
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    return Status::Invalid(key + ": " + v.dump() + " is outside " + Json(lo).dump() + ".." +
                           Json(hi).dump());
  }
  return x;
}

Result<std::string> Text(const Json& j, const std::string& key, const std::string& fallback) {
  if (!j.contains(key)) return fallback;
  if (!j[key].is_string()) return Status::Invalid(key + ": must be a string");
  return j[key].get<std::string>();
}

Result<std::vector<double>> Numbers(const Json& j, const std::string& key,
                                    std::vector<double> fallback) {
  if (!j.contains(key)) return fallback;
  const Json& v = j[key];
  if (!v.is_array()) return Status::Invalid(key + ": must be an array of numbers");
  std::vector<double> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number() || !std::isfinite(v[i].get<double>())) {
      return Status::Invalid(key + "[" + std::to_string(i) + "]: must be a finite number");
    }
    out.push_back(v[i].get<double>());
  }
  return out;
}

// A model-error list of POST /twins (AssimilationOptions::initial_state_sd and the noise SDs):
// absent (none), one number for every name, or an object {NAME: SD} (names not given: 0).
Status NamedSds(const Json& j, const std::string& key, const std::vector<std::string>& names,
                std::vector<double>* out) {
  if (!j.contains(key)) return Status::Ok();
  const Json& v = j[key];
  std::vector<std::pair<std::string, double>> pairs;
  auto add = [&](const std::string& name, const Json& sd, const std::string& where) {
    if (!sd.is_number() || !std::isfinite(sd.get<double>()) || sd.get<double>() < 0.0) {
      return Status::Invalid(where + ": " + sd.dump() + " is not an SD >= 0");
    }
    pairs.emplace_back(name, sd.get<double>());
    return Status::Ok();
  };
  if (v.is_number()) {
    for (const std::string& n : names) MEDTWIN_RETURN_IF_ERROR(add(n, v, key));
  } else if (v.is_object()) {
    for (const auto& [name, sd] : v.items())
      MEDTWIN_RETURN_IF_ERROR(add(name, sd, key + "." + name));
  } else {
    return Status::Invalid(key + ": must be a number or an object {name: SD}");
  }
  auto values = NamedValues(names, pairs, key);
  if (!values.ok()) return values.status();
  *out = std::move(values).value();
  return Status::Ok();
}

// POST /twins "correlated_errors": [{observable, fraction, tau, order?, damping?}, ...]
// (AssimilationOptions::correlated_errors; checked against the model when the twin is made).
Status CorrelatedErrors(const Json& j, std::vector<CorrelatedError>* out) {
  if (!j.contains("correlated_errors")) return Status::Ok();
  const Json& v = j["correlated_errors"];
  if (!v.is_array()) return Status::Invalid("correlated_errors: must be an array of objects");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string field = "correlated_errors[" + std::to_string(i) + "]";
    if (!v[i].is_object()) return Status::Invalid(field + ": must be an object");
    auto e = ParseRequest(v[i].dump(), {"observable", "fraction", "tau", "order", "damping"});
    if (!e.ok()) return e.status().WithContext(field);
    auto observable = Text(*e, "observable", "");
    auto fraction = Number(*e, "fraction", -1.0, 0.0, 1.0);
    auto tau = Number(*e, "tau", -1.0, 0.0, 1e9);
    auto order = Number(*e, "order", 1.0, 1.0, 2.0);
    auto damping = Number(*e, "damping", 1.0, 0.0, 1e3);
    for (const Status& st :
         {observable.status(), fraction.status(), tau.status(), order.status(), damping.status()}) {
      if (!st.ok()) return st.WithContext(field);
    }
    if (observable->empty() || *fraction < 0.0 || *tau < 0.0) {
      return Status::Invalid(field + ": observable, fraction and tau are required");
    }
    if (*order != 1.0 && *order != 2.0) {
      return Status::Invalid(field + ".order: 1 (Ornstein-Uhlenbeck) or 2 (second-order)");
    }
    out->push_back({*observable, *fraction, *tau, static_cast<int>(*order), *damping});
  }
  return Status::Ok();
}

// "Patient/p1" or "p1" -> "p1".
Result<std::string> PatientId(const std::string& text) {
  std::string id = text.rfind("Patient/", 0) == 0 ? text.substr(8) : text;
  if (!fhir::IsValidId(id)) {
    return Status::Invalid("patient: '" + text + "' is not a Patient id or Patient/id reference");
  }
  return id;
}

// ------------------------------------------------------------------ the stored document

struct TwinConfig {
  std::string patient, model;
  AssimilationOptions filter;
};

struct TwinDoc {
  TwinConfig config;
  int64_t origin_ms = 0;                   // model time 0 on the clock
  std::map<std::string, int64_t> applied;  // "Observation/id" -> version taken in
  int64_t observations = 0;                // assimilated
  int64_t rebuilds = 0;
  int64_t skipped_total = 0;
  std::deque<std::pair<std::string, std::string>> skipped;  // (source, why), the latest
  Json last_observation;                                    // null: none yet
  std::string twin;                                         // Twin::Snapshot()
};

// The filter's model-error lists as stored (absent when empty: documents as before).
std::vector<std::pair<const char*, std::vector<double>*>> ModelErrorLists(AssimilationOptions& o) {
  return {{"initial_state_sd", &o.initial_state_sd},
          {"state_noise_sd", &o.state_noise_sd},
          {"eta_noise_sd", &o.eta_noise_sd}};
}

Json ConfigJson(const TwinConfig& c) {
  Json j = {
      {"patient", c.patient},        {"model", c.model},      {"method", ToString(c.filter.method)},
      {"members", c.filter.members}, {"seed", c.filter.seed}, {"gate_z", c.filter.gate_z}};
  AssimilationOptions o = c.filter;
  for (const auto& [key, list] : ModelErrorLists(o)) {
    if (!list->empty()) j[key] = *list;
  }
  for (const CorrelatedError& e : c.filter.correlated_errors) {
    j["correlated_errors"].push_back({{"observable", e.observable},
                                      {"fraction", e.fraction},
                                      {"tau", e.tau},
                                      {"order", e.order},
                                      {"damping", e.damping}});
  }
  return j;
}

std::string DocJson(const TwinDoc& d) {
  Json skipped = Json::array();
  for (const auto& [source, why] : d.skipped) skipped.push_back({source, why});
  return Json{{"format", kDocFormat},
              {"config", ConfigJson(d.config)},
              {"origin_ms", d.origin_ms},
              {"applied", d.applied},
              {"observations", d.observations},
              {"rebuilds", d.rebuilds},
              {"skipped_total", d.skipped_total},
              {"skipped", skipped},
              {"last_observation", d.last_observation},
              {"twin", d.twin}}
      .dump();
}

Result<TwinDoc> DocFromJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != kDocFormat) {
    return Status::Invalid("stored twin: not a " + std::string(kDocFormat) + " document");
  }
  try {
    TwinDoc d;
    const Json& c = j.at("config");
    d.config.patient = c.at("patient").get<std::string>();
    d.config.model = c.at("model").get<std::string>();
    auto method = FilterMethodFromString(c.at("method").get<std::string>());
    if (!method.ok()) return method.status();
    d.config.filter.method = *method;
    d.config.filter.members = c.at("members").get<int>();
    d.config.filter.seed = c.at("seed").get<uint64_t>();
    d.config.filter.gate_z = c.at("gate_z").get<double>();
    for (const auto& [key, list] : ModelErrorLists(d.config.filter)) {
      *list = c.value(key, std::vector<double>{});
    }
    for (const Json& e : c.value("correlated_errors", Json::array())) {
      d.config.filter.correlated_errors.push_back(
          {e.at("observable").get<std::string>(), e.at("fraction").get<double>(),
           e.at("tau").get<double>(), e.at("order").get<int>(), e.at("damping").get<double>()});
    }
    d.origin_ms = j.at("origin_ms").get<int64_t>();
    d.applied = j.at("applied").get<std::map<std::string, int64_t>>();
    d.observations = j.at("observations").get<int64_t>();
    d.rebuilds = j.at("rebuilds").get<int64_t>();
    d.skipped_total = j.at("skipped_total").get<int64_t>();
    for (const Json& s : j.at("skipped")) {
      d.skipped.emplace_back(s.at(0).get<std::string>(), s.at(1).get<std::string>());
    }
    d.last_observation = j.at("last_observation");
    d.twin = j.at("twin").get<std::string>();
    return d;
  } catch (const Json::exception& e) {
    return Status::Invalid(std::string("stored twin: ") + e.what());
  }
}

// ------------------------------------------------------------------ live twins

// A twin in memory: its document, model and Twin (the model outlives the Twin).
struct LiveTwin {
  TwinDoc doc;
  int64_t revision = 0;  // the stored revision it was loaded from (0: new)
  std::unique_ptr<Model> model;
  std::unique_ptr<Twin> twin;
  double ms_per_unit = 0.0;
  // What this round did, for the commit and the event stream.
  std::vector<AlertRow> alerts;
  Json steps = Json::array();

  std::string IsoAt(double model_time) const {
    return IsoUtc(doc.origin_ms + static_cast<int64_t>(std::llround(model_time * ms_per_unit)));
  }
  void Skip(const std::string& source, const std::string& why) {
    ++doc.skipped_total;
    doc.skipped.emplace_back(source, why);
    while (doc.skipped.size() > kMaxSkippedKept) doc.skipped.pop_front();
  }
};

Status Attach(LiveTwin* live) {
  auto model = MakeModel(live->doc.config.model);
  if (!model.ok()) return model.status();
  live->model = std::move(model).value();
  auto per = MsPerTimeUnit(live->model->spec());
  if (!per.ok()) return per.status();
  live->ms_per_unit = *per;
  return Status::Ok();
}

Result<std::unique_ptr<LiveTwin>> Load(const TwinRow& row) {
  auto doc = DocFromJson(row.snapshot);
  if (!doc.ok()) return doc.status().WithContext("twin " + row.patient + "/" + row.model);
  auto live = std::make_unique<LiveTwin>();
  live->doc = std::move(doc).value();
  live->revision = row.revision;
  MEDTWIN_RETURN_IF_ERROR(Attach(live.get()));
  auto twin = Twin::Restore(*live->model, live->doc.twin);
  if (!twin.ok()) return twin.status().WithContext("twin " + row.patient + "/" + row.model);
  live->twin = std::move(twin).value();
  return live;
}

// Every stored resource of `type` about the patient.
Result<std::vector<StoredResource>> PatientResources(Store* store, const std::string& type,
                                                     const std::string& patient) {
  std::vector<StoredResource> out;
  SearchQuery q;
  q.type = type;
  q.tokens = {{"patient", "Patient/" + patient}};
  q.count = 1000;
  while (true) {
    auto page = store->Search(q);
    if (!page.ok()) return page.status();
    for (StoredResource& r : page->resources) out.push_back(std::move(r));
    if (page->next == 0) return out;
    q.after = page->next;
  }
}

// The twin takes `inputs` (sorted) in. Returns false when one of them comes before what the
// twin has already seen (the caller rebuilds); inputs the twin refuses are skipped with why.
// Steps and alerts are reported for the inputs whose source `report` accepts (a rebuild replays
// what was reported before; empty: all).
bool TakeIn(LiveTwin* live, const std::vector<TwinInput>& inputs,
            const std::function<bool(const std::string&)>& report = {}) {
  Twin& twin = *live->twin;
  const ModelSpec& spec = live->model->spec();
  for (const TwinInput& in : inputs) {
    const double t = static_cast<double>(in.at_ms - live->doc.origin_ms) / live->ms_per_unit;
    if (in.at_ms < live->doc.origin_ms || t < twin.last_time()) return false;
    Status s;
    switch (in.kind) {
      case TwinInput::Kind::kCovariate:
        s = twin.SetCovariates(t, {{in.name, in.value}});
        break;
      case TwinInput::Kind::kDose:
        s = twin.Apply({t, in.name, in.value, in.rate});
        break;
      case TwinInput::Kind::kObservation: {
        auto u = twin.Update({t, in.name, in.value});
        if (!u.ok()) {
          s = u.status();
          break;
        }
        ++live->doc.observations;
        const AssimilationStep& st = u->step;
        Json obs = {{"source", in.source},
                    {"observable", in.name},
                    {"time", t},
                    {"at", IsoUtc(in.at_ms)},
                    {"value", st.dv},
                    {"pred", st.pred},
                    {"pred_lo", st.pred_lo},
                    {"pred_hi", st.pred_hi},
                    {"z", st.z},
                    {"rejected", st.rejected},
                    {"lost_members", st.lost_members}};
        live->doc.last_observation = obs;
        if (report && !report(in.source)) break;
        live->steps.push_back(obs);
        for (const Alert& a : u->alerts) {
          live->alerts.push_back({0, live->doc.config.patient, spec.name,
                                  spec.observables[a.observable].name, ToString(a.kind), a.time,
                                  a.score, 0});
        }
        break;
      }
    }
    if (!s.ok()) live->Skip(in.source, s.message());
  }
  return true;
}

// Builds a twin from the patient's whole record (a new twin, or a rebuild of `previous`).
Result<std::unique_ptr<LiveTwin>> Build(Store* store, const fhir::ObservationMap& map,
                                        const TwinConfig& config, const LiveTwin* previous) {
  auto live = std::make_unique<LiveTwin>();
  live->doc.config = config;
  if (previous != nullptr) {
    live->doc.rebuilds = previous->doc.rebuilds + 1;
    live->doc.skipped_total = previous->doc.skipped_total;
    live->revision = previous->revision;
  }
  MEDTWIN_RETURN_IF_ERROR(Attach(live.get()));
  const ModelSpec& spec = live->model->spec();
  auto patient = store->Read("Patient", config.patient);
  if (!patient.ok() || patient->deleted) {
    if (!patient.ok() && patient.status().code() != StatusCode::kNotFound) {
      return patient.status();
    }
    return Status::NotFound("Patient/" + config.patient + " is not in the store");
  }
  std::vector<TwinInput> inputs;
  for (const char* type : {"Observation", "MedicationAdministration"}) {
    auto resources = PatientResources(store, type, config.patient);
    if (!resources.ok()) return resources.status();
    for (const StoredResource& r : *resources) {
      const std::string key = r.type + "/" + r.id;
      auto in = TwinInputs(map, spec, r.type, r.json);
      if (!in.ok()) {
        live->Skip(key, in.status().message());
        live->doc.applied[key] = r.version;
        continue;
      }
      if (in->empty()) continue;
      live->doc.applied[key] = r.version;
      inputs.insert(inputs.end(), in->begin(), in->end());
    }
  }
  SortInputs(&inputs);
  live->doc.origin_ms = !inputs.empty() ? inputs.front().at_ms
                        : previous      ? previous->doc.origin_ms
                                        : NowMs();
  auto covs = PatientTwinCovariates(map, spec, patient->json, live->doc.origin_ms);
  if (!covs.ok()) return covs.status();
  // Each covariate starts at its first measured value (later values are changes over time).
  for (const TwinInput& in : inputs) {
    if (in.kind != TwinInput::Kind::kCovariate) continue;
    const bool known =
        std::any_of(covs->begin(), covs->end(), [&](const auto& c) { return c.first == in.name; });
    if (!known) covs->emplace_back(in.name, in.value);
  }
  TwinOptions o;
  o.patient_id = config.patient;
  o.covariates = *covs;
  o.filter = config.filter;
  auto twin = Twin::Create(*live->model, o);
  if (!twin.ok()) return twin.status().WithContext("twin of Patient/" + config.patient);
  live->twin = std::move(twin).value();
  // Sorted: nothing comes before what the twin has seen. A rebuild reports only what is new or
  // changed since the previous twin (its alerts were raised and stored before).
  std::function<bool(const std::string&)> fresh;
  if (previous != nullptr) {
    fresh = [&](const std::string& source) {
      auto before = previous->doc.applied.find(source);
      auto now = live->doc.applied.find(source);
      return before == previous->doc.applied.end() || now == live->doc.applied.end() ||
             before->second != now->second;
    };
  }
  TakeIn(live.get(), inputs, fresh);
  return live;
}

// ------------------------------------------------------------------ responses

// "p5", "p50", "p2.5": the key of a percentile column.
std::string PercentileKey(double p) {
  return "p" + (p == std::floor(p) ? std::to_string(static_cast<int>(p)) : Json(p).dump());
}

Json Percentiles(std::vector<double> v, const std::vector<double>& ps) {
  Json out = Json::object();
  std::sort(v.begin(), v.end());
  for (double p : ps) {
    const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos)), hi = std::min(lo + 1, v.size() - 1);
    const double x = v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
    out[PercentileKey(p)] = x;
  }
  return out;
}

// Quantities that stream to clients and the state a clinician reads.
Result<Json> DescribeJson(const LiveTwin& live, const TwinRow& row) {
  const ModelSpec& spec = live.model->spec();
  const Twin& twin = *live.twin;
  Json j = ConfigJson(live.doc.config);
  j["revision"] = row.revision;
  j["updated"] = IsoUtc(row.updated / 1000);
  j["time_unit"] = spec.time_unit;
  j["origin"] = IsoUtc(live.doc.origin_ms);
  j["now"] = {{"time", twin.last_time()}, {"at", live.IsoAt(twin.last_time())}};
  j["observations"] = live.doc.observations;
  j["resources"] = live.doc.applied.size();
  j["rebuilds"] = live.doc.rebuilds;
  Json skipped = Json::array();
  for (const auto& [source, why] : live.doc.skipped) {
    skipped.push_back({{"source", source}, {"reason", why}});
  }
  j["skipped"] = {{"total", live.doc.skipped_total}, {"latest", skipped}};
  j["last_observation"] = live.doc.last_observation;
  // Current covariates: the last record's values.
  Json covs = Json::object();
  const auto& records = twin.record().subjects[0].records;
  for (size_t k = 0; k < spec.covariates.size(); ++k) {
    if (records.empty()) break;
    const double v = records.back().covariates[k];
    covs[spec.covariates[k].name] = {{"value", std::isnan(v) ? Json() : Json(v)},
                                     {"unit", spec.covariates[k].unit}};
  }
  j["covariates"] = covs;
  // The parameter posterior: individual values of 1,000 draws under the current covariates.
  auto post = twin.Posterior(1000, 1);
  if (!post.ok()) return post.status();
  auto values = twin.ParameterDraws(*post);
  if (!values.ok()) return values.status();
  const size_t q = spec.variability.parameters.size();
  Json params = Json::array();
  for (size_t k = 0; k < q; ++k) {
    std::vector<double> column;
    for (size_t i = k; i < values->size(); i += q) column.push_back((*values)[i]);
    const std::string& name = spec.variability.parameters[k];
    Json p = {{"name", name}, {"unit", spec.parameters[spec.ParameterIndex(name)].unit}};
    p.update(Percentiles(column, {5, 50, 95}));
    params.push_back(p);
  }
  j["parameters"] = params;
  return j;
}

// A future regimen: [{"at": ISO | "after_h": h, "amount", "compartment", "duration_h"|"rate"}].
Result<std::vector<medtwin::TwinEvent>> RegimenFrom(const Json& events, const LiveTwin& live,
                                                    const std::string& field) {
  if (!events.is_array()) return Status::Invalid(field + ": must be an array of doses");
  std::vector<medtwin::TwinEvent> out;
  const double now = live.twin->last_time();
  for (size_t i = 0; i < events.size(); ++i) {
    const std::string where = field + "[" + std::to_string(i) + "]";
    const Json& e = events[i];
    if (!e.is_object()) return Status::Invalid(where + ": must be an object");
    for (const auto& [key, value] : e.items()) {
      if (key != "at" && key != "after_h" && key != "amount" && key != "compartment" &&
          key != "duration_h" && key != "rate") {
        return Status::Invalid(where + ": unknown field '" + key +
                               "' (expected at or after_h, amount, compartment, duration_h or "
                               "rate)");
      }
    }
    medtwin::TwinEvent ev;
    if (e.contains("at")) {
      if (!e["at"].is_string()) return Status::Invalid(where + ".at: must be a dateTime string");
      auto at = fhir::ParseDateTime(e["at"].get<std::string>());
      if (!at.ok()) return Status::Invalid(where + ".at: " + at.status().message());
      ev.time = static_cast<double>(at->epoch_ms - live.doc.origin_ms) / live.ms_per_unit;
    } else {
      auto after = Number(e, "after_h", 0.0, 0.0, 1e5);
      if (!after.ok()) return after.status().WithContext(where);
      ev.time = now + *after * 3'600'000.0 / live.ms_per_unit;
    }
    if (ev.time < now) {
      return Status::Invalid(where + ": a future dose cannot come before the twin's now (" +
                             live.IsoAt(now) + ")");
    }
    auto amount = Number(e, "amount", -1.0, 0.0, 1e9);
    if (!amount.ok()) return amount.status().WithContext(where);
    if (!(*amount > 0.0)) return Status::Invalid(where + ".amount: required, > 0");
    ev.amount = *amount;
    auto cmt = Text(e, "compartment", "");
    if (!cmt.ok()) return cmt.status().WithContext(where);
    ev.compartment = *cmt;
    auto duration = Number(e, "duration_h", 0.0, 0.0, 1e4);
    if (!duration.ok()) return duration.status().WithContext(where);
    auto rate = Number(e, "rate", 0.0, 0.0, 1e12);
    if (!rate.ok()) return rate.status().WithContext(where);
    if (*duration > 0.0 && *rate > 0.0) {
      return Status::Invalid(where + ": give duration_h or rate, not both");
    }
    ev.rate = *duration > 0.0 ? ev.amount / (*duration * 3'600'000.0 / live.ms_per_unit) : *rate;
    out.push_back(ev);
  }
  return out;
}

struct ForecastRequest {
  double horizon = 0.0, step = 0.0;  // model time units
  ForecastOptions options;
};

Result<ForecastRequest> ForecastRequestFrom(const Json& j, const LiveTwin& live) {
  ForecastRequest r;
  const double per_h = 3'600'000.0 / live.ms_per_unit;  // model units per hour
  auto horizon = Number(j, "horizon_h", 48.0, 1e-6, 24.0 * 366);
  if (!horizon.ok()) return horizon.status();
  auto step = Number(j, "step_h", std::max(*horizon / 96.0, 1.0 / 60.0), 1e-6, *horizon);
  if (!step.ok()) return step.status();
  if (*horizon / *step > 10'000) {
    return Status::Invalid("step_h: more than 10,000 forecast times over horizon_h");
  }
  r.horizon = *horizon * per_h;
  r.step = *step * per_h;
  auto ps = Numbers(j, "percentiles", {5, 50, 95});
  if (!ps.ok()) return ps.status();
  r.options.percentiles = *ps;
  auto draws = Number(j, "draws", 500, 1, 10'000);
  if (!draws.ok()) return draws.status();
  r.options.draws = static_cast<int>(*draws);
  auto seed = Number(j, "seed", 1, 0, 9.0e15);
  if (!seed.ok()) return seed.status();
  r.options.seed = static_cast<uint64_t>(*seed);
  auto interval = Text(j, "interval", "observation");
  if (!interval.ok()) return interval.status();
  if (*interval != "observation" && *interval != "parameter") {
    return Status::Invalid("interval: '" + *interval + "' is not observation or parameter");
  }
  r.options.interval =
      *interval == "parameter" ? IntervalKind::kParameter : IntervalKind::kObservation;
  MEDTWIN_RETURN_IF_ERROR(r.options.Validate());
  return r;
}

// "targets": ["auc24=400..600", "trough<=20"] (a range each) and "metrics": ["auc24", "peak(1)"]
// (summaries without a range) of a request, in that order.
Result<std::vector<Target>> TargetsFrom(const Json& j) {
  std::vector<Target> out;
  for (const char* key : {"targets", "metrics"}) {
    if (!j.contains(key)) continue;
    const std::string k = key;
    if (!j[key].is_array() || j[key].empty()) {
      return Status::Invalid(k +
                             ": must be a non-empty array of strings, e.g. [\"auc24=400..600\"]");
    }
    for (const Json& t : j[key]) {
      if (!t.is_string()) return Status::Invalid(k + ": each must be a string");
      auto parsed = k == "targets" ? TargetFromString(t.get<std::string>())
                                   : MetricFromString(t.get<std::string>());
      if (!parsed.ok()) return Status::Invalid(k + ": " + parsed.status().message());
      out.push_back(*parsed);
    }
  }
  return out;
}

// A regimen's exposure on the what-if window: dose in the window, joint PTA when a target has a
// range, and per metric its PTA (ranged ones) and percentiles 5, 50, 95.
Json ExposureJson(const RegimenExposure& e, const std::vector<Target>& targets) {
  Json metrics = Json::array();
  bool ranged = false;
  for (size_t j = 0; j < targets.size(); ++j) {
    const bool has_range = targets[j].HasRange();
    ranged = ranged || has_range;
    Json m = {{"metric", targets[j].ToString()},
              {"p5", e.quantiles[3 * j]},
              {"p50", e.quantiles[3 * j + 1]},
              {"p95", e.quantiles[3 * j + 2]}};
    if (has_range) m["pta"] = e.target_pta[j];
    metrics.push_back(m);
  }
  Json out = {{"dose_in_window", e.dose_in_window}, {"metrics", metrics}};
  if (ranged) out["pta"] = e.pta;
  return out;
}

Result<Json> ForecastJson(const LiveTwin& live, const ForecastRequest& r,
                          const std::vector<medtwin::TwinEvent>& regimen) {
  auto fc = live.twin->Forecast(r.horizon, r.step, regimen, r.options);
  if (!fc.ok()) return fc.status();
  const ModelSpec& spec = live.model->spec();
  const int no = static_cast<int>(spec.observables.size());
  const double now = live.twin->last_time();
  Json times = Json::array(), hours = Json::array();
  for (double t : fc->time) {
    times.push_back(live.IsoAt(t));
    hours.push_back((t - now) * live.ms_per_unit / 3'600'000.0);
  }
  Json obs = Json::object();
  for (int k = 0; k < no; ++k) {
    Json o = {{"unit", spec.observables[k].unit}};
    for (int q = 0; q < fc->num_percentiles; ++q) {
      Json column = Json::array();
      for (size_t row = 0; row < fc->time.size(); ++row) column.push_back(fc->At(row, k, q, no));
      o[PercentileKey(r.options.percentiles[q])] = column;
    }
    obs[spec.observables[k].name] = o;
  }
  return Json{
      {"now", live.IsoAt(now)},
      {"percentiles", r.options.percentiles},
      {"interval", r.options.interval == IntervalKind::kParameter ? "parameter" : "observation"},
      {"at", times},
      {"hours", hours},
      {"observables", obs}};
}

// ------------------------------------------------------------------ the service

class Service : public TwinService {
 public:
  Service(Store* store, TwinServiceOptions o)
      : store_(store),
        options_(std::move(o)),
        map_(options_.map ? *options_.map : fhir::ObservationMap::Default()) {}

  ~Service() override { Stop(); }

  Status StartWorkers() {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    for (int i = 0; i < options_.workers; ++i) {
      auto s = OpenStore(options_.db, options_.store);
      if (!s.ok()) return s.status().WithContext("twin worker " + std::to_string(i));
      // The same name on every start on this host: jobs a crashed predecessor held are queued
      // again now rather than when their leases run out.
      worker_names_.push_back("twin-worker-" + std::to_string(i) + "@" + host);
      auto released = (*s)->ReleaseJobs(worker_names_.back());
      if (!released.ok()) return released.status().WithContext(worker_names_.back());
      worker_stores_.push_back(std::move(s).value());
    }
    for (int i = 0; i < options_.workers; ++i) {
      workers_.emplace_back([this, i] { WorkLoop(i); });
    }
    return Status::Ok();
  }

  void Stop() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    events_cv_.notify_all();
    for (std::thread& t : workers_) {
      if (t.joinable()) t.join();
    }
    workers_.clear();
  }

  void Wake() override {
    {
      std::lock_guard lock(mu_);
      ++wakeups_;
    }
    wake_.notify_all();
  }

  Result<std::string> Create(std::string_view request) override {
    auto j = ParseRequest(
        request, {"patient", "model", "method", "members", "seed", "gate_z", "initial_state_sd",
                  "state_noise_sd", "eta_noise_sd", "correlated_errors"});
    if (!j.ok()) return j.status();
    TwinConfig c;
    auto patient = Text(*j, "patient", "");
    if (!patient.ok()) return patient.status();
    if (patient->empty()) return Status::Invalid("patient: required (a Patient id)");
    auto id = PatientId(*patient);
    if (!id.ok()) return id.status();
    c.patient = *id;
    auto model = Text(*j, "model", "");
    if (!model.ok()) return model.status();
    if (model->empty()) return Status::Invalid("model: required (see GET /twins/models)");
    c.model = *model;
    auto method_text = Text(*j, "method", "enkf");
    if (!method_text.ok()) return method_text.status();
    auto method = FilterMethodFromString(*method_text);
    if (!method.ok()) return Status::Invalid("method: " + method.status().message());
    c.filter.method = *method;
    auto members = Number(*j, "members", 64, 2, 100'000);
    if (!members.ok()) return members.status();
    c.filter.members = static_cast<int>(*members);
    auto seed = Number(*j, "seed", 1, 0, 9.0e15);
    if (!seed.ok()) return seed.status();
    c.filter.seed = static_cast<uint64_t>(*seed);
    auto gate = Number(*j, "gate_z", 0, 0, 1e3);
    if (!gate.ok()) return gate.status();
    c.filter.gate_z = *gate;
    auto m = MakeModel(c.model);
    if (!m.ok()) return Status::Invalid("model: " + m.status().message());
    const ModelSpec& spec = (*m)->spec();
    std::vector<std::string> states;
    for (const StateSpec& s : spec.states) states.push_back(s.name);
    MEDTWIN_RETURN_IF_ERROR(NamedSds(*j, "initial_state_sd", states, &c.filter.initial_state_sd));
    MEDTWIN_RETURN_IF_ERROR(NamedSds(*j, "state_noise_sd", states, &c.filter.state_noise_sd));
    MEDTWIN_RETURN_IF_ERROR(
        NamedSds(*j, "eta_noise_sd", spec.variability.parameters, &c.filter.eta_noise_sd));
    MEDTWIN_RETURN_IF_ERROR(CorrelatedErrors(*j, &c.filter.correlated_errors));
    MEDTWIN_RETURN_IF_ERROR(c.filter.Validate());
    auto existing = store_->ReadTwin(c.patient, c.model);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      return Status::Conflict("a twin of Patient/" + c.patient + " with model " + c.model +
                              " exists (revision " + std::to_string((*existing)->revision) + ")");
    }
    auto live = Build(store_, map_, c, nullptr);
    if (!live.ok()) return live.status();
    auto row = Commit(store_, {live->get()}, 0);
    if (!row.ok()) return row.status();
    // Data stored while it was being built had their jobs run against no twin: take them in
    // now (jobs run from here on find the twin).
    auto synced = SyncAll(store_, c.patient, c.model);
    if (!synced.ok()) return synced.status();
    return Describe(c.patient, c.model);
  }

  Result<std::string> Describe(const std::string& patient, const std::string& model) override {
    auto found = Find(patient, model);
    if (!found.ok()) return found.status();
    auto& [row, live] = *found;
    auto j = DescribeJson(*live, row);
    if (!j.ok()) return j.status();
    return j->dump();
  }

  Result<std::string> List(const std::string& patient) override {
    auto id = PatientId(patient);
    if (!id.ok()) return id.status();
    auto rows = store_->ListTwins(*id);
    if (!rows.ok()) return rows.status();
    Json out = Json::array();
    for (const TwinRow& r : *rows) {
      auto doc = DocFromJson(r.snapshot);
      if (!doc.ok()) return doc.status();
      Json j = ConfigJson(doc->config);
      j["revision"] = r.revision;
      j["updated"] = IsoUtc(r.updated / 1000);
      j["observations"] = doc->observations;
      j["last_observation"] = doc->last_observation;
      out.push_back(j);
    }
    return Json{{"patient", *id}, {"twins", out}}.dump();
  }

  Result<std::string> Forecast(const std::string& patient, const std::string& model,
                               std::string_view request) override {
    auto call = PrepareForecast(patient, model, request, "regimen");
    if (!call.ok()) return call.status();
    const Json* j = &call->request;
    const auto* found = &call->twin;
    const LiveTwin& live = *found->second;
    const ForecastRequest* r = &call->options;
    auto regimen = RegimenFrom(j->value("regimen", Json::array()), live, "regimen");
    if (!regimen.ok()) return regimen.status();
    auto fc = ForecastJson(live, *r, *regimen);
    if (!fc.ok()) return fc.status();
    (*fc)["patient"] = live.doc.config.patient;
    (*fc)["model"] = live.doc.config.model;
    (*fc)["revision"] = found->first.revision;
    return fc->dump();
  }

  Result<std::string> WhatIf(const std::string& patient, const std::string& model,
                             std::string_view request) override {
    auto call =
        PrepareForecast(patient, model, request, "regimens", {"window_h", "targets", "metrics"});
    if (!call.ok()) return call.status();
    const Json* j = &call->request;
    const auto* found = &call->twin;
    const LiveTwin& live = *found->second;
    const ForecastRequest* r = &call->options;
    if (!j->contains("regimens") || !(*j)["regimens"].is_object() || (*j)["regimens"].empty()) {
      return Status::Invalid(
          "regimens: required, an object of named regimens, e.g. "
          "{\"current\": [], \"q8h\": [{\"after_h\": 0, \"amount\": 1000}]}");
    }
    if ((*j)["regimens"].size() > 20) return Status::Invalid("regimens: at most 20");
    // Optional exposure over a window [a, b] h from now, with targets and metrics.
    auto metrics = TargetsFrom(*j);
    if (!metrics.ok()) return metrics.status();
    WhatIfOptions wo;
    const bool exposure = j->contains("window_h");
    if (!exposure && !metrics->empty()) {
      return Status::Invalid(
          "window_h: required with targets or metrics, e.g. [24, 48] (h from now)");
    }
    if (exposure) {
      auto w = Numbers(*j, "window_h", {});
      if (!w.ok()) return w.status();
      if (w->size() != 2) return Status::Invalid("window_h: expected [start, end] in h from now");
      wo.window_start_h = (*w)[0];
      wo.window_end_h = (*w)[1];
      wo.draws = r->options.draws;
      wo.seed = r->options.seed;
      wo.sim = r->options.sim;
      if (metrics->empty()) {
        for (const char* m : {"auc24", "trough", "peak"}) metrics->push_back(*MetricFromString(m));
      }
    }
    std::vector<std::pair<std::string, std::vector<TwinEvent>>> regimens;
    for (const auto& [name, events] : (*j)["regimens"].items()) {
      auto regimen = RegimenFrom(events, live, "regimens." + name);
      if (!regimen.ok()) return regimen.status();
      regimens.emplace_back(name, std::move(regimen).value());
    }
    std::vector<RegimenExposure> exposures;
    if (exposure) {
      auto e = live.twin->CompareRegimens(regimens, *metrics, wo);
      if (!e.ok()) return e.status();
      exposures = std::move(e).value();
    }
    Json out = Json::array();
    for (size_t i = 0; i < regimens.size(); ++i) {
      const std::string& name = regimens[i].first;
      const auto* regimen = &regimens[i].second;
      auto fc = ForecastJson(live, *r, *regimen);
      if (!fc.ok()) return fc.status().WithContext("regimen " + name);
      // Per observable: the median's lowest, highest and last value over the horizon.
      Json summary = Json::object();
      for (auto& [obs, o] : (*fc)["observables"].items()) {
        const Json& median = o.contains("p50") ? o["p50"] : Json::array();
        if (median.empty()) continue;
        std::vector<double> m = median.get<std::vector<double>>();
        summary[obs] = {{"median_min", *std::min_element(m.begin(), m.end())},
                        {"median_max", *std::max_element(m.begin(), m.end())},
                        {"median_last", m.back()}};
      }
      Json item = {{"name", name}, {"summary", summary}, {"forecast", *fc}};
      if (exposure) item["exposure"] = ExposureJson(exposures[i], *metrics);
      out.push_back(item);
    }
    Json reply = {{"patient", live.doc.config.patient},
                  {"model", live.doc.config.model},
                  {"revision", found->first.revision},
                  {"regimens", out}};
    if (exposure) {
      const double now = live.twin->last_time();
      reply["window"] = {{"start", live.IsoAt(now + wo.window_start_h)},
                         {"end", live.IsoAt(now + wo.window_end_h)}};
    }
    return reply.dump();
  }

  Result<std::string> Dose(const std::string& patient, const std::string& model,
                           std::string_view request) override {
    auto j = ParseRequest(
        request, {"targets", "amounts", "amount_min", "amount_max", "intervals_h", "durations_h",
                  "loading", "after_h", "day", "draws", "seed", "min_pta", "top"});
    if (!j.ok()) return j.status();
    auto found = Find(patient, model);
    if (!found.ok()) return found.status();
    const LiveTwin& live = *found->second;
    if (live.model->spec().time_unit != "h") {
      return Status::Unsupported("dose recommendations are made for models timed in hours; " +
                                 model + " is timed in " + live.model->spec().time_unit);
    }
    if (!j->contains("targets")) {
      return Status::Invalid("targets: required, e.g. [\"auc24=400..600\", \"trough<=20\"]");
    }
    auto parsed_targets = TargetsFrom(*j);
    if (!parsed_targets.ok()) return parsed_targets.status();
    const std::vector<Target>& targets = *parsed_targets;
    DoseSearchSpace space;
    auto amounts = Numbers(*j, "amounts", {});
    if (!amounts.ok()) return amounts.status();
    space.amounts = *amounts;
    auto lo = Number(*j, "amount_min", 0, 0, 1e9), hi = Number(*j, "amount_max", 0, 0, 1e9);
    if (!lo.ok()) return lo.status();
    if (!hi.ok()) return hi.status();
    space.amount_min = *lo;
    space.amount_max = *hi;
    if (space.amounts.empty() && !(space.amount_max > space.amount_min && space.amount_min > 0)) {
      return Status::Invalid(
          "amounts: give the allowed amounts, e.g. [500, 750, 1000], or "
          "amount_min and amount_max");
    }
    auto intervals = Numbers(*j, "intervals_h", space.intervals_h);
    if (!intervals.ok()) return intervals.status();
    space.intervals_h = *intervals;
    auto durations = Numbers(*j, "durations_h", space.durations_h);
    if (!durations.ok()) return durations.status();
    space.durations_h = *durations;
    if (j->contains("loading")) {
      if (!(*j)["loading"].is_boolean()) return Status::Invalid("loading: must be true or false");
      space.loading = (*j)["loading"].get<bool>();
    }
    auto after = Number(*j, "after_h", 0, 0, 1e4);
    if (!after.ok()) return after.status();
    space.start_h = live.twin->last_time() + *after;
    auto day = Number(*j, "day", 0, 0, 365);
    if (!day.ok()) return day.status();
    space.day = static_cast<int>(*day);
    DoseOptions o;
    auto draws = Number(*j, "draws", 500, 1, 10'000);
    if (!draws.ok()) return draws.status();
    o.draws = static_cast<int>(*draws);
    auto seed = Number(*j, "seed", 1, 0, 9.0e15);
    if (!seed.ok()) return seed.status();
    o.seed = static_cast<uint64_t>(*seed);
    auto min_pta = Number(*j, "min_pta", o.min_pta, 0, 1);
    if (!min_pta.ok()) return min_pta.status();
    o.min_pta = *min_pta;
    auto top = Number(*j, "top", 5, 1, 100);
    if (!top.ok()) return top.status();
    o.top = static_cast<int>(*top);
    // The draws of the filter's current posterior; the record is simulated from its start.
    auto post = live.twin->Posterior(o.draws, o.seed);
    if (!post.ok()) return post.status();
    post->states.clear();
    post->start_record = -1;
    auto summary = OptimizeDose(*live.model, live.twin->record(), 0, *post, targets, space, o);
    if (!summary.ok()) return summary.status();
    Json best = Json::array();
    for (const CandidateResult& c : summary->best) {
      best.push_back({{"regimen", c.regimen.ToString()},
                      {"amount", c.regimen.amount},
                      {"interval_h", c.regimen.interval_h},
                      {"duration_h", c.regimen.duration_h},
                      {"loading", c.regimen.loading},
                      {"pta", c.pta},
                      {"target_pta", c.target_pta},
                      {"median", c.median}});
    }
    Json target_text = Json::array();
    for (const Target& t : targets) target_text.push_back(t.ToString());
    return Json{
        {"patient", live.doc.config.patient},
        {"model", live.doc.config.model},
        {"revision", found->first.revision},
        {"start", live.IsoAt(space.start_h)},
        {"targets", target_text},
        {"best", best},
        {"candidates", summary->candidates},
        {"window", {live.IsoAt(summary->window_start_h), live.IsoAt(summary->window_end_h)}}}
        .dump();
  }

  Result<std::string> Alerts(const std::string& patient, const std::string& model, int64_t after,
                             int limit) override {
    std::string id;
    if (!patient.empty()) {
      auto p = PatientId(patient);
      if (!p.ok()) return p.status();
      id = *p;
    }
    if (limit < 1 || limit > 1000) return Status::Invalid("_count: must be within 1..1000");
    Json out = Json::array();
    std::map<std::pair<std::string, std::string>, std::optional<LiveClock>> clocks;
    int64_t cursor = after;
    // Filtering by model happens here, so read until a page is full or the alerts run out.
    while (static_cast<int>(out.size()) < limit) {
      auto rows = store_->Alerts(id, cursor, limit);
      if (!rows.ok()) return rows.status();
      for (const AlertRow& a : *rows) {
        cursor = a.id;
        if (!model.empty() && a.model != model) continue;
        auto& clock = clocks[{a.patient, a.model}];
        if (!clock) clock = ClockOf(a.patient, a.model);
        Json j = {{"id", a.id},       {"patient", a.patient},
                  {"model", a.model}, {"observable", a.observable},
                  {"kind", a.kind},   {"score", a.score},
                  {"time", a.time},   {"created", IsoUtc(a.created / 1000)}};
        if (clock->ms_per_unit > 0) {
          j["at"] = IsoUtc(clock->origin_ms +
                           static_cast<int64_t>(std::llround(a.time * clock->ms_per_unit)));
        }
        out.push_back(j);
        if (static_cast<int>(out.size()) == limit) break;
      }
      if (static_cast<int>(rows->size()) < limit) break;
    }
    return Json{{"alerts", out}, {"next", cursor}}.dump();
  }

  std::vector<TwinNotice> Events(int64_t after, const std::string& patient,
                                 std::chrono::milliseconds wait) override {
    std::unique_lock lock(events_mu_);
    std::vector<TwinNotice> out;
    const auto deadline = Clock::now() + wait;
    while (true) {
      for (const TwinNotice& n : events_) {
        if (n.seq > after && (patient.empty() || n.patient == patient)) out.push_back(n);
      }
      if (!out.empty() || Stopping()) return out;
      if (events_cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        for (const TwinNotice& n : events_) {
          if (n.seq > after && (patient.empty() || n.patient == patient)) out.push_back(n);
        }
        return out;
      }
    }
  }

  int64_t LastEventSeq() override {
    std::lock_guard lock(events_mu_);
    return event_seq_;
  }

  Status Drain(std::chrono::milliseconds timeout) override {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      auto pending = store_->PendingJobs();
      if (!pending.ok()) return pending.status();
      if (*pending == 0) return Status::Ok();
      if (Clock::now() > deadline) {
        return Status::Unavailable(std::to_string(*pending) + " twin jobs still pending");
      }
      Wake();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  TwinServiceCounters counters() const override {
    std::lock_guard lock(counters_mu_);
    return counters_;
  }

 private:
  // What a forecast or what-if request starts from: the request (checked for known fields,
  // `regimen_key` being its regimen field), the twin and the forecast options.
  struct ForecastCall {
    Json request;
    std::pair<TwinRow, std::unique_ptr<LiveTwin>> twin;
    ForecastRequest options;
  };
  Result<ForecastCall> PrepareForecast(const std::string& patient, const std::string& model,
                                       std::string_view request, const char* regimen_key,
                                       std::vector<std::string> extra_keys = {}) {
    extra_keys.insert(extra_keys.end(), {"horizon_h", "step_h", regimen_key, "percentiles", "draws",
                                         "seed", "interval"});
    auto j = ParseRequest(request, extra_keys);
    if (!j.ok()) return j.status();
    auto found = Find(patient, model);
    if (!found.ok()) return found.status();
    auto r = ForecastRequestFrom(*j, *found->second);
    if (!r.ok()) return r.status();
    return ForecastCall{std::move(j).value(), std::move(found).value(), std::move(r).value()};
  }

  struct LiveClock {
    int64_t origin_ms = 0;
    double ms_per_unit = 0.0;  // 0: unknown (the twin is gone)
  };

  LiveClock ClockOf(const std::string& patient, const std::string& model) {
    auto row = store_->ReadTwin(patient, model);
    if (!row.ok() || !row->has_value()) return {};
    auto doc = DocFromJson((*row)->snapshot);
    auto m = MakeModel(model);
    if (!doc.ok() || !m.ok()) return {};
    auto per = MsPerTimeUnit((*m)->spec());
    return {doc->origin_ms, per.ok() ? *per : 0.0};
  }

  bool Stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  Result<std::pair<TwinRow, std::unique_ptr<LiveTwin>>> Find(const std::string& patient,
                                                             const std::string& model) {
    auto id = PatientId(patient);
    if (!id.ok()) return id.status();
    auto row = store_->ReadTwin(*id, model);
    if (!row.ok()) return row.status();
    if (!row->has_value()) {
      return Status::NotFound("no twin of Patient/" + *id + " with model " + model);
    }
    auto live = Load(**row);
    if (!live.ok()) return live.status();
    return std::make_pair(**row, std::move(live).value());
  }

  // Stores the twins' new revisions (and completes `job_id`) in one transaction, then tells
  // the event stream.
  Result<std::vector<TwinRow>> Commit(Store* store, const std::vector<LiveTwin*>& twins,
                                      int64_t job_id) {
    std::vector<TwinCommit> commits;
    for (LiveTwin* live : twins) {
      live->doc.twin = live->twin->Snapshot();
      TwinCommit c;
      c.twin.patient = live->doc.config.patient;
      c.twin.model = live->doc.config.model;
      c.twin.snapshot = DocJson(live->doc);
      c.expected_revision = live->revision;
      c.alerts = live->alerts;
      commits.push_back(std::move(c));
    }
    auto rows = store->CommitTwinUpdates(commits, job_id);
    if (!rows.ok()) return rows.status();
    for (size_t i = 0; i < twins.size(); ++i) Publish(*twins[i], (*rows)[i]);
    return rows;
  }

  void Publish(const LiveTwin& live, const TwinRow& row) {
    // The observations this revision took in (the latest 50 of a long catch-up) and its alerts.
    Json steps = Json::array();
    const size_t n = live.steps.size(), from = n > 50 ? n - 50 : 0;
    for (size_t i = from; i < n; ++i) steps.push_back(live.steps[i]);
    Json alerts = Json::array();
    for (const AlertRow& a : live.alerts) {
      alerts.push_back({{"observable", a.observable},
                        {"kind", a.kind},
                        {"score", a.score},
                        {"time", a.time},
                        {"at", live.IsoAt(a.time)}});
    }
    const Json j = {{"patient", row.patient},   {"model", row.model},
                    {"revision", row.revision}, {"now", live.IsoAt(live.twin->last_time())},
                    {"observations_taken", n},  {"observations", steps},
                    {"alerts", alerts}};
    {
      std::lock_guard lock(events_mu_);
      events_.push_back({++event_seq_, row.patient, row.model, j.dump()});
      while (events_.size() > kMaxEventsKept) events_.pop_front();
    }
    events_cv_.notify_all();
    std::lock_guard lock(counters_mu_);
    ++counters_.twin_updates;
  }

  // Brings one twin up to date with one stored resource (absent: deleted). Returns whether the
  // twin changed.
  Result<bool> Sync(Store* store, std::unique_ptr<LiveTwin>* live, const std::string& key,
                    const StoredResource* resource) {
    LiveTwin& t = **live;
    auto it = t.doc.applied.find(key);
    bool rebuild = false;
    if (resource == nullptr || resource->deleted) {
      if (it == t.doc.applied.end()) return false;
      rebuild = true;
    } else if (it != t.doc.applied.end()) {
      if (it->second >= resource->version) return false;
      rebuild = true;  // a corrected version
    } else {
      auto inputs = TwinInputs(map_, t.model->spec(), resource->type, resource->json);
      if (!inputs.ok()) {
        t.Skip(key, inputs.status().message());
        t.doc.applied[key] = resource->version;
        return true;
      }
      if (inputs->empty()) return false;
      t.doc.applied[key] = resource->version;
      SortInputs(&*inputs);
      rebuild = !TakeIn(&t, *inputs);
    }
    if (rebuild) {
      auto rebuilt = Build(store, map_, t.doc.config, &t);
      if (!rebuilt.ok()) return rebuilt.status();
      *live = std::move(rebuilt).value();
      std::lock_guard lock(counters_mu_);
      ++counters_.rebuilds;
    }
    return true;
  }

  // Takes in every resource of the patient the twin has not seen (after creation).
  Result<bool> SyncAll(Store* store, const std::string& patient, const std::string& model) {
    for (int attempt = 0; attempt < kMaxCommitAttempts; ++attempt) {
      auto row = store->ReadTwin(patient, model);
      if (!row.ok()) return row.status();
      if (!row->has_value()) return false;
      auto live = Load(**row);
      if (!live.ok()) return live.status();
      bool changed = false;
      for (const char* type : {"Observation", "MedicationAdministration"}) {
        auto resources = PatientResources(store, type, patient);
        if (!resources.ok()) return resources.status();
        for (const StoredResource& r : *resources) {
          auto c = Sync(store, &*live, r.type + "/" + r.id, &r);
          if (!c.ok()) return c.status();
          changed |= *c;
        }
      }
      if (!changed) return false;
      auto done = Commit(store, {live->get()}, 0);
      if (done.ok()) return true;
      if (done.status().code() != StatusCode::kConflict) return done.status();
    }
    return Status::Unavailable("twin " + patient + "/" + model + " kept changing; try again");
  }

  // One twin-update job: every twin of the patient takes in the resource the job names.
  Status RunJob(Store* store, const Job& job) {
    if (job.kind != "twin-update") return store->FailJob(job.id, "unknown job kind " + job.kind);
    const std::string patient = job.key.rfind("Patient/", 0) == 0 ? job.key.substr(8) : job.key;
    const size_t slash = job.payload.find('/');
    if (slash == std::string::npos) {
      return store->FailJob(job.id, "payload '" + job.payload + "' is not Type/id");
    }
    for (int attempt = 0; attempt < kMaxCommitAttempts; ++attempt) {
      auto rows = store->ListTwins(patient);
      if (!rows.ok()) return rows.status();
      if (rows->empty()) return store->CompleteJob(job.id);
      auto resource = store->Read(job.payload.substr(0, slash), job.payload.substr(slash + 1));
      if (!resource.ok() && resource.status().code() != StatusCode::kNotFound) {
        return resource.status();
      }
      std::vector<std::unique_ptr<LiveTwin>> changed;
      for (const TwinRow& row : *rows) {
        auto live = Load(row);
        if (!live.ok()) return store->FailJob(job.id, live.status().ToString());
        auto c = Sync(store, &*live, job.payload, resource.ok() ? &*resource : nullptr);
        if (!c.ok()) return store->FailJob(job.id, c.status().ToString());
        if (*c) changed.push_back(std::move(live).value());
      }
      if (changed.empty()) return store->CompleteJob(job.id);
      std::vector<LiveTwin*> twins;
      for (auto& c : changed) twins.push_back(c.get());
      auto done = Commit(store, twins, job.id);
      if (done.ok()) return Status::Ok();
      if (done.status().code() != StatusCode::kConflict) return done.status();
      std::lock_guard lock(counters_mu_);
      ++counters_.jobs_retried;
    }
    return Status::Unavailable("job " + std::to_string(job.id) + ": twins kept changing");
  }

  // Claims jobs in batches (one transaction for up to 64): those of patients without twins are
  // completed together in one more; the others run one by one (each its own commit), in order.
  // Few write transactions per datum, so ingest is not starved of the database.
  void WorkLoop(int index) {
    Store* store = worker_stores_[index].get();
    const std::string& name = worker_names_[index];
    while (!Stopping()) {
      auto jobs = store->ClaimJobs(name, 64);
      if (jobs.ok() && !jobs->empty()) {
        const auto start = Clock::now();
        std::vector<int64_t> nothing_to_do;
        std::map<std::string, bool> has_twins;  // by key, for this batch
        for (const Job& job : *jobs) {
          if (Stopping()) break;  // the rest are released at the next start or by lease
          auto known = has_twins.find(job.key);
          if (known == has_twins.end()) {
            const std::string patient =
                job.key.rfind("Patient/", 0) == 0 ? job.key.substr(8) : job.key;
            auto twins = store->ListTwins(patient);
            known = has_twins.emplace(job.key, !twins.ok() || !twins->empty()).first;
          }
          if (job.kind == "twin-update" && !known->second) {
            nothing_to_do.push_back(job.id);
            continue;
          }
          // A job that fails on a storage error stays claimed and is retried after its lease.
          (void)RunJob(store, job);
        }
        if (!nothing_to_do.empty()) (void)store->CompleteJobs(nothing_to_do);
        std::lock_guard lock(counters_mu_);
        counters_.jobs_done += static_cast<int64_t>(jobs->size());
        counters_.job_seconds += std::chrono::duration<double>(Clock::now() - start).count();
        continue;
      }
      std::unique_lock lock(mu_);
      const int64_t seen = wakeups_;
      wake_.wait_for(lock, std::chrono::milliseconds(options_.idle_poll_ms),
                     [&] { return stopping_ || wakeups_ != seen; });
    }
  }

  Store* store_;
  TwinServiceOptions options_;
  const fhir::ObservationMap& map_;
  std::vector<std::unique_ptr<Store>> worker_stores_;
  std::vector<std::string> worker_names_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  int64_t wakeups_ = 0;
  std::mutex events_mu_;
  std::condition_variable events_cv_;
  std::deque<TwinNotice> events_;
  int64_t event_seq_ = 0;
  mutable std::mutex counters_mu_;
  TwinServiceCounters counters_;
};

}  // namespace

Status TwinServiceOptions::Validate() const {
  if (db.empty()) return Status::Invalid("twin service: db is empty");
  if (workers < 0 || workers > 64) return Status::Invalid("twin workers: must be within 0..64");
  if (idle_poll_ms < 1) return Status::Invalid("twin idle_poll_ms: must be >= 1");
  return Status::Ok();
}

Result<std::unique_ptr<TwinService>> TwinService::Start(Store* store, const TwinServiceOptions& o) {
  MEDTWIN_RETURN_IF_ERROR(o.Validate());
  auto s = std::make_unique<Service>(store, o);
  MEDTWIN_RETURN_IF_ERROR(s->StartWorkers());
  return std::unique_ptr<TwinService>(std::move(s));
}

}  // namespace medtwin::server
