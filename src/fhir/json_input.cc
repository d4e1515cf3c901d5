#include "fhir/json_input.h"

#include <string>

namespace medtwin::fhir {

bool CheckJsonLimits(std::string_view text, size_t max_bytes, int max_depth,
                     const std::string& what, OperationOutcome* outcome) {
  if (text.size() > max_bytes) {
    outcome->Error(IssueType::kTooLong, what,
                   "input of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                       std::to_string(max_bytes) + " bytes");
    return false;
  }
  // One pass over the bytes: depth changes only outside strings; inside a string a backslash
  // escapes the next byte. Malformed input is left to the parser.
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) {
        outcome->Error(IssueType::kTooCostly, what,
                       "JSON nesting deeper than the limit of " + std::to_string(max_depth) +
                           " at byte " + std::to_string(i));
        return false;
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

std::optional<Json> ParseJson(std::string_view text, size_t max_bytes, int max_depth,
                              const std::string& what, OperationOutcome* outcome) {
  if (!CheckJsonLimits(text, max_bytes, max_depth, what, outcome)) return std::nullopt;
  // nlohmann reports syntax errors and numbers out of range by exception; none leaves this
  // function (fuzz/fhir_fuzz.cc found "51e449").
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    std::string message = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> drop the tag.
    const size_t tag_end = message.find("] ");
    if (tag_end != std::string::npos) message = message.substr(tag_end + 2);
    outcome->Error(IssueType::kStructure, what,
                   "malformed JSON (byte " + std::to_string(e.byte) + "): " + message);
  } catch (const Json::exception& e) {
    // A number beyond double's range ("1e999") is out_of_range, not a parse_error.
    std::string message = e.what();
    const size_t tag_end = message.find("] ");
    if (tag_end != std::string::npos) message = message.substr(tag_end + 2);
    outcome->Error(IssueType::kStructure, what, "malformed JSON: " + message);
  }
  return std::nullopt;
}

}  // namespace medtwin::fhir
