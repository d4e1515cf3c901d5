// JSON text in, nlohmann DOM out, within size and nesting limits (internal to src/fhir).
//
// nlohmann-json, chosen by measurement (bench/fhir_bench.cc, BENCHMARKS.md "FHIR"): simdjson
// parses the Synthea bundles about 25 times faster, but its DOM is read-only, while the FHIR layer
// edits every resource (ids, references) before serialising it again; with nlohmann the whole
// pipeline runs at 11,000-16,000 resources/s per core, over twice the ingest target of
// 5,000 resources/s on two cores for the whole server.
#ifndef MEDTWIN_FHIR_JSON_INPUT_H_
#define MEDTWIN_FHIR_JSON_INPUT_H_

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "medtwin/fhir_outcome.h"

namespace medtwin::fhir {

using Json = nlohmann::json;

// Checks size and nesting before parsing, so that a hostile input cannot exhaust memory or the
// stack. Returns false and adds an error (too-long, too-costly) naming `what` when a limit is
// exceeded. Strings are skipped correctly, so brackets inside them do not count.
bool CheckJsonLimits(std::string_view text, size_t max_bytes, int max_depth,
                     const std::string& what, OperationOutcome* outcome);

// Parses `text` after CheckJsonLimits. On malformed JSON adds an error (structure) with the byte
// offset and the parser's message, and returns nullopt.
std::optional<Json> ParseJson(std::string_view text, size_t max_bytes, int max_depth,
                              const std::string& what, OperationOutcome* outcome);

}  // namespace medtwin::fhir

#endif  // MEDTWIN_FHIR_JSON_INPUT_H_
