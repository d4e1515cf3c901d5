#include "fhir/references.h"

#include <algorithm>
#include <cctype>

namespace medtwin::fhir {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool IsBlank(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// "Type/id" or "Type/id/_history/vid".
bool IsRelativeReference(std::string_view ref) {
  const size_t slash = ref.find('/');
  if (slash == std::string_view::npos || !IsR4ResourceType(ref.substr(0, slash))) return false;
  std::string_view rest = ref.substr(slash + 1);
  const size_t hist = rest.find("/_history/");
  if (hist != std::string_view::npos) {
    if (!IsValidId(rest.substr(hist + 10))) return false;
    rest = rest.substr(0, hist);
  }
  return IsValidId(rest);
}

struct Walker {
  ReferenceContext& ctx;
  Issues& issues;
  std::vector<ReferenceUse>* uses;
  std::unordered_set<std::string> contained_ids;

  void Reference(std::string& ref, const Path& at);
  void Conditional(std::string& ref, const Path& at);
  void Value(Json& j, const Path& at, bool null_ok);
  void Object(Json& obj, const Path& at);
};

void Walker::Conditional(std::string& ref, const Path& at) {
  Result<SearchQuery> query = SearchQuery::Parse(ref);
  if (!query.ok()) {
    issues.Error(IssueType::kValue, at,
                 "invalid conditional reference " + Quoted(ref) + ": " + query.status().message());
    return;
  }
  if (ctx.resolver == nullptr && ctx.targets == nullptr) {
    issues.Error(IssueType::kNotSupported, at,
                 "conditional reference " + Quoted(ref) + " needs a resolver");
    return;
  }
  Result<std::vector<std::string>> ids = ResolveSearch(*query, ctx.targets, ctx.resolver);
  if (!ids.ok()) {
    issues.Error(ids.status().code() == StatusCode::kUnsupported ? IssueType::kNotSupported
                                                                 : IssueType::kProcessing,
                 at, "conditional reference " + Quoted(ref) + ": " + ids.status().message());
  } else if (ids->empty()) {
    issues.Error(IssueType::kNotFound, at,
                 "conditional reference " + Quoted(ref) + " matches no resource");
  } else if (ids->size() > 1) {
    issues.Error(IssueType::kMultipleMatches, at,
                 "conditional reference " + Quoted(ref) + " matches " +
                     std::to_string(ids->size()) + " resources; it must match exactly one");
  } else {
    ref = query->type + "/" + ids->front();
    ++ctx.conditional;
  }
}

void Walker::Reference(std::string& ref, const Path& at) {
  if (ref[0] == '#') {
    if (ref.size() > 1 && !contained_ids.count(ref.substr(1))) {
      issues.Error(IssueType::kNotFound, at,
                   "reference " + Quoted(ref) + " names no contained resource");
    }
    return;
  }
  if (ctx.full_urls != nullptr) {
    auto it = ctx.full_urls->find(ref);
    if (it != ctx.full_urls->end()) {
      if (ctx.batch) {
        issues.Error(IssueType::kInvalid, at,
                     "reference " + Quoted(ref) +
                         " points to another entry of this batch; batch entries must not depend "
                         "on each other (use a transaction)");
        return;
      }
      ref = it->second;
      ++ctx.rewritten;
      return;
    }
  }
  if (StartsWith(ref, "urn:uuid:") || StartsWith(ref, "urn:oid:")) {
    issues.Error(IssueType::kNotFound, at,
                 ctx.full_urls != nullptr
                     ? "reference " + Quoted(ref) + " is not the fullUrl of any entry"
                     : "reference " + Quoted(ref) + " is only meaningful inside a Bundle");
    return;
  }
  if (StartsWith(ref, "http://") || StartsWith(ref, "https://")) return;
  if (ref.find('?') != std::string::npos) {
    Conditional(ref, at);
    return;
  }
  if (!IsRelativeReference(ref)) {
    issues.Error(IssueType::kValue, at,
                 "invalid reference " + Quoted(ref) +
                     ": expected Type/id, #id, a fullUrl of the bundle, an absolute URL or "
                     "Type?search");
    return;
  }
  if (!ctx.check_targets) return;
  const size_t hist = ref.find("/_history/");
  const std::string target = hist == std::string::npos ? ref : ref.substr(0, hist);
  if (ctx.bundle_ids != nullptr && ctx.bundle_ids->count(target)) return;
  if (ctx.resolver != nullptr) {
    const size_t slash = target.find('/');
    Result<bool> exists = ctx.resolver->Exists(std::string_view(target).substr(0, slash),
                                               std::string_view(target).substr(slash + 1));
    if (exists.ok() && *exists) return;
    if (!exists.ok()) {
      issues.Error(IssueType::kProcessing, at, exists.status().message());
      return;
    }
  }
  issues.Error(IssueType::kNotFound, at, "reference " + Quoted(ref) + " names no known resource");
}

void Walker::Value(Json& j, const Path& at, bool null_ok) {
  switch (j.type()) {
    case Json::value_t::null:
      if (!null_ok) issues.Error(IssueType::kStructure, at, "null is not allowed");
      break;
    case Json::value_t::string:
      if (IsBlank(j.get_ref<const std::string&>())) {
        issues.Error(IssueType::kValue, at, "empty or blank strings are not allowed");
      }
      break;
    case Json::value_t::object:
      Object(j, at);
      break;
    default:
      break;
  }
}

void Walker::Object(Json& obj, const Path& at) {
  if (obj.empty()) {
    issues.Error(IssueType::kStructure, at, "empty objects are not allowed (ele-1)");
    return;
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& key = it.key();
    Json& v = it.value();
    if (v.is_array()) {
      if (v.empty()) {
        issues.Error(IssueType::kStructure, at.Child(key), "empty arrays are not allowed");
        continue;
      }
      // null keeps array positions aligned between "given" and its extensions "_given".
      const bool null_ok =
          key[0] == '_' ? obj.contains(std::string_view(key).substr(1)) : obj.contains("_" + key);
      for (size_t i = 0; i < v.size(); ++i) {
        Value(v[i], at.Child(key, static_cast<int>(i)), null_ok);
      }
      continue;
    }
    if (key == "reference" && v.is_string() && !v.get_ref<const std::string&>().empty()) {
      std::string& ref = v.get_ref<std::string&>();
      const Path p = at.Child(key);
      Reference(ref, p);
      if (uses != nullptr) uses->push_back({at.str(), ref});
      continue;
    }
    Value(v, at.Child(key), false);
  }
}

bool TargetMatches(const BundleTarget& t, const SearchQuery& q) {
  if (t.type != q.type) return false;
  for (const auto& [name, value] : q.params) {
    if (name == "_id") {
      if (t.id != value) return false;
    } else if (name == "identifier") {
      if (t.identifiers == nullptr || !IdentifierMatches(*t.identifiers, value)) return false;
    } else {
      return false;  // not evaluable within the bundle: left to the resolver
    }
  }
  return true;
}

}  // namespace

Result<std::vector<std::string>> ResolveSearch(const SearchQuery& query,
                                               const std::vector<BundleTarget>* targets,
                                               const ReferenceResolver* resolver) {
  std::vector<std::string> ids;
  if (targets != nullptr) {
    for (const BundleTarget& t : *targets) {
      if (TargetMatches(t, query)) ids.push_back(t.id);
    }
  }
  if (resolver != nullptr) {
    Result<std::vector<std::string>> found = resolver->Search(query);
    if (!found.ok()) return found.status();
    ids.insert(ids.end(), found->begin(), found->end());
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

void WalkResource(Json& resource, const Path& root, ReferenceContext& ctx, Issues& issues,
                  std::vector<ReferenceUse>* uses) {
  Walker w{ctx, issues, uses, {}};
  if (auto c = resource.find("contained"); c != resource.end() && c->is_array()) {
    for (const Json& r : *c) {
      if (!r.is_object()) continue;
      if (auto id = r.find("id"); id != r.end() && id->is_string()) {
        w.contained_ids.insert(id->get<std::string>());
      }
    }
  }
  w.Object(resource, root);
}

}  // namespace medtwin::fhir
