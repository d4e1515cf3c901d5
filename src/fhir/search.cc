// Search queries of conditional references and conditional creates, and the in-memory resolver.
#include <algorithm>

#include "medtwin/fhir_bundle.h"

namespace medtwin::fhir {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding (RFC 3986); '+' is kept as is (FHIR search values are not form-encoded).
Result<std::string> Decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 2 < s.size() ? HexDigit(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? HexDigit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return Status::Invalid("bad percent-encoding at position " + std::to_string(i));
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace

Result<SearchQuery> SearchQuery::Parse(std::string_view text) {
  const size_t q = text.find('?');
  if (q == std::string_view::npos) return Status::Invalid("expected Type?name=value");
  return Parse(text.substr(0, q), text.substr(q + 1));
}

Result<SearchQuery> SearchQuery::Parse(std::string_view type, std::string_view query) {
  if (!IsR4ResourceType(type)) {
    std::string m = "'";
    m.append(type.substr(0, 40)).append("' is not an R4 resource type");
    return Status::Invalid(m);
  }
  SearchQuery out;
  out.type = std::string(type);
  if (query.empty()) return Status::Invalid("no search parameters");
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view part = query.substr(start, end - start);
    const size_t eq = part.find('=');
    if (eq == 0 || eq == std::string_view::npos || eq + 1 == part.size()) {
      return Status::Invalid("search parameter '" + std::string(part.substr(0, 40)) +
                             "' needs name=value");
    }
    Result<std::string> name = Decode(part.substr(0, eq));
    Result<std::string> value = Decode(part.substr(eq + 1));
    if (!name.ok()) return name.status();
    if (!value.ok()) return value.status();
    out.params.emplace_back(std::move(name).value(), std::move(value).value());
    start = end + 1;
  }
  return out;
}

std::string SearchQuery::ToString() const {
  std::string s = type + "?";
  for (size_t i = 0; i < params.size(); ++i) {
    s += (i ? "&" : "") + params[i].first + "=" + params[i].second;
  }
  return s;
}

bool IdentifierMatches(const std::vector<Identifier>& identifiers, std::string_view token) {
  const size_t bar = token.find('|');
  for (const Identifier& id : identifiers) {
    if (bar == std::string_view::npos) {
      if (id.value == token) return true;
    } else if (id.system == token.substr(0, bar) && id.value == token.substr(bar + 1)) {
      return true;  // "|value" matches identifiers without system (system == "")
    }
  }
  return false;
}

namespace {

void EraseFrom(std::unordered_multimap<std::string, std::string>* index, const std::string& key,
               const std::string& id) {
  auto [lo, hi] = index->equal_range(key);
  for (auto it = lo; it != hi; ++it) {
    if (it->second == id) {
      index->erase(it);
      return;
    }
  }
}

}  // namespace

void MemoryResolver::Add(std::string_view type, std::string_view id,
                         std::vector<Identifier> identifiers) {
  Remove(type, id);
  TypeIndex& t = by_type_[std::string(type)];
  const std::string key(id);
  for (const Identifier& i : identifiers) {
    t.by_token.emplace(i.system + "|" + i.value, key);
    t.by_value.emplace(i.value, key);
  }
  t.ids.emplace(key, std::move(identifiers));
  ++count_;
}

void MemoryResolver::Remove(std::string_view type, std::string_view id) {
  auto t = by_type_.find(std::string(type));
  if (t == by_type_.end()) return;
  auto it = t->second.ids.find(std::string(id));
  if (it == t->second.ids.end()) return;
  for (const Identifier& i : it->second) {
    EraseFrom(&t->second.by_token, i.system + "|" + i.value, it->first);
    EraseFrom(&t->second.by_value, i.value, it->first);
  }
  t->second.ids.erase(it);
  --count_;
}

Result<std::vector<std::string>> MemoryResolver::Search(const SearchQuery& query) const {
  const std::string* token = nullptr;
  for (const auto& [name, value] : query.params) {
    if (name == "identifier") {
      token = &value;
    } else if (name != "_id") {
      return Status::Unsupported("search parameter '" + name +
                                 "' is not supported (identifier, _id are)");
    }
  }
  std::vector<std::string> out;
  auto t = by_type_.find(query.type);
  if (t == by_type_.end()) return out;
  // Candidates: from the identifier index when there is an identifier parameter, else all.
  std::vector<const std::string*> candidates;
  if (token != nullptr) {
    const bool any_system = token->find('|') == std::string::npos;
    const auto& index = any_system ? t->second.by_value : t->second.by_token;
    auto [lo, hi] = index.equal_range(*token);
    for (auto it = lo; it != hi; ++it) candidates.push_back(&it->second);
  } else {
    for (const auto& [id, identifiers] : t->second.ids) candidates.push_back(&id);
  }
  for (const std::string* id : candidates) {
    const std::vector<Identifier>& identifiers = t->second.ids.at(*id);
    const bool all = std::all_of(query.params.begin(), query.params.end(), [&](const auto& p) {
      return p.first == "_id" ? *id == p.second : IdentifierMatches(identifiers, p.second);
    });
    if (all) out.push_back(*id);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<bool> MemoryResolver::Exists(std::string_view type, std::string_view id) const {
  auto t = by_type_.find(std::string(type));
  return t != by_type_.end() && t->second.ids.count(std::string(id)) > 0;
}

}  // namespace medtwin::fhir
