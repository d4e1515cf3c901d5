#include "server/ingest.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace medtwin::server {

std::string IsoUtc(int64_t epoch_ms) {
  const int64_t ms = ((epoch_ms % 1000) + 1000) % 1000;
  const std::time_t secs = static_cast<std::time_t>((epoch_ms - ms) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

namespace {

// The end of the JSON value starting at `pos` (after whitespace), or npos if the text ends first.
size_t SkipValue(std::string_view t, size_t pos) {
  int depth = 0;
  for (size_t i = pos; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '"') {
      for (++i; i < t.size() && t[i] != '"'; ++i) i += t[i] == '\\';
      if (i >= t.size()) return std::string_view::npos;
      if (depth == 0) return i + 1;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return i;  // the end of a scalar inside a container
      if (--depth == 0) return i + 1;
    } else if (depth == 0 && c == ',') {
      return i;
    }
  }
  return depth == 0 ? t.size() : std::string_view::npos;
}

struct Member {
  std::string_view key, text;  // key without quotes (raw), text = "key":value
  size_t value_begin = 0;      // offset of the value in `text`
};

// The members of the object `t` (compact JSON as the store holds it: no whitespace between
// tokens); false if `t` is not such an object.
bool Members(std::string_view t, std::vector<Member>* out) {
  if (t.size() < 2 || t.front() != '{' || t.back() != '}') return false;
  size_t i = 1;
  while (i < t.size() - 1) {
    if (t[i] != '"') return false;
    const size_t key_end = SkipValue(t, i);
    if (key_end == std::string_view::npos || key_end >= t.size() || t[key_end] != ':') return false;
    const size_t end = SkipValue(t, key_end + 1);
    if (end == std::string_view::npos || end == key_end + 1) return false;
    out->push_back({t.substr(i + 1, key_end - i - 2), t.substr(i, end - i), key_end + 1 - i});
    if (t[end] == ',') {
      i = end + 1;
    } else if (end == t.size() - 1) {
      break;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string WithMeta(const StoredResource& r) {
  const std::string fields = R"("versionId":")" + std::to_string(r.version) +
                             R"(","lastUpdated":")" + IsoUtc(r.last_updated / 1000) + "\"";
  std::vector<Member> members, meta;
  if (Members(r.json, &members)) {
    std::string out = "{\"meta\":{" + fields;
    bool meta_ok = true;
    for (const Member& m : members) {
      if (m.key != "meta") continue;
      meta_ok = Members(m.text.substr(m.value_begin), &meta);
      for (const Member& f : meta) {
        if (f.key != "versionId" && f.key != "lastUpdated") out += "," + std::string(f.text);
      }
    }
    out += "}";
    for (const Member& m : members) {
      if (m.key != "meta") out += "," + std::string(m.text);
    }
    if (meta_ok) return out + "}";
  }
  // Not the compact form the store writes: parse and serialise.
  nlohmann::json j = nlohmann::json::parse(r.json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return r.json;
  if (j.contains("meta") && !j["meta"].is_object()) return r.json;
  j["meta"]["versionId"] = std::to_string(r.version);
  j["meta"]["lastUpdated"] = IsoUtc(r.last_updated / 1000);
  return j.dump();
}

Result<std::vector<std::string>> StoreResolver::Search(const fhir::SearchQuery& query) const {
  std::string key = query.type;  // length-prefixed parts: no two queries share a key
  for (const auto& [name, value] : query.params) {
    key +=
        "|" + std::to_string(name.size()) + ":" + name + std::to_string(value.size()) + ":" + value;
  }
  if (auto it = answers_.find(key); it != answers_.end()) return it->second;
  auto ids = SearchStore(query);
  if (ids.ok()) answers_[key] = *ids;
  return ids;
}

Result<std::vector<std::string>> StoreResolver::SearchStore(const fhir::SearchQuery& query) const {
  SearchQuery q;
  q.type = query.type;
  q.count = 1000;
  for (const auto& [name, value] : query.params) {
    if (name == "_id") {
      auto r = store_->Read(query.type, value);
      if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
      if (!r.ok() || r->deleted) return std::vector<std::string>{};
      if (query.params.size() == 1) return std::vector<std::string>{value};
      continue;  // other parameters narrow below; _id must also match
    }
    if (name != "identifier") {
      return Status::Unsupported("search parameter '" + name + "' is not supported in " +
                                 query.type +
                                 " conditional references (supported: identifier, _id)");
    }
    q.tokens.push_back({"identifier", value});  // "system|value", "|value" or any-system "value"
  }
  std::vector<std::string> ids;
  auto page = store_->Search(q);
  if (!page.ok()) return page.status();
  for (const StoredResource& r : page->resources) ids.push_back(r.id);
  for (const auto& [name, value] : query.params) {
    if (name == "_id") std::erase_if(ids, [&](const std::string& id) { return id != value; });
  }
  return ids;
}

Result<bool> StoreResolver::Exists(std::string_view type, std::string_view id) const {
  auto r = store_->Read(std::string(type), std::string(id));
  if (r.ok()) return !r->deleted;
  if (r.status().code() == StatusCode::kNotFound) return false;
  return r.status();
}

void IndexResource(const fhir::Resource& r, ResourceWrite* w, std::vector<JobRequest>* jobs) {
  w->type = r.type;
  w->id = r.id;
  w->json = r.json;
  for (const fhir::Identifier& i : r.identifiers) {
    w->tokens.push_back({"identifier", i.system + "|" + i.value});
    w->tokens.push_back({"identifier", i.value});  // searched without a system
  }
  std::string patient;
  if (r.type == "Patient") patient = "Patient/" + r.id;
  for (const fhir::ReferenceUse& u : r.references) {
    const bool about = u.path == r.type + ".subject" || u.path == r.type + ".patient";
    if (about && u.reference.rfind("Patient/", 0) == 0 && patient.empty()) patient = u.reference;
  }
  if (!patient.empty()) w->tokens.push_back({"patient", patient});
  if (const auto* obs = std::get_if<fhir::Observation>(&r.typed)) {
    auto codes = [&](const fhir::CodeableConcept& c) {
      for (const fhir::Coding& k : c.coding) {
        w->tokens.push_back({"code", k.system + "|" + k.code});
        w->tokens.push_back({"code", k.code});  // a code searched without its system
      }
    };
    codes(obs->code);
    for (const auto& c : obs->components) codes(c.code);
    if (obs->effective_start) w->date = IsoUtc(obs->effective_start->epoch_ms);
  }
  const bool feeds_twins = r.type == "Observation" || r.type == "MedicationAdministration";
  if (feeds_twins && !patient.empty() && r.type != "Patient") {
    jobs->push_back({"twin-update", patient, r.type + "/" + r.id});
  }
}

IngestResult IngestBundle(std::string_view json, Store* store, fhir::IdSource* ids,
                          const fhir::ReadOptions& read) {
  IngestResult out;
  StoreResolver resolver(store);
  fhir::BundleOptions o;
  o.read = read;
  o.ids = ids;
  out.bundle = fhir::ProcessBundle(json, resolver, o);
  out.stored.resize(out.bundle.entries.size());
  // A create of an id already stored with the same content is a repeat, not a conflict: the
  // same data sent again (a retried transaction), or a resource every bundle of one export
  // carries (2019 Synthea repeats a shared Organization and Practitioner in each patient's
  // bundle). It answers 200 with the stored version and writes nothing. The same id with other
  // content still conflicts (409).
  auto repeat_of = [&](size_t i, const ResourceWrite& w) {
    if (!w.if_none_exist) return false;
    auto cur = store->Read(w.type, w.id);
    if (!cur.ok() || cur->deleted || cur->json != w.json) return false;
    out.stored[i] = *cur;
    out.bundle.entries[i].status = "200 OK";
    return true;
  };
  auto write_of = [](const fhir::EntryResult& e, ResourceWrite* w, std::vector<JobRequest>* jobs) {
    if (e.action == fhir::EntryAction::kDelete) {
      w->type = e.type;
      w->id = e.id;
      w->is_delete = true;
      return true;
    }
    if ((e.action == fhir::EntryAction::kCreate || e.action == fhir::EntryAction::kUpdate) &&
        e.resource) {
      IndexResource(*e.resource, w, jobs);
      w->if_none_exist = e.action == fhir::EntryAction::kCreate;
      return true;
    }
    return false;  // kNoop (conditional create matched) or rejected
  };
  if (out.bundle.type == fhir::BundleType::kTransaction) {
    if (!out.bundle.ok) return out;
    std::vector<ResourceWrite> writes;
    std::vector<JobRequest> jobs;
    std::vector<size_t> index;
    for (size_t i = 0; i < out.bundle.entries.size(); ++i) {
      ResourceWrite w;
      std::vector<JobRequest> j;
      if (write_of(out.bundle.entries[i], &w, &j) && !repeat_of(i, w)) {
        writes.push_back(std::move(w));
        jobs.insert(jobs.end(), j.begin(), j.end());
        index.push_back(i);
      }
    }
    auto stored = store->Write(writes, jobs);
    if (!stored.ok()) {
      out.store_status = stored.status();
      return out;
    }
    for (size_t k = 0; k < index.size(); ++k) out.stored[index[k]] = (*stored)[k];
    return out;
  }
  // Batch: entries are independent. They are written in one transaction (one sync, not one
  // per entry) and only when that fails, because some entry conflicts, one by one, so each
  // entry gets its own outcome either way.
  std::vector<ResourceWrite> writes;
  std::vector<std::vector<JobRequest>> jobs;
  std::vector<size_t> index;
  for (size_t i = 0; i < out.bundle.entries.size(); ++i) {
    const fhir::EntryResult& e = out.bundle.entries[i];
    ResourceWrite w;
    std::vector<JobRequest> j;
    if (e.accepted && write_of(e, &w, &j) && !repeat_of(i, w)) {
      writes.push_back(std::move(w));
      jobs.push_back(std::move(j));
      index.push_back(i);
    }
  }
  const auto stored = WriteTogetherOrEach(store, writes, jobs);
  for (size_t k = 0; k < index.size(); ++k) {
    if (stored[k].ok()) {
      out.stored[index[k]] = *stored[k];
      continue;
    }
    fhir::EntryResult& e = out.bundle.entries[index[k]];
    e.accepted = false;
    e.status = stored[k].status().code() == StatusCode::kConflict ? "409 Conflict"
                                                                  : "503 Service Unavailable";
    e.outcome.Error(fhir::IssueType::kProcessing, e.type, stored[k].status().message());
  }
  return out;
}

std::vector<Result<StoredResource>> WriteTogetherOrEach(
    Store* store, const std::vector<ResourceWrite>& writes,
    const std::vector<std::vector<JobRequest>>& jobs) {
  std::vector<JobRequest> all_jobs;
  for (const auto& j : jobs) all_jobs.insert(all_jobs.end(), j.begin(), j.end());
  std::vector<Result<StoredResource>> out;
  auto together = store->Write(writes, all_jobs);
  if (together.ok()) {
    for (StoredResource& s : *together) out.emplace_back(std::move(s));
    return out;
  }
  for (size_t k = 0; k < writes.size(); ++k) {
    auto one = store->Write({writes[k]}, jobs[k]);
    if (one.ok()) {
      out.emplace_back(std::move((*one)[0]));
    } else {
      out.emplace_back(one.status());
    }
  }
  return out;
}

std::string ResponseBundleJson(const IngestResult& r) {
  nlohmann::json b = {{"resourceType", "Bundle"},
                      {"type", r.bundle.type == fhir::BundleType::kBatch ? "batch-response"
                                                                         : "transaction-response"},
                      {"entry", nlohmann::json::array()}};
  for (size_t i = 0; i < r.bundle.entries.size(); ++i) {
    const fhir::EntryResult& e = r.bundle.entries[i];
    nlohmann::json resp = {{"status", e.status}};
    if (!r.stored[i].type.empty()) {
      resp["location"] = e.type + "/" + e.id + "/_history/" + std::to_string(r.stored[i].version);
      resp["etag"] = "W/\"" + std::to_string(r.stored[i].version) + "\"";
      resp["lastModified"] = IsoUtc(r.stored[i].last_updated / 1000);
    }
    if (!e.outcome.empty() && (e.outcome.HasErrors() || e.outcome.CountWarnings() > 0)) {
      resp["outcome"] = nlohmann::json::parse(e.outcome.ToJson());
    }
    b["entry"].push_back({{"response", resp}});
  }
  return b.dump();
}

Status ImportOptions::Validate() const {
  if (chunk_lines < 1 || chunk_lines > 100000) {
    return Status::Invalid("chunk_lines must be within 1..100000 (got " +
                           std::to_string(chunk_lines) + ")");
  }
  if (max_listed_errors < 0) return Status::Invalid("max_listed_errors must be >= 0");
  return read.Validate();
}

namespace {

// Reads one chunk (`first_line` is the body line number of its first line) and stores what was
// accepted; counts and rejections go to `out`.
void ImportChunk(std::string_view chunk, int first_line, Store* store, const ImportOptions& o,
                 ImportSummary* out) {
  auto reject = [&](int line, fhir::OperationOutcome outcome) {
    ++out->rejected;
    if (out->rejected_lines.size() < static_cast<size_t>(o.max_listed_errors)) {
      out->rejected_lines.push_back({line, std::move(outcome)});
    }
  };
  StoreResolver resolver(store);
  fhir::NdjsonResult read = fhir::ReadNdjson(chunk, o.read, &resolver, false);
  out->lines += read.summary.lines;
  out->warnings += read.summary.warnings;
  std::vector<ResourceWrite> writes;
  std::vector<std::vector<JobRequest>> jobs;
  std::vector<int> lines;
  for (fhir::NdjsonLine& l : read.lines) {
    const int line = first_line + l.line - 1;
    if (!l.result.accepted()) {
      reject(line, std::move(l.result.outcome));
      continue;
    }
    IndexResource(*l.result.resource, &writes.emplace_back(), &jobs.emplace_back());
    lines.push_back(line);
  }
  const auto stored = WriteTogetherOrEach(store, writes, jobs);
  for (size_t k = 0; k < stored.size(); ++k) {
    if (stored[k].ok()) {
      ++out->stored;
      ++out->stored_by_type[writes[k].type];
      continue;
    }
    out->store_status = stored[k].status();
    fhir::OperationOutcome why;
    why.Error(fhir::IssueType::kProcessing, writes[k].type,
              "not stored: " + stored[k].status().message());
    reject(lines[k], std::move(why));
  }
}

}  // namespace

Result<ImportSummary> ImportNdjson(std::string_view text, Store* store,
                                   const ImportOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  ImportSummary out;
  // Chunks end at line breaks, so line numbers continue across them.
  size_t pos = 0;
  int line = 1;
  while (pos < text.size()) {
    size_t end = pos;
    int n = 0;
    while (end < text.size() && n < options.chunk_lines) {
      const size_t nl = text.find('\n', end);
      end = nl == std::string_view::npos ? text.size() : nl + 1;
      ++n;
    }
    ImportChunk(text.substr(pos, end - pos), line, store, options, &out);
    line += n;
    pos = end;
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

std::string ImportSummaryJson(const ImportSummary& s) {
  nlohmann::json j = {{"lines", s.lines},
                      {"stored", s.stored},
                      {"rejected", s.rejected},
                      {"warnings", s.warnings},
                      {"stored_by_type", s.stored_by_type},
                      {"seconds", s.seconds},
                      {"rejected_lines", nlohmann::json::array()}};
  for (const RejectedLine& r : s.rejected_lines) {
    j["rejected_lines"].push_back(
        {{"line", r.line}, {"outcome", nlohmann::json::parse(r.outcome.ToJson())}});
  }
  j["rejected_lines_not_listed"] = s.rejected - static_cast<int64_t>(s.rejected_lines.size());
  if (!s.store_status.ok()) j["store_error"] = s.store_status.message();
  return j.dump();
}

}  // namespace medtwin::server
