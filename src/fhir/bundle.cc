// Transaction and batch bundles, processed without storage (the contract is in
// include/medtwin/fhir_bundle.h; R4 http.html#transaction).
#include <chrono>
#include <unordered_set>

#include "fhir/json_input.h"
#include "fhir/resources.h"
#include "medtwin/fhir_bundle.h"
#include "medtwin/fhir_map.h"

namespace medtwin::fhir {

const char* ToString(BundleType t) {
  switch (t) {
    case BundleType::kTransaction:
      return "transaction";
    case BundleType::kBatch:
      return "batch";
    case BundleType::kOther:
      return "other";
  }
  return "other";
}

const char* ToString(EntryAction a) {
  switch (a) {
    case EntryAction::kNone:
      return "none";
    case EntryAction::kCreate:
      return "create";
    case EntryAction::kUpdate:
      return "update";
    case EntryAction::kDelete:
      return "delete";
    case EntryAction::kNoop:
      return "noop";
  }
  return "none";
}

Status BundleOptions::Validate() const {
  MEDTWIN_RETURN_IF_ERROR(read.Validate().WithContext("BundleOptions.read"));
  if (ids == nullptr) return Status::Invalid("BundleOptions.ids: an IdSource is required");
  return Status::Ok();
}

std::string BundleSummary::OneLine() const {
  return "entries=" + std::to_string(entries) + " accepted=" + std::to_string(accepted) +
         " rejected=" + std::to_string(rejected) + " warnings=" + std::to_string(warnings) +
         " references_rewritten=" + std::to_string(references_rewritten) +
         " conditional_references=" + std::to_string(conditional_references) +
         " seconds=" + std::to_string(seconds);
}

namespace {

// The HTTP status an entry's first error stands for (the server's table may refine it).
std::string HttpStatus(const OperationOutcome& o) {
  for (const Issue& i : o.issues()) {
    if (i.severity != IssueSeverity::kError && i.severity != IssueSeverity::kFatal) continue;
    switch (i.code) {
      case IssueType::kMultipleMatches:
        return "412 Precondition Failed";
      case IssueType::kTooLong:
        return "413 Payload Too Large";
      case IssueType::kNotSupported:
        return "405 Method Not Allowed";
      case IssueType::kStructure:
      case IssueType::kTooCostly:
        return "400 Bad Request";
      default:
        return "422 Unprocessable Entity";
    }
  }
  return "400 Bad Request";
}

struct Pending {
  int index = 0;
  Json* resource = nullptr;
  std::string full_url, method, url, if_none_exist;
  std::string type, id;
  EntryAction action = EntryAction::kNone;
  std::string ok_status;
  OperationOutcome entry_issues;     // rooted at Bundle.entry[i]
  OperationOutcome resource_issues;  // rooted at the resource type
  std::vector<Identifier> identifiers;
  std::optional<Resource> result;
  bool failed() const { return entry_issues.HasErrors() || resource_issues.HasErrors(); }
  std::string at() const { return "Bundle.entry[" + std::to_string(index) + "]"; }
};

// The entry's resource type: from request.url, else from the resource itself.
std::string EntryType(const Pending& p) {
  if (!p.type.empty() || p.resource == nullptr || !p.resource->is_object()) return p.type;
  auto rt = p.resource->find("resourceType");
  return rt != p.resource->end() && rt->is_string() ? rt->get<std::string>() : "";
}

class Processor {
 public:
  Processor(const ReferenceResolver& resolver, const BundleOptions& options, BundleResult* out)
      : resolver_(resolver), options_(options), out_(out) {}
  void Run(Json& bundle);

 private:
  void ReadEntry(Json& entry, Pending* p);
  void Plan(Pending* p);
  void PlanConditional(Pending* p, const std::string& query, bool update);
  void ReadResources();
  void Finish();

  const ReferenceResolver& resolver_;
  const BundleOptions& options_;
  BundleResult* out_;
  bool batch_ = false;
  std::vector<Pending> entries_;
  std::unordered_map<std::string, std::string> full_urls_;  // fullUrl -> Type/id
};

void Processor::Run(Json& bundle) {
  const Path root("Bundle");
  Issues issues(&out_->outcome, options_.read.max_issues);
  if (!bundle.is_object()) {
    issues.Error(IssueType::kStructure, root, "a Bundle is a JSON object");
    return;
  }
  std::string rt, type;
  if (!ReadString(bundle, "resourceType", root, issues, &rt) || rt != "Bundle") {
    issues.Error(IssueType::kInvalid, root.Child("resourceType"),
                 "expected 'Bundle', found " + (rt.empty() ? std::string("none") : Quoted(rt)));
    return;
  }
  if (!Require(bundle, "type", root, issues) ||
      !ReadCode(bundle, "type", root, issues,
                {"document", "message", "transaction", "transaction-response", "batch",
                 "batch-response", "history", "searchset", "collection"},
                &type)) {
    return;
  }
  if (type != "transaction" && type != "batch") {
    issues.Error(IssueType::kNotSupported, root.Child("type"),
                 "only transaction and batch bundles are processed, not " + Quoted(type));
    return;
  }
  out_->type = type == "batch" ? BundleType::kBatch : BundleType::kTransaction;
  batch_ = out_->type == BundleType::kBatch;
  auto entries = bundle.find("entry");
  if (entries != bundle.end() && !entries->is_array()) {
    issues.Error(IssueType::kStructure, root.Child("entry"), "must be an array");
    return;
  }
  if (entries != bundle.end()) {
    entries_.resize(entries->size());
    for (size_t i = 0; i < entries->size(); ++i) {
      entries_[i].index = static_cast<int>(i);
      ReadEntry((*entries)[i], &entries_[i]);
    }
  }
  for (Pending& p : entries_) {
    if (!p.failed()) Plan(&p);
  }
  ReadResources();
  Finish();
}

void Processor::ReadEntry(Json& entry, Pending* p) {
  const std::string at = p->at();
  if (!entry.is_object()) {
    p->entry_issues.Error(IssueType::kStructure, at, "an entry is a JSON object");
    return;
  }
  OperationOutcome& o = p->entry_issues;
  if (auto f = entry.find("fullUrl"); f != entry.end()) {
    if (!f->is_string() || f->get_ref<const std::string&>().empty()) {
      o.Error(IssueType::kStructure, at + ".fullUrl", "must be a non-empty string");
    } else {
      p->full_url = f->get<std::string>();
      if (full_urls_.count(p->full_url)) {
        o.Error(IssueType::kDuplicate, at + ".fullUrl",
                "bdl-7: fullUrl " + Quoted(p->full_url) + " appears in two entries");
      }
      full_urls_[p->full_url];  // reserved; filled once the id is known
    }
  }
  auto req = entry.find("request");
  if (req == entry.end() || !req->is_object()) {
    o.Error(IssueType::kRequired, at + ".request",
            "bdl-3: every entry of a transaction or batch needs a request object");
    return;
  }
  auto str = [&](const char* key, std::string* v) {
    auto it = req->find(key);
    if (it == req->end()) return false;
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      o.Error(IssueType::kStructure, at + ".request." + key, "must be a non-empty string");
      return false;
    }
    *v = it->get<std::string>();
    return true;
  };
  if (!str("method", &p->method) || !str("url", &p->url)) {
    if (!o.HasErrors()) {
      o.Error(IssueType::kRequired, at + ".request", "method and url are required");
    }
    return;
  }
  str("ifNoneExist", &p->if_none_exist);
  if (auto r = entry.find("resource"); r != entry.end()) p->resource = &*r;
}

void Processor::PlanConditional(Pending* p, const std::string& query, bool update) {
  const std::string at = p->at() + ".request";
  Result<SearchQuery> q = SearchQuery::Parse(p->type, query);
  Result<std::vector<std::string>> ids =
      q.ok() ? resolver_.Search(*q) : Result<std::vector<std::string>>(q.status());
  if (!ids.ok()) {
    p->entry_issues.Error(ids.status().code() == StatusCode::kUnsupported ? IssueType::kNotSupported
                                                                          : IssueType::kValue,
                          at + (update ? ".url" : ".ifNoneExist"), ids.status().message());
  } else if (ids->size() > 1) {
    p->entry_issues.Error(IssueType::kMultipleMatches, at + (update ? ".url" : ".ifNoneExist"),
                          Quoted(query) + " matches " + std::to_string(ids->size()) +
                              " resources; a conditional " + (update ? "update" : "create") +
                              " needs at most one");
  } else if (ids->size() == 1) {
    p->id = ids->front();
    p->action = p->method == "DELETE" ? EntryAction::kDelete
                : update              ? EntryAction::kUpdate
                                      : EntryAction::kNoop;
    p->ok_status = "200 OK";
    if (p->action == EntryAction::kNoop) {
      p->entry_issues.Information(at + ".ifNoneExist", "conditional create matched " + p->type +
                                                           "/" + p->id + "; nothing created");
    }
  } else if (p->method == "DELETE") {
    p->action = EntryAction::kNoop;
    p->ok_status = "204 No Content";
    p->entry_issues.Information(at + ".url", "conditional delete matched nothing");
  }
}

// Decides action and id of an entry whose request was readable.
void Processor::Plan(Pending* p) {
  const std::string at = p->at();
  OperationOutcome& o = p->entry_issues;
  const bool write = p->method == "POST" || p->method == "PUT";
  if (p->method != "DELETE" && !write) {
    o.Error(IssueType::kNotSupported, at + ".request.method",
            Quoted(p->method) + " entries are not processed (POST, PUT and DELETE are)");
    return;
  }
  const size_t q = p->url.find('?');
  const size_t slash = p->url.find('/');
  p->type = p->url.substr(0, std::min(q, slash));
  if (!IsR4ResourceType(p->type)) {
    o.Error(IssueType::kValue, at + ".request.url",
            Quoted(p->url) + " does not start with an R4 resource type");
    return;
  }
  if (write && p->resource == nullptr) {
    o.Error(IssueType::kRequired, at + ".resource", p->method + " needs a resource");
    return;
  }
  if (write && p->resource->is_object()) {
    auto rt = p->resource->find("resourceType");
    if (rt != p->resource->end() && rt->is_string() && *rt != p->type) {
      o.Error(
          IssueType::kInvalid, at + ".resource.resourceType",
          "resource is a " + Quoted(rt->get<std::string>()) + " but request.url names " + p->type);
      return;
    }
    ReadIdentifiers(*p->resource, "identifier", &p->identifiers);
  }
  if (p->method == "POST") {
    if (p->url != p->type) {
      o.Error(IssueType::kValue, at + ".request.url",
              "POST url is the type alone (" + p->type + "), not " + Quoted(p->url));
      return;
    }
    if (!p->if_none_exist.empty()) PlanConditional(p, p->if_none_exist, false);
    if (p->action != EntryAction::kNone || o.HasErrors()) return;
    const std::string uuid =
        p->full_url.rfind("urn:uuid:", 0) == 0 ? p->full_url.substr(9) : std::string();
    p->id = options_.id_from_urn_uuid && IsValidId(uuid) ? uuid : options_.ids->NewId();
    p->action = EntryAction::kCreate;
    p->ok_status = "201 Created";
    return;
  }
  if (q != std::string::npos) {
    PlanConditional(p, p->url.substr(q + 1), true);
    if (p->action != EntryAction::kNone || o.HasErrors() || p->method == "DELETE") return;
    // Conditional update that matched nothing: a create.
    auto rid = p->resource->is_object() ? p->resource->find("id") : p->resource->end();
    p->id = rid != p->resource->end() && rid->is_string() ? rid->get<std::string>()
                                                          : options_.ids->NewId();
    p->action = EntryAction::kCreate;
    p->ok_status = "201 Created";
    return;
  }
  const std::string id = slash == std::string::npos ? "" : p->url.substr(slash + 1);
  if (!IsValidId(id)) {
    o.Error(IssueType::kValue, at + ".request.url",
            Quoted(p->url) + ": expected Type/id or Type?search");
    return;
  }
  p->id = id;
  p->action = p->method == "DELETE" ? EntryAction::kDelete : EntryAction::kUpdate;
  p->ok_status = "200 OK";
  if (p->action == EntryAction::kUpdate && p->resource->is_object()) {
    auto rid = p->resource->find("id");
    if (rid != p->resource->end() && (!rid->is_string() || *rid != id)) {
      o.Error(IssueType::kInvalid, at + ".resource.id",
              "resource id does not match the id in request.url (" + id + ")");
    }
  }
}

void Processor::ReadResources() {
  std::unordered_set<std::string> bundle_ids;
  std::vector<BundleTarget> targets;
  // Entries that end up with a resource of known id: creates, updates, matched creates.
  auto has_content = [](const Pending& p) {
    return p.resource != nullptr && !p.id.empty() && p.action != EntryAction::kNone &&
           p.action != EntryAction::kDelete;
  };
  for (Pending& p : entries_) {
    if (!has_content(p)) continue;
    const std::string ref = p.type + "/" + p.id;
    if (!p.full_url.empty()) full_urls_[p.full_url] = ref;
    bundle_ids.insert(ref);
    if (p.action != EntryAction::kNoop) targets.push_back({p.type, p.id, &p.identifiers});
  }
  // fullUrls of entries that failed before an id was known resolve to nothing.
  for (auto it = full_urls_.begin(); it != full_urls_.end();) {
    it = it->second.empty() ? full_urls_.erase(it) : std::next(it);
  }
  const ObservationMap* map = !options_.read.normalize        ? nullptr
                              : options_.read.observation_map ? options_.read.observation_map
                                                              : &ObservationMap::Default();
  for (Pending& p : entries_) {
    if (!has_content(p)) continue;
    ReadContext ctx;
    ctx.options = &options_.read;
    ctx.map = map;
    ctx.refs.full_urls = &full_urls_;
    ctx.refs.batch = batch_;
    ctx.refs.targets = batch_ ? nullptr : &targets;
    ctx.refs.resolver = &resolver_;
    ctx.refs.check_targets = options_.check_reference_targets;
    ctx.refs.bundle_ids = &bundle_ids;
    if (p.resource->is_object()) (*p.resource)["id"] = p.id;
    p.result = ReadResourceJson(*p.resource, ctx, &p.resource_issues);
    out_->summary.references_rewritten += ctx.refs.rewritten;
    out_->summary.conditional_references += ctx.refs.conditional;
  }
}

void Processor::Finish() {
  const Pending* first_failure = nullptr;
  for (const Pending& p : entries_) {
    if (p.failed()) {
      first_failure = &p;
      break;
    }
  }
  const bool rollback = !batch_ && first_failure != nullptr;
  out_->ok = batch_ || first_failure == nullptr;
  BundleSummary& s = out_->summary;
  for (Pending& p : entries_) {
    EntryResult& e = out_->entries.emplace_back();
    e.index = p.index;
    e.type = EntryType(p);
    e.id = p.id;
    e.full_url = p.full_url;
    e.action = p.action;
    e.outcome = p.entry_issues;
    e.outcome.Append(p.resource_issues);
    e.accepted = !p.failed() && !rollback;
    if (e.accepted) {
      e.status = p.ok_status;
      if (p.action == EntryAction::kCreate || p.action == EntryAction::kUpdate) {
        e.resource = std::move(p.result);
      }
      if (e.outcome.empty()) e.outcome.Information("", ToString(p.action));
    } else if (p.failed()) {
      e.status = HttpStatus(e.outcome);
    } else {
      e.status =
          HttpStatus(first_failure->entry_issues.HasErrors() ? first_failure->entry_issues
                                                             : first_failure->resource_issues);
      e.outcome.Add(IssueSeverity::kError, IssueType::kProcessing, p.at(),
                    "not applied: the transaction failed at " + first_failure->at() + " (" +
                        (first_failure->entry_issues.HasErrors()
                             ? first_failure->entry_issues.FirstError()
                             : first_failure->resource_issues.FirstError()) +
                        ")");
    }
    if (p.failed()) {
      out_->outcome.Append(p.entry_issues);
      out_->outcome.Append(p.resource_issues, p.at() + ".resource");
    }
    ++s.entries;
    (e.accepted ? s.accepted : s.rejected) += 1;
    s.warnings += e.outcome.CountWarnings();
    auto& t = s.by_type[e.type.empty() ? "(unknown)" : e.type];
    (e.accepted ? t.first : t.second) += 1;
  }
}

}  // namespace

BundleResult ProcessBundle(std::string_view json, const ReferenceResolver& resolver,
                           const BundleOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  BundleResult out;
  if (Status st = options.Validate(); !st.ok()) {
    out.outcome.Error(IssueType::kInvalid, "", st.message());
    return out;
  }
  std::optional<Json> doc =
      ParseJson(json, options.read.max_bytes, options.read.max_depth, "Bundle", &out.outcome);
  if (doc) Processor(resolver, options, &out).Run(*doc);
  out.summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace medtwin::fhir
