// The generic pass over every resource (internal to src/fhir): JSON format rules (no null, no
// empty string/object/array) and every Reference.reference checked, resolved and rewritten.
//
// Reference forms (R4 references.html):
//   "#id"                  a contained resource of this resource ("#" is the container itself)
//   a bundle fullUrl       (urn:uuid:..., urn:oid:..., absolute URL) -> "Type/id" of that entry
//   "Type?params"          conditional: exactly one match among the transaction's entries and the
//                          resolver -> "Type/id"
//   "Type/id[/_history/v]" relative; optionally checked to exist
//   "http(s)://..."        absolute, kept as sent
#ifndef MEDTWIN_FHIR_REFERENCES_H_
#define MEDTWIN_FHIR_REFERENCES_H_

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fhir/elements.h"
#include "medtwin/fhir.h"
#include "medtwin/fhir_bundle.h"

namespace medtwin::fhir {

// An entry of a transaction that conditional references may resolve to.
struct BundleTarget {
  std::string type, id;
  const std::vector<Identifier>* identifiers = nullptr;
};

struct ReferenceContext {
  // fullUrl -> "Type/id" for the entries of the bundle being processed; nullptr outside bundles.
  const std::unordered_map<std::string, std::string>* full_urls = nullptr;
  bool batch = false;                                  // fullUrl references are errors in a batch
  const std::vector<BundleTarget>* targets = nullptr;  // transaction entries
  const ReferenceResolver* resolver = nullptr;
  bool check_targets = false;
  const std::unordered_set<std::string>* bundle_ids = nullptr;  // "Type/id" of the entries
  int rewritten = 0;    // references rewritten from a fullUrl
  int conditional = 0;  // conditional references resolved
};

// Walks `resource` (a JSON object) rooted at `root`, reporting format errors and resolving
// references in place; appends every reference in its final form to `uses`.
void WalkResource(Json& resource, const Path& root, ReferenceContext& ctx, Issues& issues,
                  std::vector<ReferenceUse>* uses);

// Resolves a search to ids: matches among `targets` (evaluated for `identifier` and `_id`
// only) plus the resolver's; duplicates removed. Errors from the resolver are returned.
Result<std::vector<std::string>> ResolveSearch(const SearchQuery& query,
                                               const std::vector<BundleTarget>* targets,
                                               const ReferenceResolver* resolver);

}  // namespace medtwin::fhir

#endif  // MEDTWIN_FHIR_REFERENCES_H_
