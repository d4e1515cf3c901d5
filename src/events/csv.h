// A small CSV tokenizer for NONMEM-style datasets (internal to src/events).
//
// Format: one record per line, fields separated by commas, "\n" or "\r\n" line ends. A field may
// be enclosed in double quotes (a quote inside is written twice); quoted fields do not span lines.
// Spaces and tabs around a field are dropped. No I/O: the caller owns the text.
#ifndef MEDTWIN_EVENTS_CSV_H_
#define MEDTWIN_EVENTS_CSV_H_

#include <string>
#include <string_view>
#include <vector>

namespace medtwin::csv {

// Walks the lines of a text. Line numbers are 1-based; the returned text has no line end.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  // Returns false at the end of the text.
  bool Next(std::string_view* line, int* number);

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int number_ = 0;
};

// True if the line holds only spaces and tabs.
bool IsBlank(std::string_view line);

// Splits `line` into `fields` (cleared first; capacity is reused). On a malformed quote returns
// false and sets `problem` to a description without location.
bool SplitLine(std::string_view line, std::vector<std::string>* fields, std::string* problem);

std::string_view Trim(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
std::string ToUpper(std::string_view s);

// "" and "." are missing values (NONMEM convention).
bool IsMissing(std::string_view field);

enum class NumberStatus { kOk, kMissing, kNotANumber, kNotFinite };

// Parses a whole field as a finite decimal number (std::from_chars, optional leading '+').
// Trailing text ("12abc"), "nan", "inf" and values outside the double range are rejected.
NumberStatus ParseNumber(std::string_view field, double* out);

// A field value made safe and short for an error message: at most 40 characters, non-printable
// bytes shown as '?'.
std::string Quote(std::string_view field);

}  // namespace medtwin::csv

#endif  // MEDTWIN_EVENTS_CSV_H_
