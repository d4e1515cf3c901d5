// Loading and checking the observation map (format: docs/fhir.md, data:
// data/fhir/observation-map.json).
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "fhir/json_input.h"
#include "medtwin/fhir_map.h"

namespace medtwin::fhir {
namespace internal {
extern const char kObservationMapJson[];  // generated from data/fhir/observation-map.json
}

namespace {

// Reads the table with error messages that name the JSON path.
class MapReader {
 public:
  Status CheckKeys(const Json& obj, const std::string& at, std::set<std::string> allowed) {
    if (!obj.is_object()) return Status::Invalid(at + ": expected an object");
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (!allowed.count(it.key())) return Status::Invalid(at + ": unknown key '" + it.key() + "'");
    }
    return Status::Ok();
  }
  Status String(const Json& obj, const char* key, const std::string& at, bool required,
                std::string* out) {
    auto it = obj.find(key);
    if (it == obj.end()) {
      return required ? Status::Invalid(at + "." + key + ": required") : Status::Ok();
    }
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      return Status::Invalid(at + "." + key + ": expected a non-empty string");
    }
    *out = it->get<std::string>();
    return Status::Ok();
  }
  Status Number(const Json& obj, const char* key, const std::string& at, double* out) {
    auto it = obj.find(key);
    if (it == obj.end()) return Status::Ok();
    if (!it->is_number() || !std::isfinite(it->get<double>())) {
      return Status::Invalid(at + "." + key + ": expected a finite number");
    }
    *out = it->get<double>();
    return Status::Ok();
  }
  Status Array(const Json& obj, const char* key, const std::string& at, const Json** out) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_array()) {
      return Status::Invalid(at + "." + key + ": expected an array");
    }
    *out = &*it;
    return Status::Ok();
  }
  Status Code(const Json& j, const std::string& at, CodeRule* out) {
    MEDTWIN_RETURN_IF_ERROR(CheckKeys(j, at, {"system", "code", "display", "variant"}));
    MEDTWIN_RETURN_IF_ERROR(String(j, "system", at, true, &out->system));
    MEDTWIN_RETURN_IF_ERROR(String(j, "code", at, true, &out->code));
    MEDTWIN_RETURN_IF_ERROR(String(j, "display", at, false, &out->display));
    return String(j, "variant", at, false, &out->variant);
  }
  Status Feeds(const Json& obj, const std::string& at, std::vector<Feed>* out) {
    const Json* feeds = nullptr;
    MEDTWIN_RETURN_IF_ERROR(Array(obj, "feeds", at, &feeds));
    for (size_t i = 0; i < feeds->size(); ++i) {
      const std::string p = at + ".feeds[" + std::to_string(i) + "]";
      const Json& f = (*feeds)[i];
      MEDTWIN_RETURN_IF_ERROR(CheckKeys(f, p, {"model", "observable", "covariate"}));
      Feed feed;
      MEDTWIN_RETURN_IF_ERROR(String(f, "model", p, true, &feed.model));
      MEDTWIN_RETURN_IF_ERROR(String(f, "observable", p, false, &feed.observable));
      MEDTWIN_RETURN_IF_ERROR(String(f, "covariate", p, false, &feed.covariate));
      if (feed.observable.empty() == feed.covariate.empty()) {
        return Status::Invalid(p + ": give exactly one of observable and covariate");
      }
      out->push_back(std::move(feed));
    }
    return Status::Ok();
  }
  Status Unit(const Json& j, const std::string& at, UnitRule* out) {
    MEDTWIN_RETURN_IF_ERROR(CheckKeys(j, at, {"unit", "scale", "offset", "variant", "source"}));
    MEDTWIN_RETURN_IF_ERROR(String(j, "unit", at, true, &out->unit));
    MEDTWIN_RETURN_IF_ERROR(Number(j, "scale", at, &out->scale));
    MEDTWIN_RETURN_IF_ERROR(Number(j, "offset", at, &out->offset));
    if (!(out->scale > 0)) return Status::Invalid(at + ".scale: must be > 0");
    MEDTWIN_RETURN_IF_ERROR(String(j, "variant", at, false, &out->variant));
    return String(j, "source", at, false, &out->source);
  }
  Status Name(const Json& j, const std::string& at, std::string* out);
  Status CodesAndUnits(const Json& j, const std::string& at, const std::string& canonical_unit,
                       std::vector<CodeRule>* codes, std::vector<UnitRule>* units);
  Status Quantity(const Json& j, const std::string& at, MappedQuantity* q);
  Status PatientCov(const Json& j, const std::string& at, PatientCovariate* c);
  Status MedicationFeeds(const Json& j, const std::string& at, std::vector<MedicationFeed>* out);
  Status Medication(const Json& j, const std::string& at, MappedMedication* m);
};

Status MapReader::Name(const Json& j, const std::string& at, std::string* out) {
  MEDTWIN_RETURN_IF_ERROR(String(j, "name", at, true, out));
  for (char c : *out) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      return Status::Invalid(at + ".name: '" + *out + "' must match [a-z0-9_]+");
    }
  }
  return Status::Ok();
}

// The codes and units of a quantity or medication: at least one code, each unit once, the
// canonical unit among them with scale 1, offset 0 and no variant.
Status MapReader::CodesAndUnits(const Json& j, const std::string& at,
                                const std::string& canonical_unit, std::vector<CodeRule>* codes,
                                std::vector<UnitRule>* units) {
  const Json* jcodes = nullptr;
  const Json* junits = nullptr;
  MEDTWIN_RETURN_IF_ERROR(Array(j, "codes", at, &jcodes));
  MEDTWIN_RETURN_IF_ERROR(Array(j, "units", at, &junits));
  if (jcodes->empty()) return Status::Invalid(at + ".codes: needs at least one code");
  for (size_t i = 0; i < jcodes->size(); ++i) {
    MEDTWIN_RETURN_IF_ERROR(
        Code((*jcodes)[i], at + ".codes[" + std::to_string(i) + "]", &codes->emplace_back()));
  }
  std::set<std::string> seen;
  const UnitRule* canonical = nullptr;
  for (size_t i = 0; i < junits->size(); ++i) {
    const std::string p = at + ".units[" + std::to_string(i) + "]";
    UnitRule& u = units->emplace_back();
    MEDTWIN_RETURN_IF_ERROR(Unit((*junits)[i], p, &u));
    if (!seen.insert(u.unit).second) return Status::Invalid(p + ": unit '" + u.unit + "' twice");
  }
  for (const UnitRule& u : *units) {
    if (u.unit == canonical_unit) canonical = &u;
  }
  if (canonical == nullptr || canonical->scale != 1.0 || canonical->offset != 0.0 ||
      !canonical->variant.empty()) {
    return Status::Invalid(at + ".canonical_unit: '" + canonical_unit +
                           "' must be listed in units with scale 1, offset 0 and no variant");
  }
  return Status::Ok();
}

Status MapReader::Quantity(const Json& j, const std::string& at, MappedQuantity* q) {
  MEDTWIN_RETURN_IF_ERROR(CheckKeys(
      j, at,
      {"name", "description", "canonical_unit", "range", "source", "codes", "units", "feeds"}));
  MEDTWIN_RETURN_IF_ERROR(Name(j, at, &q->name));
  MEDTWIN_RETURN_IF_ERROR(String(j, "description", at, false, &q->description));
  MEDTWIN_RETURN_IF_ERROR(String(j, "canonical_unit", at, true, &q->canonical_unit));
  MEDTWIN_RETURN_IF_ERROR(String(j, "source", at, false, &q->source));
  auto range = j.find("range");
  if (range == j.end() || !range->is_array() || range->size() != 2 || !(*range)[0].is_number() ||
      !(*range)[1].is_number() || !((*range)[0].get<double>() < (*range)[1].get<double>())) {
    return Status::Invalid(at + ".range: expected [min, max] with min < max");
  }
  q->min = (*range)[0].get<double>();
  q->max = (*range)[1].get<double>();
  MEDTWIN_RETURN_IF_ERROR(CodesAndUnits(j, at, q->canonical_unit, &q->codes, &q->units));
  return Feeds(j, at, &q->feeds);
}

Status MapReader::PatientCov(const Json& j, const std::string& at, PatientCovariate* c) {
  MEDTWIN_RETURN_IF_ERROR(CheckKeys(j, at, {"name", "element", "unit", "values", "feeds"}));
  MEDTWIN_RETURN_IF_ERROR(String(j, "name", at, true, &c->name));
  MEDTWIN_RETURN_IF_ERROR(String(j, "element", at, true, &c->element));
  MEDTWIN_RETURN_IF_ERROR(String(j, "unit", at, true, &c->unit));
  if (c->element == "gender") {
    auto v = j.find("values");
    if (v == j.end() || !v->is_object() || v->empty()) {
      return Status::Invalid(at + ".values: gender needs a map of codes to numbers");
    }
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->is_number()) return Status::Invalid(at + ".values." + it.key() + ": not a number");
      c->values[it.key()] = it->get<double>();
    }
  } else if (c->element == "birthDate") {
    if (c->unit != "a") return Status::Invalid(at + ".unit: age from birthDate is in 'a' (years)");
  } else {
    return Status::Invalid(at + ".element: '" + c->element + "' (supported: gender, birthDate)");
  }
  return Feeds(j, at, &c->feeds);
}

Status MapReader::MedicationFeeds(const Json& j, const std::string& at,
                                  std::vector<MedicationFeed>* out) {
  const Json* feeds = nullptr;
  MEDTWIN_RETURN_IF_ERROR(Array(j, "feeds", at, &feeds));
  std::set<std::string> models;
  for (size_t i = 0; i < feeds->size(); ++i) {
    const std::string p = at + ".feeds[" + std::to_string(i) + "]";
    const Json& f = (*feeds)[i];
    MEDTWIN_RETURN_IF_ERROR(CheckKeys(f, p, {"model", "compartment", "time_unit"}));
    MedicationFeed& feed = out->emplace_back();
    MEDTWIN_RETURN_IF_ERROR(String(f, "model", p, true, &feed.model));
    MEDTWIN_RETURN_IF_ERROR(String(f, "compartment", p, true, &feed.compartment));
    MEDTWIN_RETURN_IF_ERROR(String(f, "time_unit", p, true, &feed.time_unit));
    if (feed.time_unit != "s" && feed.time_unit != "min" && feed.time_unit != "h" &&
        feed.time_unit != "d") {
      return Status::Invalid(p + ".time_unit: '" + feed.time_unit + "' (expected s, min, h or d)");
    }
    if (!models.insert(feed.model).second) {
      return Status::Invalid(p + ".model: '" + feed.model + "' is fed twice");
    }
  }
  return Status::Ok();
}

Status MapReader::Medication(const Json& j, const std::string& at, MappedMedication* m) {
  MEDTWIN_RETURN_IF_ERROR(CheckKeys(
      j, at, {"name", "description", "canonical_unit", "source", "codes", "units", "feeds"}));
  MEDTWIN_RETURN_IF_ERROR(Name(j, at, &m->name));
  MEDTWIN_RETURN_IF_ERROR(String(j, "description", at, false, &m->description));
  MEDTWIN_RETURN_IF_ERROR(String(j, "canonical_unit", at, true, &m->canonical_unit));
  MEDTWIN_RETURN_IF_ERROR(String(j, "source", at, false, &m->source));
  MEDTWIN_RETURN_IF_ERROR(CodesAndUnits(j, at, m->canonical_unit, &m->codes, &m->units));
  for (size_t i = 0; i < m->units.size(); ++i) {
    if (m->units[i].offset != 0.0) {
      return Status::Invalid(at + ".units[" + std::to_string(i) +
                             "].offset: dose amounts convert by a factor only");
    }
  }
  return MedicationFeeds(j, at, &m->feeds);
}

const UnitRule* FindUnitIn(const std::vector<UnitRule>& units, std::string_view unit) {
  for (const UnitRule& u : units) {
    if (u.unit == unit) return &u;
  }
  return nullptr;
}

std::string UnitListOf(const std::vector<UnitRule>& units) {
  std::string s;
  for (const UnitRule& u : units) s += (s.empty() ? "" : ", ") + u.unit;
  return s;
}

// The optional "medications" section: unique names, each code in one medication only.
Status ReadMedications(MapReader& r, const Json& j, std::vector<MappedMedication>* out) {
  if (!j.contains("medications")) return Status::Ok();
  const Json* meds = nullptr;
  MEDTWIN_RETURN_IF_ERROR(r.Array(j, "medications", "map", &meds));
  std::set<std::string> names, codes;
  for (size_t i = 0; i < meds->size(); ++i) {
    const std::string at = "map.medications[" + std::to_string(i) + "]";
    MappedMedication& m = out->emplace_back();
    MEDTWIN_RETURN_IF_ERROR(r.Medication((*meds)[i], at, &m));
    if (!names.insert(m.name).second) return Status::Invalid(at + ".name: '" + m.name + "' twice");
    for (const CodeRule& c : m.codes) {
      if (!codes.insert(c.system + "|" + c.code).second) {
        return Status::Invalid(at + ": code " + c.system + "|" + c.code + " is mapped twice");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

const UnitRule* MappedMedication::FindUnit(std::string_view unit) const {
  return FindUnitIn(units, unit);
}

std::string MappedMedication::UnitList() const { return UnitListOf(units); }

const MedicationFeed* MappedMedication::FindFeed(std::string_view model) const {
  for (const MedicationFeed& f : feeds) {
    if (f.model == model) return &f;
  }
  return nullptr;
}

const UnitRule* MappedQuantity::FindUnit(std::string_view unit) const {
  return FindUnitIn(units, unit);
}

std::string MappedQuantity::UnitList() const { return UnitListOf(units); }

void ObservationMap::BuildIndex() {
  index_.clear();
  for (size_t q = 0; q < quantities_.size(); ++q) {
    for (size_t c = 0; c < quantities_[q].codes.size(); ++c) {
      const CodeRule& r = quantities_[q].codes[c];
      index_[r.system + "|" + r.code] = {static_cast<int>(q), static_cast<int>(c)};
    }
  }
  medication_index_.clear();
  for (size_t m = 0; m < medications_.size(); ++m) {
    for (const CodeRule& r : medications_[m].codes) {
      medication_index_[r.system + "|" + r.code] = static_cast<int>(m);
    }
  }
}

Result<ObservationMap> ObservationMap::FromJson(std::string_view json) {
  OperationOutcome parse;
  std::optional<Json> doc = ParseJson(json, size_t{16} << 20, 64, "observation map", &parse);
  if (!doc) return Status::Invalid(parse.FirstError());
  MapReader r;
  const Json& j = *doc;
  MEDTWIN_RETURN_IF_ERROR(r.CheckKeys(j, "map",
                                      {"format", "version", "description", "quantities", "panels",
                                       "patient_covariates", "medications"}));
  std::string format;
  MEDTWIN_RETURN_IF_ERROR(r.String(j, "format", "map", true, &format));
  if (format != "medtwin-observation-map") {
    return Status::Invalid("map.format: expected 'medtwin-observation-map', found '" + format +
                           "'");
  }
  if (!j.contains("version") || j["version"] != 1) {
    return Status::Invalid("map.version: only version 1 is understood");
  }
  ObservationMap map;
  const Json* quantities = nullptr;
  MEDTWIN_RETURN_IF_ERROR(r.Array(j, "quantities", "map", &quantities));
  std::set<std::string> names, codes;
  for (size_t i = 0; i < quantities->size(); ++i) {
    const std::string at = "map.quantities[" + std::to_string(i) + "]";
    MappedQuantity& q = map.quantities_.emplace_back();
    MEDTWIN_RETURN_IF_ERROR(r.Quantity((*quantities)[i], at, &q));
    if (!names.insert(q.name).second) return Status::Invalid(at + ".name: '" + q.name + "' twice");
    for (const CodeRule& c : q.codes) {
      if (!codes.insert(c.system + "|" + c.code).second) {
        return Status::Invalid(at + ": code " + c.system + "|" + c.code + " is mapped twice");
      }
    }
  }
  if (j.contains("panels")) {
    const Json* panels = nullptr;
    MEDTWIN_RETURN_IF_ERROR(r.Array(j, "panels", "map", &panels));
    for (size_t i = 0; i < panels->size(); ++i) {
      MEDTWIN_RETURN_IF_ERROR(r.Code((*panels)[i], "map.panels[" + std::to_string(i) + "]",
                                     &map.panels_.emplace_back()));
    }
  }
  if (j.contains("patient_covariates")) {
    const Json* covs = nullptr;
    MEDTWIN_RETURN_IF_ERROR(r.Array(j, "patient_covariates", "map", &covs));
    for (size_t i = 0; i < covs->size(); ++i) {
      MEDTWIN_RETURN_IF_ERROR(r.PatientCov((*covs)[i],
                                           "map.patient_covariates[" + std::to_string(i) + "]",
                                           &map.patient_.emplace_back()));
    }
  }
  MEDTWIN_RETURN_IF_ERROR(ReadMedications(r, j, &map.medications_));
  map.BuildIndex();
  return map;
}

Result<ObservationMap> ObservationMap::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("observation map '" + path + "': cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  Result<ObservationMap> map = FromJson(text.str());
  if (!map.ok()) return map.status().WithContext(path);
  return map;
}

const ObservationMap& ObservationMap::Default() {
  // The embedded table is checked by fhir_map_test; a broken one fails the build's tests, so
  // an empty map here only guards against aborting at run time.
  static const ObservationMap kDefault = [] {
    Result<ObservationMap> m = FromJson(internal::kObservationMapJson);
    return m.ok() ? std::move(m).value() : ObservationMap();
  }();
  return kDefault;
}

std::optional<ObservationMap::Match> ObservationMap::Find(std::string_view system,
                                                          std::string_view code) const {
  std::string key;
  key.reserve(system.size() + code.size() + 1);
  key.append(system).append("|").append(code);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  const MappedQuantity& q = quantities_[it->second.first];
  return Match{&q, &q.codes[it->second.second]};
}

const CodeRule* ObservationMap::FindPanel(std::string_view system, std::string_view code) const {
  for (const CodeRule& p : panels_) {
    if (p.system == system && p.code == code) return &p;
  }
  return nullptr;
}

const MappedMedication* ObservationMap::FindMedication(std::string_view system,
                                                       std::string_view code) const {
  std::string key;
  key.reserve(system.size() + code.size() + 1);
  key.append(system).append("|").append(code);
  auto it = medication_index_.find(key);
  return it == medication_index_.end() ? nullptr : &medications_[it->second];
}

const MappedQuantity* ObservationMap::FindQuantity(std::string_view name) const {
  for (const MappedQuantity& q : quantities_) {
    if (q.name == name) return &q;
  }
  return nullptr;
}

}  // namespace medtwin::fhir
