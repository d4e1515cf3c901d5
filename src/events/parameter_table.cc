#include "medtwin/parameter_table.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "events/csv.h"

namespace medtwin {
namespace {

// A header or parameter name without spaces, upper-cased: "x0_ 1" and "X0_1" compare equal.
std::string Key(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c != ' ' && c != '\t') out.push_back(c);
  }
  return csv::ToUpper(out);
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string FormatDouble(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

Result<ParameterTable> ParameterTable::Parse(std::string_view text, std::string source_name) {
  ParameterTable t;
  t.source_ = std::move(source_name);
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte order mark
  csv::LineReader lines(text);
  std::string_view line;
  int number = 0;
  std::vector<std::string> fields;
  std::string problem;
  while (lines.Next(&line, &number)) {
    if (csv::IsBlank(line) || csv::Trim(line).starts_with("#")) continue;
    const std::string where = t.source_ + " line " + std::to_string(number);
    if (!csv::SplitLine(line, &fields, &problem)) return Status::Invalid(where + ": " + problem);
    if (t.header_.empty()) {
      // Columns are matched to parameters ignoring spaces and case, so two headers that differ
      // only there ("BW" and "bw") would name the same parameter: refuse rather than pick one.
      for (size_t i = 1; i < fields.size(); ++i) {
        for (size_t j = 1; j < i; ++j) {
          if (Key(fields[i]) == Key(fields[j])) {
            return Status::Invalid(where + ": columns '" + csv::Quote(fields[j]) + "' and '" +
                                   csv::Quote(fields[i]) +
                                   "' name the same parameter (names are matched ignoring "
                                   "spaces and case)");
          }
        }
      }
      t.header_ = fields;
      continue;
    }
    if (fields.size() != t.header_.size()) {
      return Status::Invalid(where + ": " + std::to_string(fields.size()) +
                             " fields, the header has " + std::to_string(t.header_.size()));
    }
    if (csv::Trim(fields[0]).empty()) {
      return Status::Invalid(where + ", column " + t.header_[0] + ": the set name is empty");
    }
    for (const Row& r : t.rows_) {
      if (r.fields[0] == fields[0]) {
        return Status::Invalid(where + ", column " + t.header_[0] + ": set '" +
                               csv::Quote(fields[0]) + "' already defined on line " +
                               std::to_string(r.line));
      }
    }
    t.rows_.push_back({number, fields});
  }
  if (t.header_.empty()) return Status::Invalid(t.source_ + ": no header line");
  return t;
}

Result<ParameterTable> ParameterTable::ReadFile(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) return Status::NotFound(path + ": no such file");
  if (ec) return Status::Invalid(path + ": cannot access the file: " + ec.message());
  if (fs::is_directory(st)) return Status::Invalid(path + ": is a directory, not a table");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Invalid(path + ": cannot open the file for reading");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::Invalid(path + ": read error");
  return Parse(text.str(), path);
}

std::vector<std::string> ParameterTable::SetNames() const {
  std::vector<std::string> names;
  for (const Row& r : rows_) names.push_back(r.fields[0]);
  return names;
}

Result<const ParameterTable::Row*> ParameterTable::FindSet(const std::string& set_name) const {
  for (const Row& r : rows_) {
    if (r.fields[0] == set_name) return &r;
  }
  return Status::NotFound(source_ + ": no parameter set '" + set_name + "' in column " +
                          header_[0] + " (known: " + JoinNames(SetNames()) + ")");
}

int ParameterTable::ColumnIndex(const std::string& name) const {
  const std::string key = Key(name);
  for (size_t i = 1; i < header_.size(); ++i) {
    if (Key(header_[i]) == key) return static_cast<int>(i);
  }
  return -1;
}

Result<double> ParameterTable::Number(const Row& row, int column) const {
  const std::string& field = row.fields[column];
  double v = 0.0;
  switch (csv::ParseNumber(field, &v)) {
    case csv::NumberStatus::kOk:
      return v;
    case csv::NumberStatus::kMissing:
      return Status::Invalid(source_ + " line " + std::to_string(row.line) + ", column " +
                             header_[column] + ": the value is missing");
    case csv::NumberStatus::kNotANumber:
    case csv::NumberStatus::kNotFinite:
      break;
  }
  return Status::Invalid(source_ + " line " + std::to_string(row.line) + ", column " +
                         header_[column] + ": '" + csv::Quote(field) + "' is not a finite number");
}

Result<double> ParameterTable::Value(const std::string& set_name, const std::string& column) const {
  Result<const Row*> row = FindSet(set_name);
  if (!row.ok()) return row.status();
  const int c = ColumnIndex(column);
  if (c < 0) return Status::NotFound(source_ + ": no column '" + column + "'");
  return Number(**row, c);
}

Result<std::vector<double>> ParameterTable::ParametersFor(const ModelSpec& spec,
                                                          const std::string& set_name) const {
  Result<const Row*> found = FindSet(set_name);
  if (!found.ok()) return found.status();
  const Row& row = **found;
  std::vector<double> theta;
  for (const ParameterSpec& ps : spec.parameters) {
    const int c = ColumnIndex(ps.name);
    if (c < 0) {
      return Status::NotFound(source_ + ": no column for parameter " + ps.name + " of model '" +
                              spec.name + "' (every parameter needs one)");
    }
    Result<double> v = Number(row, c);
    if (!v.ok()) return v.status();
    if (*v < ps.lower || *v > ps.upper) {
      return Status::Invalid(source_ + " line " + std::to_string(row.line) + ", column " +
                             header_[c] + ": " + ps.name + "=" + FormatDouble(*v) + " " + ps.unit +
                             " is outside [" + FormatDouble(ps.lower) + ", " +
                             FormatDouble(ps.upper) + "]");
    }
    theta.push_back(*v);
  }
  return theta;
}

}  // namespace medtwin
