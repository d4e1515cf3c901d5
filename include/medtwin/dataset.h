// NONMEM-style event datasets: reading, validating against a model, and the record types.
//
// Columns (names case-insensitive; order free; extra columns ignored unless they are covariates
// of the model or dose modifiers):
//   ID    subject identifier (text); a subject's records must be contiguous
//   TIME  h, >= 0, non-decreasing within a subject
//   DV    observed value ("." = missing)
//   AMT   dose amount in the target state's unit (mg for the PK library)
//   EVID  0 observation, 1 dose, 2 other (covariate change/output only), 3 reset, 4 reset + dose
//         (default: 1 when AMT > 0 or RATE != 0 on the row, else 0)
//   CMT   state number (1-based, NONMEM numbering) or state name ("central"); negative on an
//         EVID 2 row turns that compartment off (its amount is set to zero). Default: the model's
//         default dose state.
//   RATE  > 0 zero-order infusion (amount/h); -1 rate modelled (parameter Rn); -2 duration
//         modelled (parameter Dn); 0 bolus
//   II    dosing interval (h), ADDL number of additional doses, SS 0/1/2 steady state
//   MDV   1 = DV missing
//   Fn, ALAGn, Rn, Dn  per-record bioavailability, lag (h), modelled rate, modelled duration for
//         state n; override model parameters of the same name.
//   any covariate of the model (time-varying; see CovariateRule)
// Rows whose first field starts with "C" or "#" are comments (NONMEM IGNORE=C / IGNORE=#).
// Empty fields and "." read as missing; a missing required number is an error.
#ifndef MEDTWIN_DATASET_H_
#define MEDTWIN_DATASET_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "medtwin/model.h"
#include "medtwin/status.h"

namespace medtwin {

enum class Evid { kObservation = 0, kDose = 1, kOther = 2, kReset = 3, kResetDose = 4 };

// How covariate values apply between records.
//   kNocb: next observation carried backward (NONMEM, mrgsolve default): the value on a record
//          applies over the interval that ends at that record.
//   kLocf: last observation carried forward (rxode2 default): the value applies from the record on.
enum class CovariateRule { kNocb, kLocf };
const char* ToString(CovariateRule r);
Result<CovariateRule> CovariateRuleFromString(const std::string& s);

enum class ModifierKind { kBioavailability, kLag, kRate, kDuration };  // Fn, ALAGn, Rn, Dn

// A dose-modifier column found in the dataset.
struct ModifierColumn {
  ModifierKind kind;
  int state = 0;            // 0-based state index
  std::string column;       // header as written
};

struct Record {
  int line = 0;             // 1-based line in the source text (for messages)
  double time_h = 0.0;
  Evid evid = Evid::kObservation;
  double amt = 0.0;
  int state = -1;           // 0-based target state; -1 = none given
  bool state_off = false;   // negative CMT: turn this compartment off
  double rate = 0.0;        // amount/h, or -1 / -2 (modelled)
  double ii_h = 0.0;
  int addl = 0;
  int ss = 0;
  bool mdv = false;
  double dv = 0.0;          // meaningful when !mdv
  std::vector<double> covariates;  // model covariate order; NaN where allowed missing
  std::vector<double> modifiers;   // Dataset::modifier_columns order; NaN where "."/absent

  bool IsDose() const { return evid == Evid::kDose || evid == Evid::kResetDose; }
};

struct Subject {
  std::string id;
  std::vector<Record> records;  // time order as in the file
};

struct Dataset {
  std::vector<Subject> subjects;
  std::vector<ModifierColumn> modifier_columns;
  std::vector<bool> covariate_present;  // per model covariate: column found
};

struct DatasetOptions {
  std::string source_name = "dataset";  // used as message prefix: "<source> line N: ..."
  size_t max_bytes = 512u << 20;         // larger inputs are refused (512 MiB)
  size_t max_records = 50'000'000;
  Status Validate() const;
};

// Parses CSV text and validates every record against `model` (compartments, modelled rates and
// durations, covariate columns and ranges, SS/II/ADDL consistency). Errors name the line, the
// column and the problem, e.g. "regimen.csv line 14, column RATE: RATE=-2 needs a modelled
// duration (parameter D2 or a D2 column), but model 'pk1cmt' has none".
Result<Dataset> ReadDataset(std::string_view csv_text, const Model& model,
                            const DatasetOptions& options = {});
// Reads a file and calls ReadDataset with source_name = the path (unless set).
Result<Dataset> ReadDatasetFile(const std::string& path, const Model& model,
                                DatasetOptions options = {});

}  // namespace medtwin

#endif  // MEDTWIN_DATASET_H_
