// Reading FHIR data types from the JSON DOM with FHIRPath-named issues (internal to src/fhir).
//
// Readers take the containing object, the element name and the path of the container; a missing
// optional element is not an issue, a present element of the wrong JSON type is. Paths are built
// into strings only when an issue is reported.
#ifndef MEDTWIN_FHIR_ELEMENTS_H_
#define MEDTWIN_FHIR_ELEMENTS_H_

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "fhir/json_input.h"
#include "medtwin/fhir.h"

namespace medtwin::fhir {

// A FHIRPath location kept as a chain on the stack: root "Observation", then
// ".component[1]", ".valueQuantity", ... REQUIRES: names outlive the Path (literals or keys of a
// live JSON document).
class Path {
 public:
  explicit Path(std::string_view root) : name_(root) {}
  Path(const Path& parent, std::string_view name, int index = -1)
      : parent_(&parent), name_(name), index_(index) {}
  Path Child(std::string_view name, int index = -1) const { return Path(*this, name, index); }
  std::string str() const;

 private:
  const Path* parent_ = nullptr;
  std::string_view name_;
  int index_ = -1;
};

// Collects issues into an OperationOutcome, at most `max_issues` (then one final note).
class Issues {
 public:
  Issues(OperationOutcome* out, int max_issues) : out_(out), max_(max_issues) {}
  void Error(IssueType code, const Path& at, std::string diagnostics);
  void Error(IssueType code, const std::string& at, std::string diagnostics);
  void Warning(IssueType code, const Path& at, std::string diagnostics);
  void Info(const Path& at, std::string diagnostics);
  int errors() const { return errors_; }
  OperationOutcome* outcome() { return out_; }

 private:
  bool Room();
  OperationOutcome* out_;
  int max_;
  int count_ = 0;
  int errors_ = 0;
};

// A value for a message: at most 60 characters, quoted.
std::string Quoted(std::string_view s);
// A JSON value's type for a message: "a number", "an object", ...
const char* JsonTypeName(const Json& j);

// Element readers. Return true when the element is present and valid.
bool ReadString(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                std::string* out);
bool ReadBool(const Json& obj, std::string_view key, const Path& at, Issues& issues, bool* out);
bool ReadNumber(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                std::optional<double>* out);
// A code from a fixed value set; an unknown code is an error listing the allowed ones.
bool ReadCode(const Json& obj, std::string_view key, const Path& at, Issues& issues,
              std::initializer_list<const char*> allowed, std::string* out);
// kind: "date", "dateTime", "instant".
bool ReadDateTime(const Json& obj, std::string_view key, std::string_view kind, const Path& at,
                  Issues& issues, std::optional<DateTime>* out);
bool ReadCoding(const Json& obj, std::string_view key, const Path& at, Issues& issues, Coding* out);
bool ReadCodeableConcept(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                         CodeableConcept* out);
bool ReadCodeableConcepts(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                          std::vector<CodeableConcept>* out);
bool ReadQuantity(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                  Quantity* out);
bool ReadRatio(const Json& obj, std::string_view key, const Path& at, Issues& issues, Ratio* out);
bool ReadPeriod(const Json& obj, std::string_view key, const Path& at, Issues& issues, Period* out);
bool ReadReference(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                   Reference* out);
bool ReadReferences(const Json& obj, std::string_view key, const Path& at, Issues& issues,
                    std::vector<Reference>* out);
// Identifier or array of Identifier under `key` (R4 uses both cardinalities).
void ReadIdentifiers(const Json& obj, std::string_view key, std::vector<Identifier>* out);

// The single element of a choice type "<prefix>[x]" present in `obj`: its key (e.g.
// "valueQuantity") and suffix ("Quantity"). More than one is an error; none returns "".
std::string_view FindChoice(const Json& obj, std::string_view prefix, const Path& at,
                            Issues& issues);
// Reads value[x] of an Observation or component into `out`; unknown suffixes are errors.
void ReadValue(const Json& obj, const Path& at, Issues& issues, Value* out);
// effective[x]-like choice of dateTime, instant or Period into start/end.
void ReadTimeChoice(const Json& obj, std::string_view prefix, const Path& at, Issues& issues,
                    std::optional<DateTime>* start, std::optional<DateTime>* end, bool* present);

// Error unless `key` is present (R4 cardinality 1..1 / 1..*).
bool Require(const Json& obj, std::string_view key, const Path& at, Issues& issues);

}  // namespace medtwin::fhir

#endif  // MEDTWIN_FHIR_ELEMENTS_H_
