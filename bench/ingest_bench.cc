// Ingest and read load on `medtwin serve` (issue 7), a standalone load generator rather than a
// Google Benchmark: what is measured is a server under several concurrent HTTP clients (wall
// time over a fixed workload on a fresh database, latency percentiles over many requests), not
// one function in a loop on one thread.
//
//   ingest_bench [--data DIR] [--copies N] [--clients 2,4] [--repeat 3] [--threads 8]
//                [--twin-workers 1]
//                [--read-clients 64] [--read-requests 200] [--pg URL] [--tmp DIR]
//
// Ingest: the Synthea transaction bundles of DIR/synthea/bundles, N copies of each with every
// resource id rewritten (so copies do not collide), posted to POST /fhir by C clients that take
// the next bundle from a shared queue; resources/s = resources stored / wall time from the first
// request to the last answer. Each run starts Server::Start (in this process, on 127.0.0.1) on a
// new, empty database: a SQLite file under --tmp, or, with --pg, a new PostgreSQL database
// created through URL (an administrative connection, e.g. .../postgres).
// NDJSON: the Synthea bulk export of DIR/synthea/ndjson through POST /fhir/$import, one client.
// Reads: after one ingest, R clients each send --read-requests requests alternating
// GET /fhir/Patient/{id} and GET /fhir/Observation?patient={id}&_count=50 over random patients,
// as fast as they can; latency percentiles per kind.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "medtwin/server.h"
#include "store/sql_connection.h"

namespace medtwin {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

struct Args {
  std::string data = MEDTWIN_SHARED_DATA;
  int copies = 6;  // at most 256 / files
  std::vector<int> clients = {2, 4};
  int repeat = 3;
  int threads = 8;
  int twin_workers = 1;  // the server's default: twin updates run while ingesting
  int read_clients = 64;
  int read_requests = 200;
  std::string pg;
  std::string tmp = std::filesystem::temp_directory_path().string();
};

struct Bundle {
  std::string json;
  int resources = 0;
  std::vector<std::string> patients;
};

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// The bundle with each of `ids` (36-character UUIDs) changed in its last two hex digits to
// tag `k` (0..255), wherever it occurs (ids, urn:uuid fullUrls, references).
std::string Rewrite(const std::string& text, const std::unordered_set<std::string>& ids, int k) {
  std::string out = text;
  char tag[3];
  std::snprintf(tag, sizeof tag, "%02x", k & 0xff);
  for (size_t i = 0; i + 36 <= out.size(); ++i) {
    if (out[i + 8] != '-' || out[i + 13] != '-' || !IsHex(out[i])) continue;
    if (!ids.count(out.substr(i, 36))) continue;
    out[i + 34] = tag[0];
    out[i + 35] = tag[1];
    i += 35;
  }
  return out;
}

std::vector<Bundle> LoadBundles(const Args& a) {
  std::vector<std::filesystem::path> files;
  for (const auto& f : std::filesystem::directory_iterator(a.data + "/synthea/bundles")) {
    if (f.path().extension() == ".json") files.push_back(f.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Bundle> out;
  // Every posted bundle gets its own ids (tag = copy * files + file): Synthea's patient bundles
  // share an Organization and a Practitioner, which a second transaction would create again.
  for (int k = 0; k < a.copies; ++k) {
    for (size_t fi = 0; fi < files.size(); ++fi) {
      const auto& f = files[fi];
      const int tag = k * static_cast<int>(files.size()) + static_cast<int>(fi);
      std::ifstream in(f, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      const Json j = Json::parse(ss.str());
      std::unordered_set<std::string> ids;
      Bundle b;
      for (const auto& e : j["entry"]) {
        const std::string id = e["resource"]["id"];
        if (id.size() == 36) ids.insert(id);
        if (e["resource"]["resourceType"] == "Patient") b.patients.push_back(id);
        ++b.resources;
      }
      b.json = Rewrite(ss.str(), ids, tag);
      for (std::string& p : b.patients) p = Rewrite(p, ids, tag);
      out.push_back(std::move(b));
    }
  }
  return out;
}

void DropDatabase(const Args& a, const std::string& db) {
  if (db.rfind("postgresql://", 0) != 0) {
    for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(db + s);
    return;
  }
  auto admin = store::OpenPostgres(a.pg);
  if (admin.ok()) (void)(*admin)->Query("DROP DATABASE " + db.substr(db.rfind('/') + 1));
}

std::string FreshDatabase(const Args& a, const std::string& backend, int n) {
  const std::string name = "medtwin_bench_" + std::to_string(getpid()) + "_" + std::to_string(n);
  if (backend == "sqlite") {
    const std::string path = a.tmp + "/" + name + ".db";
    DropDatabase(a, path);
    return path;
  }
  auto admin = store::OpenPostgres(a.pg);
  if (!admin.ok()) {
    std::fprintf(stderr, "%s\n", admin.status().ToString().c_str());
    std::exit(1);
  }
  auto r = (*admin)->Query("CREATE DATABASE " + name);
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  return a.pg.substr(0, a.pg.rfind('/') + 1) + name;
}

std::unique_ptr<Server> StartServer(const Args& a, const std::string& db) {
  ServerOptions o;
  o.db = db;
  o.port = 0;
  o.threads = a.threads;
  o.twin_workers = a.twin_workers;
  auto s = Server::Start(o);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(s).value();
}

// Posts every bundle with `clients` concurrent clients; resources stored per second.
double Ingest(Server& server, const std::vector<Bundle>& bundles, int clients) {
  std::atomic<size_t> next{0};
  std::atomic<int64_t> stored{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      httplib::Client http("127.0.0.1", server.port());
      http.set_read_timeout(300, 0);
      http.set_write_timeout(300, 0);
      for (size_t i; (i = next++) < bundles.size();) {
        auto r = http.Post("/fhir", bundles[i].json, "application/fhir+json");
        if (!r || r->status != 200) {
          std::fprintf(stderr, "bundle %zu: %s\n", i,
                       r ? r->body.substr(0, 300).c_str() : httplib::to_string(r.error()).c_str());
          std::exit(1);
        }
        stored += bundles[i].resources;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return static_cast<double>(stored) / s;
}

// Imports the Synthea bulk export (DIR/synthea/ndjson, in reference order) through
// POST /fhir/$import with one client; resources stored per second.
double ImportNdjson(const Args& a, Server& server) {
  httplib::Client http("127.0.0.1", server.port());
  http.set_read_timeout(300, 0);
  std::vector<std::string> bodies;
  for (const char* type : {"Organization", "Location", "Practitioner", "Patient", "Encounter",
                           "Condition", "MedicationRequest"}) {
    std::ifstream in(a.data + "/synthea/ndjson/" + type + ".000.ndjson", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    bodies.push_back(ss.str());
  }
  int64_t stored = 0;
  const auto t0 = Clock::now();
  for (const std::string& body : bodies) {
    auto r = http.Post("/fhir/$import", body, "application/fhir+ndjson");
    if (!r || r->status != 200) {
      std::fprintf(stderr, "import: %s\n", r ? r->body.substr(0, 300).c_str() : "no answer");
      std::exit(1);
    }
    stored += Json::parse(r->body)["stored"].get<int64_t>();
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return static_cast<double>(stored) / s;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

void Reads(const Args& a, Server& server, const std::vector<Bundle>& bundles) {
  std::vector<std::string> patients;
  for (const Bundle& b : bundles)
    patients.insert(patients.end(), b.patients.begin(), b.patients.end());
  std::mutex mu;
  std::vector<double> read_ms, search_ms;
  std::atomic<int> errors{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < a.read_clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client http("127.0.0.1", server.port());
      http.set_read_timeout(60, 0);
      std::mt19937 rng(static_cast<unsigned>(c));
      std::vector<double> mine_read, mine_search;
      for (int i = 0; i < a.read_requests; ++i) {
        const std::string& p = patients[rng() % patients.size()];
        const std::string path =
            i % 2 == 0 ? "/fhir/Patient/" + p : "/fhir/Observation?patient=" + p + "&_count=50";
        const auto s = Clock::now();
        auto r = http.Get(path.c_str());
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - s).count();
        if (!r || r->status != 200) ++errors;
        (i % 2 == 0 ? mine_read : mine_search).push_back(ms);
      }
      std::lock_guard lock(mu);
      read_ms.insert(read_ms.end(), mine_read.begin(), mine_read.end());
      search_ms.insert(search_ms.end(), mine_search.begin(), mine_search.end());
    });
  }
  for (auto& t : threads) t.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("reads: %d clients x %d requests, %.0f requests/s, %d errors\n", a.read_clients,
              a.read_requests, (read_ms.size() + search_ms.size()) / s, errors.load());
  std::printf("  GET /fhir/Patient/{id}: p50 %.2f ms, p99 %.2f ms (%zu requests)\n",
              Percentile(read_ms, 0.5), Percentile(read_ms, 0.99), read_ms.size());
  std::printf("  GET /fhir/Observation?patient=&_count=50: p50 %.2f ms, p99 %.2f ms (%zu)\n",
              Percentile(search_ms, 0.5), Percentile(search_ms, 0.99), search_ms.size());
}

std::vector<int> IntList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::atoi(item.c_str()));
  return out;
}

int Main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--data")
      a.data = v;
    else if (k == "--copies")
      a.copies = std::atoi(v.c_str());
    else if (k == "--clients")
      a.clients = IntList(v);
    else if (k == "--repeat")
      a.repeat = std::atoi(v.c_str());
    else if (k == "--threads")
      a.threads = std::atoi(v.c_str());
    else if (k == "--twin-workers")
      a.twin_workers = std::atoi(v.c_str());
    else if (k == "--read-clients")
      a.read_clients = std::atoi(v.c_str());
    else if (k == "--read-requests")
      a.read_requests = std::atoi(v.c_str());
    else if (k == "--pg")
      a.pg = v;
    else if (k == "--tmp")
      a.tmp = v;
    else {
      std::fprintf(stderr, "unknown option %s (see the comment at the top of ingest_bench.cc)\n",
                   k.c_str());
      return 2;
    }
  }
  const std::vector<Bundle> bundles = LoadBundles(a);
  int64_t resources = 0;
  for (const Bundle& b : bundles) resources += b.resources;
  std::printf("workload: %zu transaction bundles, %lld resources; server threads %d\n",
              bundles.size(), static_cast<long long>(resources), a.threads);
  std::vector<std::string> backends = {"sqlite"};
  if (!a.pg.empty()) backends.push_back("postgresql");
  int n = 0;
  for (const std::string& backend : backends) {
    for (int clients : a.clients) {
      std::vector<double> rates;
      for (int r = 0; r < a.repeat; ++r) {
        const std::string db = FreshDatabase(a, backend, n++);
        auto server = StartServer(a, db);
        rates.push_back(Ingest(*server, bundles, clients));
        server->Stop();
        server.reset();
        DropDatabase(a, db);
      }
      std::sort(rates.begin(), rates.end());
      std::printf("ingest %s, %d clients: median %.0f resources/s (runs:", backend.c_str(), clients,
                  rates[rates.size() / 2]);
      for (double x : rates) std::printf(" %.0f", x);
      std::printf(")\n");
    }
    std::vector<double> imports;
    for (int r = 0; r < a.repeat; ++r) {
      const std::string db = FreshDatabase(a, backend, n++);
      auto server = StartServer(a, db);
      imports.push_back(ImportNdjson(a, *server));
      server->Stop();
      server.reset();
      DropDatabase(a, db);
    }
    std::sort(imports.begin(), imports.end());
    std::printf("NDJSON import %s (7 files, 3,658 lines), 1 client: median %.0f resources/s\n",
                backend.c_str(), imports[imports.size() / 2]);
    if (a.read_clients > 0) {
      const std::string db = FreshDatabase(a, backend, n++);
      auto server = StartServer(a, db);
      Ingest(*server, bundles, 2);
      std::printf("%s ", backend.c_str());
      Reads(a, *server, bundles);
      server->Stop();
      server.reset();
      DropDatabase(a, db);
    }
  }
  return 0;
}

}  // namespace
}  // namespace medtwin

int main(int argc, char** argv) { return medtwin::Main(argc, argv); }
