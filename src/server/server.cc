#include "medtwin/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>

#include "medtwin/fhir.h"
#include "medtwin/fhir_capability.h"
#include "server/ingest.h"
#include "server/twin_service.h"

namespace medtwin {
namespace server {
extern const char kOpenApiJson[];  // data/server/openapi.json, built in
}  // namespace server
namespace {

using Json = nlohmann::json;

struct Reply {
  Reply(int s = 200, std::string b = "", std::string type = "application/fhir+json")
      : status(s), body(std::move(b)), content_type(std::move(type)) {}
  int status = 200;
  std::string body;
  std::string content_type;
  std::map<std::string, std::string> headers;
  // A streamed body (Server-Sent Events) instead of `body`: called until it returns false.
  std::function<bool(httplib::DataSink&)> stream;
};

Reply JsonReply(int status, std::string body) {
  return {status, std::move(body), "application/json"};
}

Reply Outcome(int status, fhir::IssueType type, const std::string& expression,
              const std::string& message) {
  fhir::OperationOutcome o;
  o.Error(type, expression, message);
  return {status, o.ToJson()};
}

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kConflict:
      return 409;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kInternal:
      return 500;
    case StatusCode::kUnsupported:
      return 422;
    default:
      return 400;
  }
}

Reply FromStatus(const Status& s, const std::string& expression) {
  const fhir::IssueType t = s.code() == StatusCode::kNotFound      ? fhir::IssueType::kNotFound
                            : s.code() == StatusCode::kConflict    ? fhir::IssueType::kDuplicate
                            : s.code() == StatusCode::kUnsupported ? fhir::IssueType::kNotSupported
                            : s.code() == StatusCode::kInvalidArgument
                                ? fhir::IssueType::kInvalid
                                : fhir::IssueType::kProcessing;
  return Outcome(HttpStatusOf(s), t, expression, s.message());
}

// Random (version 4) UUIDs for server-assigned ids: unique across servers sharing a database.
class UuidIds : public fhir::IdSource {
 public:
  std::string NewId() override {
    std::lock_guard lock(mu_);
    std::uniform_int_distribution<uint64_t> d;
    uint64_t hi = d(rng_), lo = d(rng_);
    hi = (hi & ~0xF000ULL) | 0x4000ULL;
    lo = (lo & ~(3ULL << 62)) | (2ULL << 62);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
                  static_cast<unsigned long long>(hi >> 32),
                  static_cast<unsigned long long>((hi >> 16) & 0xFFFF),
                  static_cast<unsigned long long>(hi & 0xFFFF),
                  static_cast<unsigned long long>(lo >> 48),
                  static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
    return buf;
  }

 private:
  std::mutex mu_;
  std::mt19937_64 rng_{std::random_device{}()};
};

// ISO date or dateTime to the stored date key's form (UTC, ms) for comparisons.
Result<std::string> DateKey(const std::string& text) {
  auto d = fhir::ParseDateTime(text);
  if (!d.ok()) return d.status();
  return server::IsoUtc(d->epoch_ms);
}

class HttpServer : public Server {
 public:
  HttpServer(ServerOptions o, std::unique_ptr<Store> store)
      : options_(std::move(o)), store_(std::move(store)) {}

  ~HttpServer() override { Stop(); }

  Status StartTwins() {
    server::TwinServiceOptions o;
    o.db = options_.db;
    o.store = options_.store;
    o.workers = options_.twin_workers;
    auto t = server::TwinService::Start(store_.get(), o);
    if (!t.ok()) return t.status();
    twins_ = std::move(t).value();
    return Status::Ok();
  }

  int port() const override { return port_; }
  Store& store() override { return *store_; }

  void Stop() override {
    stopping_ = true;
    if (twins_) twins_->Stop();  // ends event streams and workers
    http_.stop();
    if (thread_.joinable()) thread_.join();
  }

  void Wait() override {
    if (thread_.joinable()) thread_.join();
  }

  Status Listen() {
    http_.new_task_queue = [n = options_.threads] { return new httplib::ThreadPool(n); };
    http_.set_payload_max_length(options_.max_body_bytes);
    http_.set_read_timeout(options_.read_timeout_s, 0);
    http_.set_write_timeout(options_.read_timeout_s, 0);
    http_.set_tcp_nodelay(true);
    // Errors httplib raises itself (413 too large, 400 unreadable request, 404 no route) get an
    // OperationOutcome body too.
    http_.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      const Reply r = res.status == 413
                          ? Outcome(413, fhir::IssueType::kTooLong, "",
                                    "the request body exceeds " +
                                        std::to_string(options_.max_body_bytes) + " bytes")
                          : Outcome(res.status, fhir::IssueType::kNotSupported, "",
                                    "no such endpoint: " + req.method + " " + req.path);
      res.set_content(r.body, r.content_type);
      Count("unrouted", res.status);
    });
    Route("GET", R"(/health)", "health", [this](const httplib::Request&) { return Health(); });
    Route("GET", R"(/metrics)", "metrics", [this](const httplib::Request&) { return Metrics(); });
    Route("GET", R"(/openapi.json)", "openapi",
          [](const httplib::Request&) { return JsonReply(200, server::kOpenApiJson); });
    Route("GET", R"(/fhir/metadata)", "metadata",
          [this](const httplib::Request&) { return Metadata(); });
    Route("POST", R"(/fhir/?)", "bundle",
          [this](const httplib::Request& req) { return PostBundle(req); });
    Route("POST", R"(/fhir/\$import)", "import",
          [this](const httplib::Request& req) { return Import(req); });
    Route("POST", R"(/fhir/([A-Za-z]+))", "create",
          [this](const httplib::Request& req) { return Put(req, req.matches[1], ""); });
    Route("PUT", R"(/fhir/([A-Za-z]+)/([A-Za-z0-9.\-]+))", "update",
          [this](const httplib::Request& req) { return Put(req, req.matches[1], req.matches[2]); });
    Route("GET", R"(/fhir/([A-Za-z]+)/([A-Za-z0-9.\-]+))", "read",
          [this](const httplib::Request& req) { return Read(req.matches[1], req.matches[2], 0); });
    Route("GET", R"(/fhir/([A-Za-z]+)/([A-Za-z0-9.\-]+)/_history/([0-9]+))", "vread",
          [this](const httplib::Request& req) {
            return Read(req.matches[1], req.matches[2], std::stoll(req.matches[3]));
          });
    Route("GET", R"(/fhir/([A-Za-z]+))", "search",
          [this](const httplib::Request& req) { return Search(req, req.matches[1]); });
    RouteTwins();
    // cpp-httplib 0.11 is built with a listen backlog of 5: the 6th of a burst of connects
    // (64 clients starting together) waits for a SYN retransmit, 1 s. The listening socket's
    // backlog is raised after the bind. Keep-alive stays at cpp-httplib's 5 requests per
    // connection: a worker thread serves one connection at a time, and with 100 a PostgreSQL
    // server under 64 clients and 8 threads answered some requests after 10 s (BENCHMARKS.md).
    int listen_fd = -1;
    http_.set_socket_options([&listen_fd](socket_t sock) {
      httplib::default_socket_options(sock);
      listen_fd = sock;
    });
    const int port = options_.port == 0
                         ? http_.bind_to_any_port("127.0.0.1")
                         : (http_.bind_to_port("127.0.0.1", options_.port) ? options_.port : -1);
    if (port < 0) {
      return Status::Unavailable("cannot listen on 127.0.0.1:" + std::to_string(options_.port));
    }
    if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
    port_ = port;
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return Status::Ok();
  }

 private:
  using Handler = std::function<Reply(const httplib::Request&)>;

  // The pipeline every request passes through: parse, authenticate, authorize, handle, audit.
  void Route(const char* method, const std::string& pattern, std::string name, Handler handler) {
    auto wrapped = [this, name, handler = std::move(handler)](const httplib::Request& req,
                                                              httplib::Response& res) {
      Reply reply;
      try {
        // Parse: bodies must be FHIR JSON (NDJSON for the bulk import).
        if ((req.method == "POST" || req.method == "PUT") && !req.body.empty()) {
          const std::string type = req.get_header_value("Content-Type");
          const bool ndjson = name == "import";
          const char* want = ndjson ? "application/fhir+ndjson" : "application/fhir+json";
          if (type.rfind(want, 0) != 0 &&
              type.rfind(ndjson ? "application/x-ndjson" : "application/json", 0) != 0) {
            reply = Outcome(415, fhir::IssueType::kNotSupported, "",
                            std::string("Content-Type must be ") + want + " (got '" + type + "')");
          }
        }
        // Authenticate and authorize: loopback only, the anonymous local principal may do
        // everything (the security issue replaces these two steps).
        if (reply.body.empty()) reply = handler(req);
      } catch (const std::exception& e) {
        reply = Outcome(500, fhir::IssueType::kProcessing, "",
                        std::string("internal error: ") + e.what());
      }
      // Audit: counted per route and status (the security issue adds the persistent log).
      Count(name, reply.status);
      res.status = reply.status;
      for (const auto& [k, v] : reply.headers) res.set_header(k, v);
      if (reply.stream) {
        res.set_chunked_content_provider(
            reply.content_type, [stream = std::move(reply.stream)](
                                    size_t, httplib::DataSink& sink) { return stream(sink); });
      } else {
        res.set_content(reply.body, reply.content_type);
      }
    };
    if (std::string(method) == "GET") http_.Get(pattern, wrapped);
    if (std::string(method) == "POST") http_.Post(pattern, wrapped);
    if (std::string(method) == "PUT") http_.Put(pattern, wrapped);
  }

  // The twin endpoints (docs/server.md "Twins"): JSON bodies, errors as OperationOutcome.
  void RouteTwins() {
    using Req = httplib::Request;
    auto body = [](const Req& req) { return req.body.empty() ? std::string("{}") : req.body; };
    Route("POST", R"(/twins/?)", "twin-create",
          [this, body](const Req& req) { return TwinReply(twins_->Create(body(req)), 201); });
    Route("GET", R"(/twins/?)", "twin-list", [this](const Req& req) {
      if (!req.has_param("patient")) {
        return Outcome(400, fhir::IssueType::kRequired, "patient",
                       "GET /twins needs ?patient=ID (the twins of one patient)");
      }
      return TwinReply(twins_->List(req.get_param_value("patient")));
    });
    const std::string twin = R"(/twins/([A-Za-z0-9.\-]+)/([A-Za-z0-9_+.\-]+))";
    Route("GET", twin, "twin-read", [this](const Req& req) {
      return TwinReply(twins_->Describe(req.matches[1], req.matches[2]));
    });
    Route("POST", twin + "/forecast", "twin-forecast", [this, body](const Req& req) {
      return TwinReply(twins_->Forecast(req.matches[1], req.matches[2], body(req)));
    });
    Route("POST", twin + "/whatif", "twin-whatif", [this, body](const Req& req) {
      return TwinReply(twins_->WhatIf(req.matches[1], req.matches[2], body(req)));
    });
    Route("POST", twin + "/dose", "twin-dose", [this, body](const Req& req) {
      return TwinReply(twins_->Dose(req.matches[1], req.matches[2], body(req)));
    });
    Route("GET", twin + "/alerts", "twin-alerts",
          [this](const Req& req) { return AlertsReply(req, req.matches[1], req.matches[2]); });
    Route("GET", R"(/alerts)", "alerts", [this](const Req& req) {
      return AlertsReply(req, req.get_param_value("patient"), req.get_param_value("model"));
    });
    Route("GET", R"(/events)", "events", [this](const Req& req) { return Events(req); });
  }

  static Reply TwinReply(const Result<std::string>& r, int ok_status = 200) {
    if (!r.ok()) return FromStatus(r.status(), "twin");
    return JsonReply(ok_status, *r);
  }

  Reply AlertsReply(const httplib::Request& req, const std::string& patient,
                    const std::string& model) {
    const int64_t after = std::atoll(req.get_param_value("after").c_str());
    const int count =
        req.has_param("_count") ? std::atoi(req.get_param_value("_count").c_str()) : 100;
    return TwinReply(twins_->Alerts(patient, model, after, count));
  }

  // Server-Sent Events: one "twin-update" event per new twin revision, id = its sequence
  // number; a client resumes with Last-Event-ID (events of this process's lifetime, the last
  // 10,000). Each stream holds one HTTP thread, so at most half of them stream at once.
  Reply Events(const httplib::Request& req) {
    const std::string last = req.get_header_value("Last-Event-ID");
    int64_t after = !last.empty()            ? std::atoll(last.c_str())
                    : req.has_param("after") ? std::atoll(req.get_param_value("after").c_str())
                                             : twins_->LastEventSeq();
    if (streams_.fetch_add(1) >= std::max(1, options_.threads / 2)) {
      --streams_;
      return Outcome(503, fhir::IssueType::kProcessing, "",
                     "too many event streams open; try again later");
    }
    Reply r{200, "", "text/event-stream"};
    r.headers["Cache-Control"] = "no-cache";
    auto guard = std::shared_ptr<void>(nullptr, [this](void*) { --streams_; });
    std::string patient = req.get_param_value("patient");
    if (patient.rfind("Patient/", 0) == 0) patient = patient.substr(8);
    r.stream = [this, after, guard, patient](httplib::DataSink& sink) mutable {
      if (stopping_) {
        sink.done();
        return true;
      }
      auto events = twins_->Events(after, patient, std::chrono::seconds(10));
      std::string out = events.empty() ? ": keep-alive\n\n" : "";
      for (const server::TwinNotice& e : events) {
        out += "id: " + std::to_string(e.seq) + "\nevent: twin-update\ndata: " + e.json + "\n\n";
        after = e.seq;
      }
      return sink.write(out.data(), out.size());
    };
    return r;
  }

  void Count(const std::string& route, int status) {
    std::lock_guard lock(metrics_mu_);
    ++requests_[{route, status}];
  }

  Reply Health() {
    auto pending = store_->PendingJobs();
    if (!pending.ok()) return FromStatus(pending.status(), "store");
    Json j = {{"status", "ok"}, {"store", store_->backend()}, {"pending_jobs", *pending}};
    return {200, j.dump(), "application/json"};
  }

  Reply Metrics() {
    std::string out =
        "# HELP medtwin_http_requests_total HTTP requests by route and status.\n"
        "# TYPE medtwin_http_requests_total counter\n";
    {
      std::lock_guard lock(metrics_mu_);
      for (const auto& [key, n] : requests_) {
        out += "medtwin_http_requests_total{route=\"" + key.first + "\",status=\"" +
               std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
      }
    }
    out +=
        "# HELP medtwin_resources_ingested_total Resources stored from requests.\n"
        "# TYPE medtwin_resources_ingested_total counter\n"
        "medtwin_resources_ingested_total " +
        std::to_string(ingested_.load()) + "\n";
    auto pending = store_->PendingJobs();
    if (pending.ok()) {
      out +=
          "# HELP medtwin_jobs_pending Twin updates queued or running.\n"
          "# TYPE medtwin_jobs_pending gauge\nmedtwin_jobs_pending " +
          std::to_string(*pending) + "\n";
    }
    const server::TwinServiceCounters c = twins_->counters();
    auto counter = [&out](const char* name, const char* help, const std::string& value) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
             " " + value + "\n";
    };
    counter("medtwin_twin_jobs_total", "Twin-update jobs run.", std::to_string(c.jobs_done));
    counter("medtwin_twin_job_retries_total", "Jobs retried after a concurrent twin change.",
            std::to_string(c.jobs_retried));
    counter("medtwin_twin_updates_total", "Twin revisions committed.",
            std::to_string(c.twin_updates));
    counter("medtwin_twin_rebuilds_total",
            "Twins rebuilt from the record (late or corrected data).", std::to_string(c.rebuilds));
    counter("medtwin_twin_job_seconds_total", "Time spent in twin-update jobs.",
            std::to_string(c.job_seconds));
    return {200, out, "text/plain; version=0.0.4"};
  }

  Reply Metadata() {
    fhir::CapabilityOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(port_) + "/fhir";
    o.date = server::IsoUtc(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
    o.resources = fhir::DefaultResources();
    auto cs = fhir::CapabilityStatementJson(o);
    if (!cs.ok()) return FromStatus(cs.status(), "CapabilityStatement");
    return {200, *cs};
  }

  Reply PostBundle(const httplib::Request& req) {
    server::IngestResult r = server::IngestBundle(req.body, store_.get(), &ids_);
    if (!r.store_status.ok()) return FromStatus(r.store_status, "Bundle");
    if (r.bundle.entries.empty() && !r.bundle.ok) return {400, r.bundle.outcome.ToJson()};
    if (r.bundle.type == fhir::BundleType::kTransaction && !r.bundle.ok) {
      return {400, r.bundle.outcome.ToJson()};
    }
    for (const StoredResource& s : r.stored) ingested_ += !s.type.empty();
    twins_->Wake();
    return {200, server::ResponseBundleJson(r)};
  }

  Reply Import(const httplib::Request& req) {
    auto r = server::ImportNdjson(req.body, store_.get());
    if (!r.ok()) return FromStatus(r.status(), "");
    ingested_ += r->stored;
    if (r->stored > 0) twins_->Wake();
    // Nothing stored because the store failed: 503, so the client retries the whole body.
    const int status = r->stored == 0 && !r->store_status.ok() ? 503 : 200;
    return {status, server::ImportSummaryJson(*r), "application/json"};
  }

  Reply Put(const httplib::Request& req, const std::string& type, const std::string& id) {
    fhir::ReadOptions ro;
    ro.max_bytes = options_.max_body_bytes;
    ro.expected_type = type;
    server::StoreResolver resolver(store_.get());
    fhir::ResourceOutcome o = fhir::ReadResource(req.body, ro, &resolver);
    if (!o.accepted()) return {400, o.outcome.ToJson()};
    fhir::Resource& r = *o.resource;
    if (id.empty()) {
      r.id = ids_.NewId();
      Json j = Json::parse(r.json);
      j["id"] = r.id;
      r.json = j.dump();
    } else if (r.id != id) {
      return Outcome(400, fhir::IssueType::kValue, type + ".id",
                     "the resource's id '" + r.id + "' differs from the URL's '" + id + "'");
    }
    ResourceWrite w;
    std::vector<JobRequest> jobs;
    server::IndexResource(r, &w, &jobs);
    const std::string if_match = req.get_header_value("If-Match");
    if (!if_match.empty()) {
      const size_t q = if_match.find('"');
      w.if_match = std::atoll(if_match.c_str() + (q == std::string::npos ? 0 : q + 1));
    }
    w.if_none_exist = id.empty();
    auto stored = store_->Write({w}, jobs);
    if (!stored.ok()) {
      Reply e = FromStatus(stored.status(), type);
      if (!if_match.empty() && stored.status().code() == StatusCode::kConflict) e.status = 412;
      return e;
    }
    ++ingested_;
    if (!jobs.empty()) twins_->Wake();
    const StoredResource& s = (*stored)[0];
    Reply reply{s.version == 1 ? 201 : 200, server::WithMeta(s)};
    reply.headers["Location"] =
        "/fhir/" + type + "/" + s.id + "/_history/" + std::to_string(s.version);
    reply.headers["ETag"] = "W/\"" + std::to_string(s.version) + "\"";
    return reply;
  }

  Reply Read(const std::string& type, const std::string& id, int64_t version) {
    if (!fhir::IsR4ResourceType(type)) {
      return Outcome(404, fhir::IssueType::kNotSupported, "",
                     "'" + type + "' is not an R4 resource type");
    }
    auto r = version > 0 ? store_->ReadVersion(type, id, version) : store_->Read(type, id);
    if (!r.ok()) return FromStatus(r.status(), type);
    if (r->deleted) {
      return Outcome(410, fhir::IssueType::kNotFound, type, type + "/" + id + " was deleted");
    }
    Reply reply{200, server::WithMeta(*r)};
    reply.headers["ETag"] = "W/\"" + std::to_string(r->version) + "\"";
    return reply;
  }

  Reply Search(const httplib::Request& req, const std::string& type) {
    if (!fhir::IsR4ResourceType(type)) {
      return Outcome(404, fhir::IssueType::kNotSupported, "",
                     "'" + type + "' is not an R4 resource type");
    }
    SearchQuery q;
    q.type = type;
    for (const auto& [name, value] : req.params) {
      auto bad = [&](const std::string& why) {
        return Outcome(400, fhir::IssueType::kValue, "",
                       "search parameter " + name + "=" + value + ": " + why);
      };
      if (name == "patient" || name == "subject") {
        q.tokens.push_back(
            {"patient", value.find('/') == std::string::npos ? "Patient/" + value : value});
      } else if (name == "code" || name == "identifier") {
        q.tokens.push_back({name, value});
      } else if (name == "date" || name == "_lastUpdated") {
        if (value.size() < 3) return bad("expected a prefix ge or lt and a date");
        const std::string prefix = value.substr(0, 2);
        auto key = DateKey(value.substr(2));
        if (!key.ok()) return bad(key.status().message());
        if (prefix != "ge" && prefix != "lt")
          return bad("only the prefixes ge and lt are supported");
        if (name == "date") {
          (prefix == "ge" ? q.date_from : q.date_to) = *key;
        } else {
          auto d = fhir::ParseDateTime(value.substr(2));
          (prefix == "ge" ? q.updated_from : q.updated_to) = d->epoch_ms * 1000;
        }
      } else if (name == "_count") {
        q.count = std::atoi(value.c_str());
      } else if (name == "_cursor") {
        q.after = std::atoll(value.c_str());
      } else {
        return Outcome(400, fhir::IssueType::kNotSupported, "",
                       "search parameter '" + name +
                           "' is not supported (patient, subject, code, identifier, date, "
                           "_lastUpdated, _count)");
      }
    }
    auto page = store_->Search(q);
    if (!page.ok()) return FromStatus(page.status(), "search");
    std::string body = R"({"resourceType":"Bundle","type":"searchset","total":)" +
                       std::to_string(page->total) + R"(,"link":[)";
    if (page->next != 0) {
      std::string next = "/fhir/" + type + "?";
      for (const auto& [name, value] : req.params) {
        if (name != "_cursor")
          next += name + "=" + httplib::detail::encode_query_param(value) + "&";
      }
      next += "_cursor=" + std::to_string(page->next);
      body += R"({"relation":"next","url":)" + Json(next).dump() + "}";
    }
    body += R"(],"entry":[)";
    for (size_t i = 0; i < page->resources.size(); ++i) {
      const StoredResource& r = page->resources[i];
      if (i) body += ",";
      body += R"({"fullUrl":)" + Json("/fhir/" + r.type + "/" + r.id).dump() + R"(,"resource":)" +
              server::WithMeta(r) + R"(,"search":{"mode":"match"}})";
    }
    body += "]}";
    return {200, body};
  }

  ServerOptions options_;
  std::unique_ptr<Store> store_;
  httplib::Server http_;
  std::thread thread_;
  int port_ = 0;
  UuidIds ids_;
  std::mutex metrics_mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::atomic<int64_t> ingested_{0};
  std::unique_ptr<server::TwinService> twins_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> streams_{0};
};

}  // namespace

Status ServerOptions::Validate() const {
  if (db.empty()) return Status::Invalid("--db: empty");
  if (port < 0 || port > 65535) return Status::Invalid("--port must be within 0..65535");
  if (max_body_bytes == 0) return Status::Invalid("max_body_bytes must be > 0");
  if (read_timeout_s <= 0) return Status::Invalid("read_timeout_s must be > 0");
  if (threads <= 0) return Status::Invalid("threads must be > 0");
  if (twin_workers < 0 || twin_workers > 64) {
    return Status::Invalid("--twin-workers must be within 0..64");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  auto store = OpenStore(options.db, options.store);
  if (!store.ok()) return store.status();
  auto s = std::make_unique<HttpServer>(options, std::move(store).value());
  MEDTWIN_RETURN_IF_ERROR(s->StartTwins());
  MEDTWIN_RETURN_IF_ERROR(s->Listen());
  return std::unique_ptr<Server>(std::move(s));
}

}  // namespace medtwin
