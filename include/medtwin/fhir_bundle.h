// FHIR R4 Bundles (transaction and batch) processed independently of storage.
//
// ProcessBundle reads a Bundle, validates every entry and decides what the store must do with
// each: create, update, delete, or nothing (a conditional create that matched). It has no side
// effects; the store applies the result (a transaction in one database transaction, a batch
// entry by entry) and re-checks conditional matches under its own locks.
//
// Transaction (all or nothing): ids are assigned first (IdOptions), then every reference to an
// entry's fullUrl (urn:uuid:..., urn:oid:..., absolute URL) is rewritten to "Type/id", and every
// conditional reference ("Organization?identifier=system|value") is resolved to the single
// matching resource among the bundle's own entries and the resolver. If any entry fails, every
// entry is rejected: the failing ones with their own issues, the others with a "processing" issue
// naming the first failure; BundleResult::outcome lists all errors with expressions
// "Bundle.entry[i]...".
// Batch: each entry is processed on its own; an entry may not reference another entry of the
// same batch (R4 3.1.0.11.2), so urn:uuid references in a batch are errors.
// Requests: POST (create; ifNoneExist conditional create), PUT "Type/id" (update or create with
// that id) and PUT "Type?query" (conditional update), DELETE "Type/id" and "Type?query". GET,
// HEAD and PATCH entries are rejected as not-supported (the server answers reads itself).
#ifndef MEDTWIN_FHIR_BUNDLE_H_
#define MEDTWIN_FHIR_BUNDLE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "medtwin/fhir.h"
#include "medtwin/status.h"

namespace medtwin::fhir {

// A search as used by conditional references, ifNoneExist and conditional update/delete:
// "Type?name=value&name=value". Values are percent-decoded.
struct SearchQuery {
  std::string type;
  std::vector<std::pair<std::string, std::string>> params;
  // "Organization?identifier=http://hl7.org/fhir/sid/us-npi|999" or, with `type` given
  // separately (ifNoneExist), "identifier=...". Errors: no '?', unknown resource type, an empty
  // parameter name or value, bad percent-encoding.
  static Result<SearchQuery> Parse(std::string_view text);
  static Result<SearchQuery> Parse(std::string_view type, std::string_view query);
  std::string ToString() const;
};

// True if `identifiers` satisfy the token search value of an `identifier` parameter:
// "system|value", "|value" (no system) or "value" (any system).
bool IdentifierMatches(const std::vector<Identifier>& identifiers, std::string_view token);

// How the FHIR layer looks up existing resources. The store implements it; MemoryResolver below
// is an in-memory implementation.
class ReferenceResolver {
 public:
  virtual ~ReferenceResolver() = default;
  // Logical ids of the resources of query.type matching every parameter. kUnsupported for a
  // parameter the implementation cannot search (it must not ignore one).
  virtual Result<std::vector<std::string>> Search(const SearchQuery& query) const = 0;
  virtual Result<bool> Exists(std::string_view type, std::string_view id) const = 0;
};

// Keeps type, id and identifiers of the resources added; searches `identifier` and `_id`
// (identifier searches are index lookups). Not thread-safe for writes.
class MemoryResolver : public ReferenceResolver {
 public:
  void Add(std::string_view type, std::string_view id, std::vector<Identifier> identifiers);
  void Add(const Resource& resource) { Add(resource.type, resource.id, resource.identifiers); }
  void Remove(std::string_view type, std::string_view id);
  size_t size() const { return count_; }

  Result<std::vector<std::string>> Search(const SearchQuery& query) const override;
  Result<bool> Exists(std::string_view type, std::string_view id) const override;

 private:
  struct TypeIndex {
    std::map<std::string, std::vector<Identifier>> ids;  // id -> identifiers
    // "system|value" -> id and "value" -> id (a token without '|' matches any system)
    std::unordered_multimap<std::string, std::string> by_token, by_value;
  };
  std::unordered_map<std::string, TypeIndex> by_type_;
  size_t count_ = 0;
};

// Source of new logical ids for creates. The store supplies UUIDs; tests use SequentialIds.
class IdSource {
 public:
  virtual ~IdSource() = default;
  virtual std::string NewId() = 0;
};

// "<prefix>1", "<prefix>2", ...
class SequentialIds : public IdSource {
 public:
  explicit SequentialIds(std::string prefix = "mt") : prefix_(std::move(prefix)) {}
  std::string NewId() override { return prefix_ + std::to_string(++n_); }

 private:
  std::string prefix_;
  uint64_t n_ = 0;
};

enum class BundleType { kTransaction, kBatch, kOther };
const char* ToString(BundleType t);

enum class EntryAction { kNone, kCreate, kUpdate, kDelete, kNoop };
const char* ToString(EntryAction a);

struct BundleOptions {
  ReadOptions read;  // applied to every entry's resource (max_bytes and max_depth to the bundle)
  // Creates from an entry whose fullUrl is urn:uuid:<uuid> keep <uuid> as their id (Synthea
  // resources carry the same uuid as id and fullUrl); other creates take ids_->NewId().
  bool id_from_urn_uuid = true;
  IdSource* ids = nullptr;  // REQUIRED
  // Every relative reference "Type/id" must name an entry of the bundle or a resource the
  // resolver knows (off by default: R4 allows references to resources not held locally).
  bool check_reference_targets = false;
  // Only transaction and batch bundles are processed; others (collection, document, ...) are
  // rejected as not-supported.
  Status Validate() const;
};

struct EntryResult {
  int index = 0;  // position in Bundle.entry
  bool accepted = false;
  EntryAction action = EntryAction::kNone;
  std::string type, id;  // target resource (for kNoop the existing one)
  std::string full_url;
  std::string status;  // HTTP status for the response bundle: "201 Created", "200 OK",
                       // "400 Bad Request", "404 Not Found", "412 Precondition Failed"
  std::optional<Resource> resource;  // kCreate/kUpdate: final content, id and references set
  OperationOutcome outcome;          // always at least one issue
};

struct BundleSummary {
  int entries = 0, accepted = 0, rejected = 0, warnings = 0;
  // resourceType -> {accepted, rejected}
  std::map<std::string, std::pair<int, int>> by_type;
  int references_rewritten = 0;    // urn:uuid and other fullUrl references
  int conditional_references = 0;  // resolved through the bundle or the resolver
  double seconds = 0.0;
  std::string OneLine() const;  // "entries=180 accepted=180 rejected=0 warnings=0 ..."
};

struct BundleResult {
  BundleType type = BundleType::kOther;
  // Transaction: true iff every entry was accepted. Batch: true iff the bundle itself was
  // readable (entries have their own results).
  bool ok = false;
  std::vector<EntryResult> entries;
  OperationOutcome outcome;  // bundle-level errors, and for a failed transaction all errors
  BundleSummary summary;
};

// Reads and processes a Bundle given as JSON text. Never fails as a whole: malformed input gives
// ok = false, no entries and the reason in `outcome`.
BundleResult ProcessBundle(std::string_view json, const ReferenceResolver& resolver,
                           const BundleOptions& options);

}  // namespace medtwin::fhir

#endif  // MEDTWIN_FHIR_BUNDLE_H_
