// Parameter tables: named parameter sets (virtual patients, sensors) in a CSV file.
//
// Format: CSV as for datasets (dataset.h: commas, optional double quotes, "\r\n" tolerated,
// blank lines and lines starting with '#' skipped). The first line that is neither is the
// header; its first column names the sets (its header is usually `Name`) and every data row is
// one set, e.g. `adult#001`. A set name may appear once.
//
// Matching a model: a column whose header equals a model parameter's name, ignoring ASCII case
// and spaces ("x0_ 1" is parameter x0_1), gives that parameter's value; other columns are
// ignored. Two headers that are equal ignoring case and spaces (`BW` and `bw`) are an error
// naming both, whether or not they are model parameters. Every parameter of the model needs a
// column (no silent defaults), every value of the chosen row must be a finite number within the
// parameter's bounds. Errors name the file, the line, the column and the problem, e.g.
//   "vpatient_params.csv line 4, column kabs: 'abc' is not a number".
#ifndef MEDTWIN_PARAMETER_TABLE_H_
#define MEDTWIN_PARAMETER_TABLE_H_

#include <string>
#include <string_view>
#include <vector>

#include "medtwin/model.h"
#include "medtwin/status.h"

namespace medtwin {

class ParameterTable {
 public:
  // Parses `text`; `source_name` prefixes messages (the file name). Errors: no header, a row
  // with a different number of fields, an empty or repeated set name (kInvalidArgument).
  static Result<ParameterTable> Parse(std::string_view text, std::string source_name);
  // Reads a file (kNotFound if it does not exist) and parses it with the path as source name.
  static Result<ParameterTable> ReadFile(const std::string& path);

  const std::string& source() const { return source_; }
  const std::vector<std::string>& columns() const { return header_; }
  std::vector<std::string> SetNames() const;

  // The numeric value of `column` (matched ignoring case and spaces) in set `set_name`.
  // kNotFound for an unknown set (the message lists the known ones) or column;
  // kInvalidArgument for a value that is not a finite number.
  Result<double> Value(const std::string& set_name, const std::string& column) const;

  // Population parameters (spec order) of `model` from set `set_name`: see the header comment.
  Result<std::vector<double>> ParametersFor(const ModelSpec& spec,
                                            const std::string& set_name) const;

 private:
  struct Row {
    int line = 0;
    std::vector<std::string> fields;
  };
  Result<const Row*> FindSet(const std::string& set_name) const;
  int ColumnIndex(const std::string& name) const;  // -1 if none
  Result<double> Number(const Row& row, int column) const;

  std::string source_;
  std::vector<std::string> header_;
  std::vector<Row> rows_;
};

}  // namespace medtwin

#endif  // MEDTWIN_PARAMETER_TABLE_H_
