#include "fhir/elements.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <vector>

namespace medtwin::fhir {

std::string Path::str() const {
  std::vector<const Path*> chain;
  for (const Path* p = this; p != nullptr; p = p->parent_) chain.push_back(p);
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (!out.empty()) out += '.';
    out.append((*it)->name_);
    if ((*it)->index_ >= 0) out.append("[").append(std::to_string((*it)->index_)).append("]");
  }
  return out;
}

bool Issues::Room() {
  if (count_ < max_) {
    ++count_;
    return true;
  }
  if (count_ == max_) {
    ++count_;
    out_->Add(IssueSeverity::kInformation, IssueType::kInformational, "",
              "more than " + std::to_string(max_) + " issues; the rest are not listed");
  }
  return false;
}

void Issues::Error(IssueType code, const Path& at, std::string diagnostics) {
  ++errors_;
  if (Room()) out_->Error(code, at.str(), std::move(diagnostics));
}

void Issues::Error(IssueType code, const std::string& at, std::string diagnostics) {
  ++errors_;
  if (Room()) out_->Error(code, at, std::move(diagnostics));
}

void Issues::Warning(IssueType code, const Path& at, std::string diagnostics) {
  if (Room()) out_->Warning(code, at.str(), std::move(diagnostics));
}

void Issues::Info(const Path& at, std::string diagnostics) {
  if (Room()) out_->Information(at.str(), std::move(diagnostics));
}

std::string Quoted(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 60; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  if (s.size() > 60) out += "...";
  return out + "'";
}

const char* JsonTypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

namespace {

// The element `key` of `obj` checked to be of JSON type `want`; nullptr when absent or wrong
// (then an error says what was found).
const Json* Typed(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                  Json::value_t want, const char* want_name) {
  auto it = obj.find(key);
  if (it == obj.end()) return nullptr;
  const bool ok = want == Json::value_t::number_float ? it->is_number() : it->type() == want;
  if (!ok) {
    issues.Error(IssueType::kStructure, at.Child(it.key()),
                 std::string("must be ") + want_name + ", found " + JsonTypeName(*it));
    return nullptr;
  }
  return &*it;
}

const Json* Object(const Json& obj, std::string_view key, const Path& at, Issues& issues) {
  return Typed(obj, key, at, issues, Json::value_t::object, "an object");
}

}  // namespace

bool ReadString(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                std::string* out) {
  const Json* j = Typed(obj, key, at, issues, Json::value_t::string, "a string");
  if (j == nullptr) return false;
  *out = j->get_ref<const std::string&>();
  return true;
}

bool ReadBool(const Json& obj, std::string_view key, const Path& at, Issues& issues, bool* out) {
  const Json* j = Typed(obj, key, at, issues, Json::value_t::boolean, "true or false");
  if (j == nullptr) return false;
  *out = j->get<bool>();
  return true;
}

bool ReadNumber(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                std::optional<double>* out) {
  const Json* j = Typed(obj, key, at, issues, Json::value_t::number_float, "a number");
  if (j == nullptr) return false;
  const double v = j->get<double>();
  if (!std::isfinite(v)) {
    issues.Error(IssueType::kValue, at.Child(key), "number out of range");
    return false;
  }
  *out = v;
  return true;
}

bool ReadCode(const Json& obj, std::string_view key, const Path& at, Issues& issues,
              std::initializer_list<const char*> allowed, std::string* out) {
  std::string code;
  if (!ReadString(obj, key, at, issues, &code)) return false;
  for (const char* a : allowed) {
    if (code == a) {
      *out = std::move(code);
      return true;
    }
  }
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  issues.Error(IssueType::kValue, at.Child(key), Quoted(code) + " is not one of: " + list);
  return false;
}

bool ReadDateTime(const Json& obj, std::string_view key, std::string_view kind, const Path& at,
                  Issues& issues, std::optional<DateTime>* out) {
  std::string text;
  if (!ReadString(obj, key, at, issues, &text)) return false;
  Result<DateTime> dt = ParseDateTime(text, kind);
  if (!dt.ok()) {
    issues.Error(IssueType::kValue, at.Child(key), dt.status().message());
    return false;
  }
  *out = std::move(dt).value();
  return true;
}

namespace {

void CodingFrom(const Json& j, const Path& at, Issues& issues, Coding* out) {
  ReadString(j, "system", at, issues, &out->system);
  ReadString(j, "code", at, issues, &out->code);
  ReadString(j, "display", at, issues, &out->display);
}

void CodeableConceptFrom(const Json& j, const Path& at, Issues& issues, CodeableConcept* out) {
  if (const Json* codings = Typed(j, "coding", at, issues, Json::value_t::array, "an array")) {
    out->coding.reserve(codings->size());
    for (size_t i = 0; i < codings->size(); ++i) {
      const Json& c = (*codings)[i];
      const Path p = at.Child("coding", static_cast<int>(i));
      if (!c.is_object()) {
        issues.Error(IssueType::kStructure, p,
                     std::string("must be an object, found ") + JsonTypeName(c));
        continue;
      }
      CodingFrom(c, p, issues, &out->coding.emplace_back());
    }
  }
  ReadString(j, "text", at, issues, &out->text);
}

void QuantityFrom(const Json& j, const Path& at, Issues& issues, Quantity* out) {
  ReadNumber(j, "value", at, issues, &out->value);
  if (j.contains("comparator")) {
    ReadCode(j, "comparator", at, issues, {"<", "<=", ">=", ">"}, &out->comparator);
  }
  ReadString(j, "unit", at, issues, &out->unit);
  ReadString(j, "system", at, issues, &out->system);
  ReadString(j, "code", at, issues, &out->code);
  if (!out->code.empty() && out->system.empty()) {
    issues.Error(
        IssueType::kInvariant, at.Child("system"),
        "qty-3: a Quantity with a unit code needs a system (code " + Quoted(out->code) + ")");
  }
}

void ReferenceFrom(const Json& j, const Path& at, Issues& issues, Reference* out) {
  ReadString(j, "reference", at, issues, &out->reference);
  ReadString(j, "display", at, issues, &out->display);
  if (const Json* id = Object(j, "identifier", at, issues)) {
    const Path p = at.Child("identifier");
    ReadString(*id, "system", p, issues, &out->identifier.system);
    ReadString(*id, "value", p, issues, &out->identifier.value);
  }
}

}  // namespace

bool ReadCoding(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                Coding* out) {
  const Json* j = Object(obj, key, at, issues);
  if (j == nullptr) return false;
  CodingFrom(*j, at.Child(key), issues, out);
  return true;
}

bool ReadCodeableConcept(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                         CodeableConcept* out) {
  const Json* j = Object(obj, key, at, issues);
  if (j == nullptr) return false;
  CodeableConceptFrom(*j, at.Child(key), issues, out);
  return true;
}

// An array of objects at obj[key], each read by `from` into a new element of *out; elements
// that are not objects are errors and skipped.
template <typename T>
bool ReadObjects(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                 std::vector<T>* out, void (*from)(const Json&, const Path&, Issues&, T*)) {
  const Json* arr = Typed(obj, key, at, issues, Json::value_t::array, "an array");
  if (arr == nullptr) return false;
  for (size_t i = 0; i < arr->size(); ++i) {
    const Path p = at.Child(key, static_cast<int>(i));
    if (!(*arr)[i].is_object()) {
      issues.Error(IssueType::kStructure, p, "must be an object");
      continue;
    }
    from((*arr)[i], p, issues, &out->emplace_back());
  }
  return true;
}

bool ReadCodeableConcepts(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                          std::vector<CodeableConcept>* out) {
  return ReadObjects(obj, key, at, issues, out, &CodeableConceptFrom);
}

bool ReadQuantity(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                  Quantity* out) {
  const Json* j = Object(obj, key, at, issues);
  if (j == nullptr) return false;
  QuantityFrom(*j, at.Child(key), issues, out);
  return true;
}

bool ReadRatio(const Json& obj, std::string_view key, const Path& at, Issues& issues, Ratio* out) {
  const Json* j = Object(obj, key, at, issues);
  if (j == nullptr) return false;
  const Path p = at.Child(key);
  ReadQuantity(*j, "numerator", p, issues, &out->numerator);
  ReadQuantity(*j, "denominator", p, issues, &out->denominator);
  return true;
}

bool ReadPeriod(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                Period* out) {
  const Json* j = Object(obj, key, at, issues);
  if (j == nullptr) return false;
  const Path p = at.Child(key);
  ReadDateTime(*j, "start", "dateTime", p, issues, &out->start);
  ReadDateTime(*j, "end", "dateTime", p, issues, &out->end);
  if (out->start && out->end && out->end->epoch_ms < out->start->epoch_ms) {
    issues.Error(IssueType::kInvariant, p,
                 "per-1: end " + out->end->text + " is before start " + out->start->text);
  }
  return true;
}

bool ReadReference(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                   Reference* out) {
  const Json* j = Object(obj, key, at, issues);
  if (j == nullptr) return false;
  ReferenceFrom(*j, at.Child(key), issues, out);
  return true;
}

bool ReadReferences(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                    std::vector<Reference>* out) {
  return ReadObjects(obj, key, at, issues, out, &ReferenceFrom);
}

void ReadIdentifiers(const Json& obj, std::string_view key, std::vector<Identifier>* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return;
  auto one = [out](const Json& j) {
    if (!j.is_object()) return;
    Identifier id;
    if (auto s = j.find("system"); s != j.end() && s->is_string())
      id.system = s->get<std::string>();
    if (auto v = j.find("value"); v != j.end() && v->is_string()) id.value = v->get<std::string>();
    if (!id.value.empty()) out->push_back(std::move(id));
  };
  if (it->is_array()) {
    for (const Json& j : *it) one(j);
  } else {
    one(*it);
  }
}

std::string_view FindChoice(const Json& obj, std::string_view prefix, const Path& at,
                            Issues& issues) {
  std::string_view found;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& k = it.key();
    if (k.size() <= prefix.size() || k.compare(0, prefix.size(), prefix) != 0) continue;
    if (!std::isupper(static_cast<unsigned char>(k[prefix.size()]))) continue;
    if (!found.empty()) {
      issues.Error(
          IssueType::kStructure, at.Child(std::string_view(k)),
          std::string(prefix) + "[x] may appear once; found " + std::string(found) + " and " + k);
      continue;
    }
    found = k;
  }
  return found;
}

void ReadValue(const Json& obj, const Path& at, Issues& issues, Value* out) {
  const std::string_view key = FindChoice(obj, "value", at, issues);
  if (key.empty()) return;
  const std::string_view kind = key.substr(5);
  const Json& j = *obj.find(key);
  const Path p = at.Child(key);
  auto expect = [&](bool ok, const char* what) {
    if (!ok) {
      issues.Error(IssueType::kStructure, p,
                   std::string("must be ") + what + ", found " + JsonTypeName(j));
    }
    return ok;
  };
  if (kind == "Quantity") {
    if (ReadQuantity(obj, key, at, issues, &out->quantity)) out->kind = kind;
  } else if (kind == "CodeableConcept") {
    if (ReadCodeableConcept(obj, key, at, issues, &out->coded)) out->kind = kind;
  } else if (kind == "String" || kind == "Time" || kind == "DateTime") {
    if (expect(j.is_string(), "a string")) {
      out->kind = kind;
      out->text = j.get<std::string>();
    }
  } else if (kind == "Boolean") {
    if (expect(j.is_boolean(), "true or false")) {
      out->kind = kind;
      out->number = j.get<bool>() ? 1.0 : 0.0;
    }
  } else if (kind == "Integer") {
    if (expect(j.is_number_integer(), "an integer")) {
      out->kind = kind;
      out->number = j.get<double>();
    }
  } else if (kind == "Range" || kind == "Ratio" || kind == "SampledData" || kind == "Period") {
    if (expect(j.is_object(), "an object")) out->kind = kind;
  } else {
    issues.Error(IssueType::kStructure, p,
                 "unknown value[x] type " + Quoted(kind) +
                     " (R4: Quantity, CodeableConcept, String, Boolean, Integer, Range, Ratio, "
                     "SampledData, Time, DateTime, Period)");
  }
}

void ReadTimeChoice(const Json& obj, std::string_view prefix, const Path& at, Issues& issues,
                    std::optional<DateTime>* start, std::optional<DateTime>* end, bool* present) {
  *present = false;
  const std::string_view key = FindChoice(obj, prefix, at, issues);
  if (key.empty()) return;
  *present = true;
  const std::string_view kind = key.substr(prefix.size());
  if (kind == "DateTime") {
    ReadDateTime(obj, key, "dateTime", at, issues, start);
  } else if (kind == "Instant") {
    ReadDateTime(obj, key, "instant", at, issues, start);
  } else if (kind == "Period") {
    Period period;
    if (ReadPeriod(obj, key, at, issues, &period)) {
      *start = std::move(period.start);
      *end = std::move(period.end);
    }
  } else if (kind == "Timing" || kind == "Age" || kind == "Range" || kind == "String") {
    // Valid for some elements (effectiveTiming, onsetAge, ...); medtwin keeps them raw.
    if (!obj.find(key)->is_object() && kind != "String") {
      issues.Error(IssueType::kStructure, at.Child(key), "must be an object");
    }
  } else {
    issues.Error(IssueType::kStructure, at.Child(key),
                 "unknown " + std::string(prefix) + "[x] type " + Quoted(kind));
  }
}

bool Require(const Json& obj, std::string_view key, const Path& at, Issues& issues) {
  if (obj.contains(key)) return true;
  issues.Error(IssueType::kRequired, at.Child(key), "required element is missing");
  return false;
}

}  // namespace medtwin::fhir
