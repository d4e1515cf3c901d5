// Crash safety of `medtwin serve` (issue 7): the real binary runs as a child process on a SQLite
// file (and, for a few cycles, on a real PostgreSQL server from scripts/pg-test-server.sh);
// client threads POST small transaction bundles as fast as they can; the server is SIGKILLed at
// a random moment and restarted on the same database, many times. After each restart:
//   - every acknowledged resource (HTTP 200 on its bundle) is readable with at least the
//     acknowledged version;
//   - every bundle is all or nothing: its new resources are either all stored or none is, whether
//     it was acknowledged or cut off by the kill;
// and at the end every stored Observation has exactly one twin-update job, no job names an
// Observation that was not stored, and the restarted server's workers run every job to done
// (the jobs its killed predecessor had claimed included).
//
// Twins through crashes (TwinsTakeInEveryStoredLevelExactlyOnce): patients with vancomycin twins
// receive drug levels while the server is killed and restarted; at the end each twin has taken
// in every stored level of its patient exactly once (no update lost, none applied twice, none
// half applied) and its latest observation is the patient's latest level.
//
// The seed of the kill times is printed; MEDTWIN_CRASH_SEED=N repeats a run's schedule.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/pg_test_server.h"
#include "store/sql_connection.h"

namespace medtwin {
namespace {

using Json = nlohmann::json;

constexpr int kClients = 4;
constexpr int kObservationsPerBundle = 3;

// A `medtwin serve --port 0` child; the port is read from its first line on stdout.
class ServerProcess {
 public:
  // Returns false (with `error` set) if the server did not report its port within 30 s.
  bool Start(const std::string& db, std::string* error) {
    int out[2];
    if (pipe(out) != 0) return Fail("pipe", error);
    pid_ = fork();
    if (pid_ < 0) return Fail("fork", error);
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      const std::string bin = std::string(MEDTWIN_BINARY_DIR) + "/medtwin";
      execl(bin.c_str(), bin.c_str(), "serve", "--db", db.c_str(), "--port", "0", "--threads", "4",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    std::string text;
    const std::string marker = "serving on http://127.0.0.1:";
    while (text.find('\n', text.find(marker)) == std::string::npos ||
           text.find(marker) == std::string::npos) {
      pollfd p{out[0], POLLIN, 0};
      char buf[512];
      ssize_t n = 0;
      if (poll(&p, 1, 30000) <= 0 || (n = read(out[0], buf, sizeof buf)) <= 0) {
        close(out[0]);
        Kill();
        *error = "the server did not report its port; its output: " + text;
        return false;
      }
      text.append(buf, n);
    }
    close(out[0]);  // the server prints nothing after its banner
    port_ = std::atoi(text.c_str() + text.find(marker) + marker.size());
    return port_ > 0;
  }

  void Kill(int signal = SIGKILL) {
    if (pid_ <= 0) return;
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = 0;
  }

  ~ServerProcess() { Kill(); }
  int port() const { return port_; }

 private:
  bool Fail(const char* what, std::string* error) {
    *error = std::string(what) + " failed";
    return false;
  }
  pid_t pid_ = 0;
  int port_ = 0;
};

// One transaction bundle: a new Patient (or an update of one already acknowledged) and new
// Observations about it, with the ids the client chose.
struct SentBundle {
  std::vector<std::pair<std::string, std::string>> created;  // (type, id) new in this bundle
  std::string updated_patient;                               // id, or empty
  bool acknowledged = false;
  std::map<std::string, int64_t> versions;  // "Type/id" -> acknowledged version
};

std::string ObservationJson(const std::string& id, const std::string& patient, int k) {
  return R"({"resourceType":"Observation","id":")" + id +
         R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)"
         R"("subject":{"reference":"Patient/)" +
         patient + R"("},"effectiveDateTime":"2024-03-01T10:)" + (k < 10 ? "0" : "") +
         std::to_string(k % 60) + R"(:00Z","valueQuantity":{"value":)" + std::to_string(60 + k) +
         R"(,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}})";
}

std::string Entry(const std::string& type, const std::string& id, const std::string& resource) {
  return R"({"resource":)" + resource + R"(,"request":{"method":"PUT","url":")" + type + "/" + id +
         R"("}})";
}

// The bundle text for `b`, whose patient is `patient`, update number `revision` (0: new).
std::string BundleJson(const SentBundle& b, const std::string& patient, int revision) {
  std::string entries = Entry("Patient", patient,
                              R"({"resourceType":"Patient","id":")" + patient +
                                  R"(","gender":"female","birthDate":"19)" +
                                  std::to_string(50 + revision % 50) + R"(-01-01"})");
  int k = 0;
  for (const auto& [type, id] : b.created) {
    if (type == "Observation") entries += "," + Entry(type, id, ObservationJson(id, patient, k++));
  }
  return R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entries + "]}";
}

// Everything the clients sent, acknowledged or not.
class Ledger {
 public:
  // Client `c` posts bundles until a request fails (the server was killed).
  void RunClient(int port, int c, std::atomic<bool>* failed_test) {
    httplib::Client http("127.0.0.1", port);
    http.set_connection_timeout(5, 0);
    http.set_read_timeout(30, 0);
    std::mt19937 rng(static_cast<unsigned>(port * 31 + c));
    for (int n = 0;; ++n) {
      SentBundle b;
      std::string patient;
      int revision = 0;
      {
        std::lock_guard lock(mu_);
        const int serial = next_++;
        // One bundle in four updates a patient acknowledged before (a new version).
        if (!acked_patients_.empty() && rng() % 4 == 0) {
          patient = acked_patients_[rng() % acked_patients_.size()];
          revision = ++revisions_[patient];
          b.updated_patient = patient;
        } else {
          patient = "p" + std::to_string(serial);
          b.created.emplace_back("Patient", patient);
        }
        for (int k = 0; k < kObservationsPerBundle; ++k) {
          b.created.emplace_back("Observation",
                                 "o" + std::to_string(serial) + "-" + std::to_string(k));
        }
      }
      auto r = http.Post("/fhir", BundleJson(b, patient, revision), "application/fhir+json");
      if (r && r->status == 200) {
        b.acknowledged = true;
        const Json resp = Json::parse(r->body);
        for (const auto& e : resp["entry"]) {
          const std::string loc = e["response"]["location"];  // Type/id/_history/v
          const size_t h = loc.find("/_history/");
          b.versions[loc.substr(0, h)] = std::stoll(loc.substr(h + 10));
        }
      } else if (r) {
        ADD_FAILURE() << "bundle refused with " << r->status << ": " << r->body.substr(0, 500);
        *failed_test = true;
      }
      std::lock_guard lock(mu_);
      if (b.acknowledged && b.updated_patient.empty()) acked_patients_.push_back(patient);
      const bool done = !b.acknowledged;
      bundles_.push_back(std::move(b));
      if (done) return;
    }
  }

  std::vector<SentBundle> TakeSince(size_t from) const {
    std::lock_guard lock(mu_);
    return {bundles_.begin() + static_cast<std::ptrdiff_t>(from), bundles_.end()};
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return bundles_.size();
  }

 private:
  mutable std::mutex mu_;
  int next_ = 0;
  std::vector<SentBundle> bundles_;
  std::vector<std::string> acked_patients_;
  std::map<std::string, int> revisions_;
};

// The current version of Type/id on the server; 0 when it does not exist.
int64_t VersionOnServer(httplib::Client& http, const std::string& type, const std::string& id) {
  auto r = http.Get(("/fhir/" + type + "/" + id).c_str());
  if (!r) {
    ADD_FAILURE() << "GET " << type << "/" << id << " failed: " << httplib::to_string(r.error());
    return -1;
  }
  if (r->status == 404) return 0;
  EXPECT_EQ(r->status, 200) << r->body;
  return std::stoll(Json::parse(r->body)["meta"]["versionId"].get<std::string>());
}

// Checks the bundles against the restarted server; returns how many were acknowledged.
int64_t Verify(int port, const std::vector<SentBundle>& bundles) {
  httplib::Client http("127.0.0.1", port);
  http.set_read_timeout(30, 0);
  int64_t acked = 0;
  for (const SentBundle& b : bundles) {
    acked += b.acknowledged;
    for (const auto& [key, version] : b.versions) {
      const size_t slash = key.find('/');
      EXPECT_GE(VersionOnServer(http, key.substr(0, slash), key.substr(slash + 1)), version)
          << key << " was acknowledged at version " << version;
    }
    int present = 0;
    for (const auto& [type, id] : b.created) present += VersionOnServer(http, type, id) > 0;
    if (b.acknowledged) {
      EXPECT_EQ(present, static_cast<int>(b.created.size())) << "acknowledged but missing";
    } else {
      EXPECT_TRUE(present == 0 || present == static_cast<int>(b.created.size()))
          << "a transaction half stored: " << present << " of " << b.created.size() << " ("
          << b.created[0].second << ")";
    }
  }
  return acked;
}

// Every stored Observation has exactly one twin-update job and every job names a stored
// Observation; then every job runs to done.
void VerifyJobs(store::SqlConnection& db, int port) {
  auto obs = db.Query("SELECT id FROM resources WHERE type = 'Observation' AND current = 1");
  ASSERT_TRUE(obs.ok()) << obs.status().ToString();
  auto jobs = db.Query("SELECT payload, state FROM jobs WHERE kind = 'twin-update'");
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  std::set<std::string> stored;
  for (const auto& row : *obs) stored.insert("Observation/" + row[0].value_or(""));
  std::map<std::string, int> jobs_of;
  int64_t finished = 0;  // done or failed: neither queued nor running
  for (const auto& row : *jobs) {
    ++jobs_of[row[0].value_or("")];
    const std::string state = row[1].value_or("");
    finished += state != "queued" && state != "running";
    EXPECT_TRUE(stored.count(row[0].value_or("")))
        << "a job for " << row[0].value_or("") << ", which is not stored";
  }
  for (const std::string& o : stored) EXPECT_EQ(jobs_of[o], 1) << o;
  EXPECT_GT(stored.size(), 0u);
  EXPECT_LE(finished, static_cast<int64_t>(stored.size()));
  // The restarted server's workers run every job, those its killed predecessor had claimed
  // included (released at start, not after their leases): the queue drains and none failed.
  httplib::Client http("127.0.0.1", port);
  int64_t pending = -1;
  for (int i = 0; i < 3000 && pending != 0; ++i) {
    auto h = http.Get("/health");
    ASSERT_TRUE(h);
    pending = Json::parse(h->body)["pending_jobs"].get<int64_t>();
    if (pending != 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(pending, 0) << "twin-update jobs still queued 30 s after the restart";
  auto states = db.Query("SELECT state, COUNT(*) FROM jobs GROUP BY state");
  ASSERT_TRUE(states.ok()) << states.status().ToString();
  for (const auto& row : *states) {
    EXPECT_EQ(row[0].value_or(""), "done") << row[1].value_or("") << " jobs";
  }
}

// `cycles` kill-and-restart cycles of the server on `db`; returns the acknowledged bundles.
int64_t KillCycles(const std::string& db, int cycles, std::mt19937* rng) {
  Ledger ledger;
  ServerProcess server;
  std::string error;
  if (!server.Start(db, &error)) {
    ADD_FAILURE() << error;
    return 0;
  }
  int64_t acked = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    const size_t from = ledger.size();
    std::atomic<bool> failed{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c, port = server.port()] { ledger.RunClient(port, c, &failed); });
    }
    // A random moment, while the clients are writing.
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + (*rng)() % 150));
    server.Kill();
    for (auto& t : clients) t.join();
    if (failed) return acked;
    if (!server.Start(db, &error)) {
      ADD_FAILURE() << "restart: " << error;
      return acked;
    }
    acked += Verify(server.port(), ledger.TakeSince(from));
    if (::testing::Test::HasFailure()) return acked;
  }
  // Everything again: what earlier cycles acknowledged survived the later kills too.
  Verify(server.port(), ledger.TakeSince(0));
  auto conn =
      db.rfind("postgresql://", 0) == 0 ? store::OpenPostgres(db) : store::OpenSqlite(db, 10000);
  if (!conn.ok()) {
    ADD_FAILURE() << conn.status().ToString();
    return acked;
  }
  VerifyJobs(**conn, server.port());
  return acked;
}

unsigned Seed() {
  const char* env = std::getenv("MEDTWIN_CRASH_SEED");
  const unsigned seed = env ? static_cast<unsigned>(std::atoll(env)) : std::random_device{}();
  std::printf("MEDTWIN_CRASH_SEED=%u\n", seed);
  return seed;
}

TEST(ServerCrash, SqliteSurvivesRepeatedSigkill) {
  std::mt19937 rng(Seed());
  const auto db = std::filesystem::temp_directory_path() /
                  ("medtwin-crash-" + std::to_string(getpid()) + ".db");
  std::filesystem::remove(db);
  const int64_t acked = KillCycles(db.string(), 20, &rng);
  EXPECT_GT(acked, 20) << "too few acknowledged bundles for the test to mean anything";
  std::printf("acknowledged bundles: %lld\n", static_cast<long long>(acked));
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db.string() + suffix);
}

// A vancomycin patient's record: weight, creatinine and 1 g q12h for three days, from
// 2024-03-01T08:00Z.
std::string VancomycinPatientBundle(const std::string& p) {
  auto quantity = [&](const std::string& id, const std::string& code, double value,
                      const std::string& unit) {
    return Entry(
        "Observation", id,
        R"({"resourceType":"Observation","id":")" + id +
            R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":")" + code +
            R"("}]},"subject":{"reference":"Patient/)" + p +
            R"("},"effectiveDateTime":"2024-03-01T08:00:00Z","valueQuantity":{"value":)" +
            std::to_string(value) + R"(,"unit":")" + unit +
            R"(","system":"http://unitsofmeasure.org","code":")" + unit + R"("}})");
  };
  std::string entries = Entry("Patient", p,
                              R"({"resourceType":"Patient","id":")" + p +
                                  R"(","gender":"male","birthDate":"1960-01-01"})") +
                        "," + quantity(p + "-wt", "29463-7", 80, "kg") + "," +
                        quantity(p + "-scr", "2160-0", 1.0, "mg/dL");
  for (int k = 0; k < 6; ++k) {
    const int day = 1 + (8 + 12 * k) / 24, hour = (8 + 12 * k) % 24;
    char start[32], end[32];
    std::snprintf(start, sizeof start, "2024-03-%02dT%02d:00:00Z", day, hour);
    std::snprintf(end, sizeof end, "2024-03-%02dT%02d:00:00Z", day, hour + 1);
    const std::string id = p + "-dose" + std::to_string(k);
    entries +=
        "," +
        Entry(
            "MedicationAdministration", id,
            R"({"resourceType":"MedicationAdministration","id":")" + id +
                R"(","status":"completed","medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"11124"}]},"subject":{"reference":"Patient/)" +
                p + R"("},"effectivePeriod":{"start":")" + start + R"(","end":")" + end +
                R"("},"dosage":{"dose":{"value":1000,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}})");
  }
  return R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entries + "]}";
}

// Level k of patient p: every 15 min from 2 h after the first dose.
std::string LevelJson(const std::string& p, int k) {
  const int minutes = 120 + 15 * k;
  char when[32];
  std::snprintf(when, sizeof when, "2024-03-%02dT%02d:%02d:00Z", 1 + (8 * 60 + minutes) / 1440,
                ((8 * 60 + minutes) / 60) % 24, minutes % 60);
  return R"({"resourceType":"Observation","id":")" + p + "-l" + std::to_string(k) +
         R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"20578-1"}]},"subject":{"reference":"Patient/)" +
         p + R"("},"effectiveDateTime":")" + when + R"(","valueQuantity":{"value":)" +
         std::to_string(10 + k % 9) +
         R"(,"unit":"mg/L","system":"http://unitsofmeasure.org","code":"mg/L"}})";
}

TEST(ServerCrash, TwinsTakeInEveryStoredLevelExactlyOnce) {
  std::mt19937 rng(Seed());
  const auto db = std::filesystem::temp_directory_path() /
                  ("medtwin-crash-twins-" + std::to_string(getpid()) + ".db");
  std::filesystem::remove(db);
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start(db.string(), &error)) << error;
  constexpr int kPatients = 4, kCycles = 8, kMaxLevels = 80;
  {
    httplib::Client http("127.0.0.1", server.port());
    http.set_read_timeout(60, 0);
    for (int p = 0; p < kPatients; ++p) {
      const std::string id = "tp" + std::to_string(p);
      auto r = http.Post("/fhir", VancomycinPatientBundle(id), "application/fhir+json");
      ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
      const std::string twin = R"({"patient":")" + id + R"(","model":"vancomycin_goti2018"})";
      auto t = http.Post("/twins", twin, "application/json");
      ASSERT_TRUE(t && t->status == 201) << (t ? t->body : "no answer");
    }
  }
  std::vector<int> next(kPatients, 0);          // the next level each patient sends
  std::vector<std::set<int>> acked(kPatients);  // levels acknowledged
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    std::vector<std::thread> clients;
    for (int p = 0; p < kPatients; ++p) {
      clients.emplace_back([&, p, port = server.port()] {
        httplib::Client http("127.0.0.1", port);
        http.set_read_timeout(10, 0);
        const std::string id = "tp" + std::to_string(p);
        // A level every 20 ms, at most kMaxLevels a patient: a twin update re-simulates the
        // patient's record, so hundreds of levels would make the test slow, not stronger.
        while (next[p] < kMaxLevels) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          const int k = next[p];
          auto r = http.Put(("/fhir/Observation/" + id + "-l" + std::to_string(k)).c_str(),
                            LevelJson(id, k), "application/fhir+json");
          if (!r || (r->status != 200 && r->status != 201)) return;  // killed
          acked[p].insert(k);
          ++next[p];  // an unacknowledged level is sent again after the restart
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
    server.Kill();
    for (std::thread& t : clients) t.join();
    ASSERT_TRUE(server.Start(db.string(), &error)) << error;
  }
  httplib::Client http("127.0.0.1", server.port());
  http.set_read_timeout(60, 0);
  int64_t pending = -1;
  for (int i = 0; i < 6000 && pending != 0; ++i) {
    auto h = http.Get("/health");
    ASSERT_TRUE(h);
    pending = Json::parse(h->body)["pending_jobs"].get<int64_t>();
    if (pending != 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(pending, 0) << "twin updates still queued 60 s after the last restart";
  int total_levels = 0;
  for (int p = 0; p < kPatients; ++p) {
    const std::string id = "tp" + std::to_string(p);
    SCOPED_TRACE(id);
    auto levels =
        http.Get(("/fhir/Observation?patient=" + id + "&code=20578-1&_count=1000").c_str());
    ASSERT_TRUE(levels && levels->status == 200);
    const Json bundle = Json::parse(levels->body);
    std::set<int> stored;
    for (const Json& e : bundle["entry"]) {
      const std::string rid = e["resource"]["id"];
      stored.insert(std::stoi(rid.substr(rid.find("-l") + 2)));
    }
    for (int k : acked[p]) EXPECT_TRUE(stored.count(k)) << "acknowledged level " << k << " lost";
    auto twin = http.Get(("/twins/" + id + "/vancomycin_goti2018").c_str());
    ASSERT_TRUE(twin && twin->status == 200) << (twin ? twin->body : "no answer");
    const Json t = Json::parse(twin->body);
    EXPECT_EQ(t["observations"].get<int>(), static_cast<int>(stored.size()));
    EXPECT_EQ(t["skipped"]["total"], 0) << t["skipped"].dump();
    ASSERT_FALSE(stored.empty());
    EXPECT_EQ(t["last_observation"]["source"],
              "Observation/" + id + "-l" + std::to_string(*stored.rbegin()));
    total_levels += static_cast<int>(stored.size());
  }
  std::printf("levels stored and taken in by twins: %d\n", total_levels);
  EXPECT_GT(total_levels, 2 * kPatients) << "too few levels for the test to mean anything";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db.string() + suffix);
}

TEST(ServerCrash, PostgresSurvivesSigkill) {
  const std::string dir = "/tmp/medtwin-pg-crash-" + std::to_string(getpid());
  int port = 0;
  const std::string url = testing::StartPostgres(dir, 13, &port);
  ASSERT_FALSE(url.empty()) << "could not start a PostgreSQL server (scripts/pg-test-server.sh)";
  std::mt19937 rng(Seed());
  const int64_t acked = KillCycles(url, 3, &rng);
  EXPECT_GT(acked, 3) << "too few acknowledged bundles for the test to mean anything";
  std::printf("acknowledged bundles: %lld\n", static_cast<long long>(acked));
  testing::StopPostgres(dir);
}

}  // namespace
}  // namespace medtwin
