// NONMEM-style event datasets: reading, validating against a model, and the record types.
//
// Format: CSV with a header row; fields separated by commas, optionally double-quoted ("" is a
// quote inside a quoted field; quoted fields do not span lines); "\r\n" line ends tolerated;
// spaces around fields dropped; blank lines and a leading UTF-8 byte order mark skipped. The header
// is the first line that is neither blank nor starts with '#'. After it, a row whose first
// character is 'C' (upper case) or '#' is a comment (NONMEM IGNORE=C / IGNORE=#); a first field
// "." is data, so a column named C holding "." works as in the nmtests files; but when ID is the
// first column, an ID starting with 'C' also makes its row a comment, as in NONMEM. Every data row
// has exactly as many fields as the header.
//
// Columns (names case-insensitive; order free; a name may appear once; extra columns ignored unless
// they are covariates of the model or dose modifiers):
//   ID    required. Subject identifier, kept as text with surrounding spaces trimmed ("1" and
//         "1.0" are different subjects); a subject's records must be contiguous
//   TIME  required. h, >= 0, non-decreasing within a subject, also at EVID 3/4 records (NONMEM
//         lets time restart at a reset; medtwin reports that as kUnsupported)
//   DV    observed value ("." = missing)
//   AMT   dose amount in the target state's unit (mg for the PK library). The column is required
//         only if some record is a dose; a dose needs AMT > 0, except a steady-state infusion
//         (SS=1 or 2, AMT=0, RATE > 0, II=0)
//   EVID  0 observation, 1 dose, 2 other (covariate change/output only), 3 reset, 4 reset + dose
//         (default: 1 when AMT > 0 or RATE != 0 on the row, else 0)
//   CMT   state number (1-based, NONMEM numbering) or state name ("central"); negative on an
//         EVID 2 row turns that compartment off (its amount is set to zero). Empty, "." or 0: the
//         model's default dose state on doses, none (-1) on other records. Doses go to dosable
//         states only.
//   RATE  > 0 zero-order infusion (amount/h); -1 rate modelled (parameter Rn or an Rn column with a
//         value on the row); -2 duration modelled (parameter Dn or a Dn column); 0 bolus
//   II    dosing interval (h), ADDL number of additional doses (needs II > 0; a negative ADDL, the
//         NONMEM 7.5 empirical steady state, is kUnsupported), SS 0/1/2 steady state (1 or 2 need
//         II > 0 except for a steady-state infusion; SS=3 is kUnsupported). AMT, RATE, II, ADDL
//         and SS must be 0 or empty on records that are not doses.
//   MDV   1 = DV missing. Default: 1 on non-observation records; on observations 1 iff DV is
//         missing. MDV=0 is allowed on observations only and then needs a numeric DV.
//   Fn, ALAGn, Rn, Dn  per-record bioavailability (>= 0), lag (h, >= 0), modelled rate (> 0 where
//         used), modelled duration (h, > 0 where used) for state n (1-based; a column for a state
//         the model lacks is an error); override model parameters of the same name.
//   any covariate of the model (time-varying; see CovariateRule). A required covariate's column
//         must be present; an absent optional one takes CovariateSpec::reference on every record.
//         Values must lie in [lower, upper]; "." is allowed only if may_be_missing (read as NaN).
// Empty fields and "." read as missing; a missing required number is an error. Numbers are
// decimal (std::from_chars); trailing text ("12abc"), nan and inf are rejected.
//
// Error codes: kNotFound for an absent required column (ID, TIME, AMT when there are doses, a
// required covariate) or an unknown CMT name; kUnsupported for the NONMEM features above that
// medtwin does not implement; kInvalidArgument for everything else.
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
  int state = 0;       // 0-based state index
  std::string column;  // header as written
};

struct Record {
  int line = 0;  // 1-based line in the source text (for messages)
  double time_h = 0.0;
  Evid evid = Evid::kObservation;
  double amt = 0.0;
  int state = -1;          // 0-based target state; -1 = none given
  bool state_off = false;  // negative CMT: turn this compartment off
  double rate = 0.0;       // amount/h, or -1 / -2 (modelled)
  double ii_h = 0.0;
  int addl = 0;
  int ss = 0;
  bool mdv = false;
  double dv = 0.0;                 // meaningful when !mdv
  int observable = 0;              // DVID: the model observable the DV measures
  bool censored = false;           // CENS=1: below the quantification limit, dv is the limit
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
  std::string source_name = "dataset";  // message prefix "<source> line N: ..."; not empty
  size_t max_bytes = 512u << 20;        // larger inputs are refused (512 MiB); > 0
  size_t max_records = 50'000'000;      // more data rows (comments not counted) are refused; > 0
  Status Validate() const;
};

// Parses CSV text and validates every record against `model` (compartments, modelled rates and
// durations, covariate columns and ranges, SS/II/ADDL consistency). Errors name the line, the
// column, the problem and the text found, e.g. "regimen.csv line 14, column RATE: RATE=-2 needs a
// modelled duration (parameter D2 or column D2), but model 'pk1cmt' has none (got '-2')".
// Stops at the first error. Never crashes on any input (fuzzed: fuzz/dataset_fuzz.cc).
Result<Dataset> ReadDataset(std::string_view csv_text, const Model& model,
                            const DatasetOptions& options = {});
// Reads a file and calls ReadDataset with source_name = the path (unless set to something other
// than the default). A missing file is kNotFound, a directory or an unreadable file
// kInvalidArgument; both messages name the path.
Result<Dataset> ReadDatasetFile(const std::string& path, const Model& model,
                                DatasetOptions options = {});

}  // namespace medtwin

#endif  // MEDTWIN_DATASET_H_
