// R4 date, dateTime and instant (http://hl7.org/fhir/R4/datatypes.html#dateTime):
//   date      YYYY, YYYY-MM, YYYY-MM-DD
//   dateTime  a date, or YYYY-MM-DDThh:mm:ss(.fff...)(Z|+hh:mm|-hh:mm): a time needs a zone
//   instant   the full form with seconds and zone
// Calendar arithmetic uses std::chrono (year_month_day -> sys_days).
#include <chrono>
#include <string>

#include "medtwin/fhir.h"

namespace medtwin::fhir {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

Status Bad(std::string_view text, std::string_view kind, const std::string& why) {
  // Appended piecewise: "'" + std::string(...) trips g++ 12's false -Wrestrict.
  std::string m = "'";
  m.append(text.substr(0, 40)).append("' is not a valid FHIR ").append(kind).append(": ");
  return Status::Invalid(m + why);
}

}  // namespace

Result<DateTime> ParseDateTime(std::string_view text, std::string_view kind) {
  using namespace std::chrono;
  DateTime dt;
  dt.text = std::string(text);
  int y = 0, mo = 1, d = 1;
  if (!Digits(text, 0, 4, &y)) return Bad(text, kind, "expected a four-digit year");
  if (y == 0) return Bad(text, kind, "year 0000 does not exist");
  dt.precision = DateTime::Precision::kYear;
  size_t pos = 4;
  if (pos < text.size()) {
    if (text[pos] != '-' || !Digits(text, pos + 1, 2, &mo)) {
      return Bad(text, kind, "expected -MM after the year");
    }
    if (mo < 1 || mo > 12) return Bad(text, kind, "month " + std::to_string(mo));
    dt.precision = DateTime::Precision::kMonth;
    pos += 3;
  }
  if (pos < text.size()) {
    if (text[pos] != '-' || !Digits(text, pos + 1, 2, &d)) {
      return Bad(text, kind, "expected -DD after the month");
    }
    dt.precision = DateTime::Precision::kDay;
    pos += 3;
  }
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return Bad(text, kind, "day " + std::to_string(d) + " does not exist");
  int64_t ms = static_cast<int64_t>(sys_days{ymd}.time_since_epoch().count()) * 86400000;

  if (pos == text.size()) {
    if (kind == "instant") return Bad(text, kind, "an instant needs a time and a zone");
    dt.epoch_ms = ms;
    return dt;
  }
  if (kind == "date") return Bad(text, kind, "a date has no time");
  if (dt.precision != DateTime::Precision::kDay || text[pos] != 'T') {
    return Bad(text, kind, "expected THH:MM:SS after a full date");
  }
  int h = 0, mi = 0, s = 0;
  if (!Digits(text, pos + 1, 2, &h) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
      !Digits(text, pos + 4, 2, &mi) || pos + 6 >= text.size() || text[pos + 6] != ':' ||
      !Digits(text, pos + 7, 2, &s)) {
    return Bad(text, kind, "expected THH:MM:SS");
  }
  // R4's regex allows second 60 (a leap second); it is read as the last ms of the minute.
  if (h > 23 || mi > 59 || s > 60) return Bad(text, kind, "time out of range");
  pos += 9;
  int64_t frac_ms = 0;
  if (pos < text.size() && text[pos] == '.') {
    size_t digits = 0;
    ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 3) frac_ms = frac_ms * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return Bad(text, kind, "expected digits after the decimal point");
    for (size_t k = digits; k < 3; ++k) frac_ms *= 10;
  }
  int64_t offset_min = 0;
  if (pos < text.size() && text[pos] == 'Z') {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh = 0, om = 0;
    if (!Digits(text, pos + 1, 2, &oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !Digits(text, pos + 4, 2, &om) || oh > 14 || om > 59) {
      return Bad(text, kind, "expected a zone +hh:mm or -hh:mm");
    }
    offset_min = (oh * 60 + om) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return Bad(text, kind, "a time needs a time zone (Z or +hh:mm)");
  }
  if (pos != text.size()) return Bad(text, kind, "unexpected text after the time zone");
  const int64_t sec = s == 60 ? 59 : s;
  ms += ((h * 60 + mi) * 60 + sec) * 1000 + (s == 60 ? 999 : frac_ms) - offset_min * 60000;
  dt.epoch_ms = ms;
  dt.precision = DateTime::Precision::kSecond;
  return dt;
}

}  // namespace medtwin::fhir
