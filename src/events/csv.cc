#include "events/csv.h"

#include <charconv>
#include <cmath>
#include <system_error>

namespace medtwin::csv {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// Reads a quoted field starting at line[*pos] == '"'. On success *pos is just past the closing
// quote.
bool ReadQuoted(std::string_view line, size_t* pos, std::string* out, std::string* problem) {
  size_t i = *pos + 1;
  while (i < line.size()) {
    if (line[i] != '"') {
      out->push_back(line[i++]);
      continue;
    }
    if (i + 1 < line.size() && line[i + 1] == '"') {  // "" is an escaped quote
      out->push_back('"');
      i += 2;
      continue;
    }
    *pos = i + 1;
    return true;
  }
  *problem = "unterminated quoted field (quoted fields cannot span lines)";
  return false;
}

}  // namespace

bool LineReader::Next(std::string_view* line, int* number) {
  if (pos_ >= text_.size()) return false;
  size_t end = text_.find('\n', pos_);
  if (end == std::string_view::npos) end = text_.size();
  std::string_view l = text_.substr(pos_, end - pos_);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  pos_ = end + 1;
  *line = l;
  *number = ++number_;
  return true;
}

bool IsBlank(std::string_view line) { return Trim(line).empty(); }

bool SplitLine(std::string_view line, std::vector<std::string>* fields, std::string* problem) {
  fields->clear();
  size_t pos = 0;
  while (true) {
    std::string& field = fields->emplace_back();
    while (pos < line.size() && IsSpace(line[pos])) ++pos;
    if (pos < line.size() && line[pos] == '"') {
      if (!ReadQuoted(line, &pos, &field, problem)) return false;
      while (pos < line.size() && IsSpace(line[pos])) ++pos;
      if (pos < line.size() && line[pos] != ',') {
        *problem = "text after the closing quote of field " + std::to_string(fields->size());
        return false;
      }
    } else {
      size_t end = line.find(',', pos);
      if (end == std::string_view::npos) end = line.size();
      field.assign(Trim(line.substr(pos, end - pos)));
      pos = end;
    }
    if (pos >= line.size()) return true;
    ++pos;  // the comma
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Upper(a[i]) != Upper(b[i])) return false;
  }
  return true;
}

std::string ToUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Upper(c);
  return out;
}

bool IsMissing(std::string_view field) {
  field = Trim(field);
  return field.empty() || field == ".";
}

NumberStatus ParseNumber(std::string_view field, double* out) {
  field = Trim(field);
  if (IsMissing(field)) return NumberStatus::kMissing;
  // from_chars does not take a leading '+'; "+-1" must still fail, so strip exactly one.
  if (field.front() == '+') field.remove_prefix(1);
  if (field.empty() || field.front() == '+') return NumberStatus::kNotANumber;
  double v = 0.0;
  const char* end = field.data() + field.size();
  auto [ptr, ec] = std::from_chars(field.data(), end, v);
  if (ec == std::errc::result_out_of_range && ptr == end) return NumberStatus::kNotFinite;
  if (ec != std::errc() || ptr != end) return NumberStatus::kNotANumber;
  if (!std::isfinite(v)) return NumberStatus::kNotFinite;
  *out = v;
  return NumberStatus::kOk;
}

std::string Quote(std::string_view field) {
  constexpr size_t kMax = 40;
  std::string out;
  for (size_t i = 0; i < field.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(field[i]);
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (field.size() > kMax) out += "...";
  return out;
}

}  // namespace medtwin::csv
