// The server over real HTTP on loopback (issue 7): a SQLite store in a temporary file, requests
// from cpp-httplib's client. Synthea's HIV bundles (batches of organisations and practitioners
// that patient transactions reference conditionally) load and reconcile; search, read and
// errors behave as FHIR clients expect; bad requests get an OperationOutcome and the server
// keeps serving.
#include "medtwin/server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>

namespace medtwin {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kHiv = std::string(MEDTWIN_SHARED_DATA) + "/synthea/hiv/";

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartWith(64u << 20); }
  void TearDown() override { Remove(); }
  // Stops the server and deletes its database (the test files would pile up in /tmp).
  void Remove() {
    client_.reset();
    server_.reset();
    if (db_.empty()) return;
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db_ + suffix);
  }
  void StartWith(size_t max_body) {
    Remove();
    db_ = (std::filesystem::temp_directory_path() /
           ("medtwin-server-" + std::to_string(getpid()) + "-" + std::to_string(n_++) + ".db"))
              .string();
    std::filesystem::remove(db_);
    ServerOptions o;
    o.db = db_;
    o.port = 0;
    o.max_body_bytes = max_body;
    o.read_timeout_s = 2;
    auto s = Server::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(120, 0);
  }
  // Posts every bundle of one Synthea export (batches first) and reconciles the counts.
  void LoadExport(const std::string& dir);
  httplib::Result Post(const std::string& path, const std::string& body,
                       const std::string& type = "application/fhir+json") {
    return client_->Post(path.c_str(), body, type.c_str());
  }
  static Json Body(const httplib::Result& r) { return Json::parse(r->body); }

  static inline int n_ = 0;
  std::string db_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ServerTest, HealthMetadataAndMetrics) {
  auto h = client_->Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(Body(h)["store"], "sqlite");
  auto m = client_->Get("/fhir/metadata");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_EQ(Body(m)["resourceType"], "CapabilityStatement");
  EXPECT_EQ(Body(m)["fhirVersion"], "4.0.1");
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body,
              HasSubstr("medtwin_http_requests_total{route=\"health\",status=\"200\"} 1"));
  EXPECT_THAT(metrics->body, HasSubstr("medtwin_jobs_pending 0"));
}

// Every entry of Synthea's HIV bundles is stored, in dependency order (organisations and
// practitioners first, then patients whose bundles reference them conditionally); the store's
// counts equal the entries sent, per type.
TEST_F(ServerTest, SyntheaBundlesLoadAndReconcile) {
  std::map<std::string, int64_t> sent;
  for (const char* f :
       {"hospitalInformation1633536936158.json", "practitionerInformation1633536936158.json",
        "Alva958_Dickinson688_742fc10a-c565-f636-3c05-5dcd28672194.json",
        "Cyrus914_Nader710_e35e717e-09ad-041e-6858-56f84b32e476.json"}) {
    SCOPED_TRACE(f);
    const std::string bundle = ReadFile(kHiv + f);
    ASSERT_FALSE(bundle.empty());
    const Json parsed = Json::parse(bundle);
    for (const auto& e : parsed["entry"]) {
      ++sent[e["resource"]["resourceType"].get<std::string>()];
    }
    auto r = Post("/fhir", bundle);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body.substr(0, 2000);
    const Json resp = Body(r);
    EXPECT_THAT(std::string(resp["type"]), HasSubstr("-response"));
    for (const auto& e : resp["entry"]) {
      EXPECT_EQ(std::string(e["response"]["status"]).substr(0, 3), "201") << e.dump();
    }
  }
  auto counts = server_->store().Counts();
  ASSERT_TRUE(counts.ok());
  std::map<std::string, int64_t> stored(counts->begin(), counts->end());
  EXPECT_EQ(stored, sent);
  // Every twin-relevant datum queued a twin update, and the workers ran them all (these
  // patients have no twins, so each completes with nothing to do).
  const int64_t feeds =
      (sent.count("Observation") ? sent["Observation"] : 0) +
      (sent.count("MedicationAdministration") ? sent["MedicationAdministration"] : 0);
  for (int i = 0; i < 3000 && *server_->store().PendingJobs() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(*server_->store().PendingJobs(), 0);
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("medtwin_twin_jobs_total " + std::to_string(feeds) + "\n"));
  // Search: a patient's heart rates, by code with and without system, paged.
  const std::string patient = "742fc10a-c565-f636-3c05-5dcd28672194";
  auto all = client_->Get(("/fhir/Observation?patient=" + patient).c_str());
  ASSERT_TRUE(all);
  ASSERT_EQ(all->status, 200);
  const int64_t total = Body(all)["total"];
  EXPECT_GT(total, 10);
  auto page = client_->Get(("/fhir/Observation?patient=" + patient + "&_count=7").c_str());
  ASSERT_TRUE(page);
  Json p = Body(page);
  EXPECT_EQ(p["entry"].size(), 7u);
  std::set<std::string> seen;
  int64_t pages = 1;
  for (;;) {
    for (const auto& e : p["entry"]) EXPECT_TRUE(seen.insert(std::string(e["fullUrl"])).second);
    if (p["link"].empty()) break;
    auto next = client_->Get(std::string(p["link"][0]["url"]).c_str());
    ASSERT_TRUE(next);
    ASSERT_EQ(next->status, 200);
    p = Body(next);
    ++pages;
  }
  EXPECT_EQ(static_cast<int64_t>(seen.size()), total);
  EXPECT_EQ(pages, (total + 6) / 7);
  // Reading one back: meta set, ETag the version.
  const std::string first = *seen.begin();
  auto one = client_->Get(first.c_str());
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_EQ(Body(one)["meta"]["versionId"], "1");
  EXPECT_EQ(one->get_header_value("ETag"), "W/\"1\"");
  auto v1 = client_->Get((first + "/_history/1").c_str());
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->status, 200);
  // The same data again (a retried transaction): every create is a repeat of what is stored,
  // answered 200 with the stored version; nothing is written, no twin job is queued.
  auto again = Post(
      "/fhir", ReadFile(kHiv + "Alva958_Dickinson688_742fc10a-c565-f636-3c05-5dcd28672194.json"));
  ASSERT_TRUE(again);
  ASSERT_EQ(again->status, 200) << again->body.substr(0, 500);
  for (const auto& e : Body(again)["entry"]) {
    ASSERT_EQ(e["response"]["status"], "200 OK") << e.dump();
    EXPECT_THAT(std::string(e["response"]["location"]), HasSubstr("/_history/1"));
  }
  auto metrics_after = client_->Get("/metrics");
  ASSERT_TRUE(metrics_after);
  EXPECT_THAT(metrics_after->body,
              HasSubstr("medtwin_twin_jobs_total " + std::to_string(feeds) + "\n"));
  auto recount = server_->store().Counts();
  ASSERT_TRUE(recount.ok());
  EXPECT_EQ((std::map<std::string, int64_t>(recount->begin(), recount->end())), sent);
}

TEST_F(ServerTest, CreateUpdateVersionsAndPreconditions) {
  const std::string patient =
      R"({"resourceType":"Patient","gender":"female","birthDate":"1960-05-01"})";
  auto c = Post("/fhir/Patient", patient);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->status, 201) << c->body;
  const std::string id = Body(c)["id"];
  EXPECT_THAT(c->get_header_value("Location"), HasSubstr("/fhir/Patient/" + id + "/_history/1"));
  const std::string v2 = R"({"resourceType":"Patient","id":")" + id +
                         R"(","gender":"female","birthDate":"1960-05-02"})";
  httplib::Headers stale = {{"If-Match", "W/\"5\""}};
  auto conflict = client_->Put(("/fhir/Patient/" + id).c_str(), stale, v2, "application/fhir+json");
  ASSERT_TRUE(conflict);
  EXPECT_EQ(conflict->status, 412);
  httplib::Headers fresh = {{"If-Match", "W/\"1\""}};
  auto u = client_->Put(("/fhir/Patient/" + id).c_str(), fresh, v2, "application/fhir+json");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->status, 200);
  EXPECT_EQ(Body(u)["meta"]["versionId"], "2");
  auto mismatch = client_->Put("/fhir/Patient/other", v2, "application/fhir+json");
  ASSERT_TRUE(mismatch);
  EXPECT_EQ(mismatch->status, 400);
  EXPECT_THAT(mismatch->body, HasSubstr("differs from the URL"));
  // A batch whose first entry creates an id that exists with other content: that entry fails
  // with 409, the other is stored (entries are independent). The same content again is a
  // repeat: 200.
  const std::string uuid = "0c3a3c1e-7a52-4d8e-9a55-1f2f4b6f0a01";
  auto put =
      client_->Put(("/fhir/Patient/" + uuid).c_str(),
                   R"({"resourceType":"Patient","id":")" + uuid + R"("})", "application/fhir+json");
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 201) << put->body;
  const std::string batch = R"({"resourceType":"Bundle","type":"batch","entry":[
    {"fullUrl":"urn:uuid:)" +
                            uuid + R"(","resource":{"resourceType":"Patient","id":")" + uuid +
                            R"(","gender":"male"},"request":{"method":"POST","url":"Patient"}},
    {"fullUrl":"urn:uuid:0c3a3c1e-7a52-4d8e-9a55-1f2f4b6f0a02","resource":{"resourceType":"Patient","id":"0c3a3c1e-7a52-4d8e-9a55-1f2f4b6f0a02"},"request":{"method":"POST","url":"Patient"}}]})";
  auto b = Post("/fhir", batch);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->status, 200) << b->body;
  const Json resp = Body(b);
  EXPECT_EQ(std::string(resp["entry"][0]["response"]["status"]).substr(0, 3), "409");
  EXPECT_EQ(std::string(resp["entry"][1]["response"]["status"]).substr(0, 3), "201");
  auto second = client_->Get("/fhir/Patient/0c3a3c1e-7a52-4d8e-9a55-1f2f4b6f0a02");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200);
  auto repeat = Post("/fhir", batch);
  ASSERT_TRUE(repeat);
  const Json rr = Body(repeat);
  EXPECT_EQ(std::string(rr["entry"][0]["response"]["status"]).substr(0, 3), "409");
  EXPECT_EQ(rr["entry"][1]["response"]["status"], "200 OK");
  auto missing = client_->Get("/fhir/Patient/nobody");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Body(missing)["resourceType"], "OperationOutcome");
}

// Imports are stored 1,000 lines per transaction; line numbers continue across chunks.
TEST_F(ServerTest, NdjsonLineNumbersContinueAcrossChunks) {
  std::string body;
  for (int i = 1; i <= 2101; ++i) {
    body += i == 1003 || i == 2101
                ? R"({"resourceType":"Patient"})"
                : R"({"resourceType":"Patient","id":"c)" + std::to_string(i) + R"("})";
    body += "\n";
  }
  auto r = Post("/fhir/$import", body, "application/fhir+ndjson");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 1000);
  const Json j = Body(r);
  EXPECT_EQ(j["lines"], 2101);
  EXPECT_EQ(j["stored"], 2099);
  ASSERT_EQ(j["rejected_lines"].size(), 2u);
  EXPECT_EQ(j["rejected_lines"][0]["line"], 1003);
  EXPECT_EQ(j["rejected_lines"][1]["line"], 2101);
  auto counts = server_->store().Counts();
  ASSERT_TRUE(counts.ok());
  ASSERT_EQ(counts->size(), 1u);
  EXPECT_EQ((*counts)[0].second, 2099);
  auto last = client_->Get("/fhir/Patient/c2100");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->status, 200);
}

// meta.versionId and meta.lastUpdated are the server's; the rest of a sent meta is kept, and
// strings that look like JSON structure do not confuse it.
TEST_F(ServerTest, ReadsCarryTheServersMeta) {
  const std::string sent =
      R"({"resourceType":"Patient","id":"m1","meta":{"versionId":"77","lastUpdated":"2001-01-01T00:00:00Z","profile":["http://example.org/p"],"tag":[{"code":"a\"},{\"meta\":1"}]},"name":[{"text":"x\\\"}{,"}],"active":true})";
  auto put = client_->Put("/fhir/Patient/m1", sent, "application/fhir+json");
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 201) << put->body;
  for (int round = 0; round < 2; ++round) {
    auto r = round == 0 ? client_->Get("/fhir/Patient/m1")
                        : client_->Get("/fhir/Patient?identifier=nothing-matches");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    if (round == 1) {
      EXPECT_EQ(Body(r)["total"], 0);
      break;
    }
    const Json j = Json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r->body;
    EXPECT_EQ(j["meta"]["versionId"], "1");
    EXPECT_NE(j["meta"]["lastUpdated"], "2001-01-01T00:00:00Z");
    EXPECT_EQ(j["meta"]["profile"][0], "http://example.org/p");
    EXPECT_EQ(j["meta"]["tag"][0]["code"], "a\"},{\"meta\":1");
    EXPECT_EQ(j["name"][0]["text"], "x\\\"}{,");
    EXPECT_EQ(j["active"], true);
    EXPECT_EQ(j["id"], "m1");
    // Spliced into the stored text (meta first), not parsed and serialised (keys sorted).
    EXPECT_EQ(r->body.rfind(R"({"meta":{"versionId":"1")", 0), 0u) << r->body;
  }
  auto bare = Post("/fhir/Patient", R"({"resourceType":"Patient","gender":"male"})");
  ASSERT_TRUE(bare);
  ASSERT_EQ(bare->status, 201);
  const Json b = Body(bare);
  EXPECT_EQ(b["meta"]["versionId"], "1");
  EXPECT_EQ(b["gender"], "male");
  EXPECT_EQ(b["resourceType"], "Patient");
}

// Bad requests: a 4xx with an OperationOutcome naming the problem; the server keeps serving.
TEST_F(ServerTest, BadRequestsGetOperationOutcomes) {
  auto expect = [&](const httplib::Result& r, int status, const std::string& text) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    const Json j = Json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r->body;
    EXPECT_EQ(j["resourceType"], "OperationOutcome");
    EXPECT_THAT(r->body, HasSubstr(text));
  };
  expect(Post("/fhir", "{\"resourceType\": \"Bundle\", "), 400, "");
  expect(Post("/fhir", R"({"resourceType":"Patient"})"), 400, "Bundle");
  expect(Post("/fhir/Patient", R"({"resourceType":"Observation","status":"final"})"), 400,
         "Patient");
  expect(Post("/fhir/Patient", R"({"resourceType":"Patient"})", "text/plain"), 415, "Content-Type");
  std::string deep = R"({"resourceType":"Patient","extension":)";
  for (int i = 0; i < 200; ++i) deep += "[";
  for (int i = 0; i < 200; ++i) deep += "]";
  deep += "}";
  expect(Post("/fhir/Patient", deep), 400, "");
  expect(client_->Get("/fhir/Observation?flavour=sweet"), 400, "flavour");
  expect(client_->Get("/fhir/Observation?date=2024-13-01"), 400, "date");
  expect(client_->Get("/fhir/Observation?_count=0"), 400, "_count");
  expect(client_->Get("/fhir/Nonsense/1"), 404, "Nonsense");
  expect(client_->Get("/no/such/endpoint"), 404, "no such endpoint");
  // Oversized bodies: a server with a 1 KiB limit refuses a 4 KiB one.
  StartWith(1024);
  expect(Post("/fhir/Patient",
              R"({"resourceType":"Patient","text":")" + std::string(4096, 'x') + "\"}"),
         413, "exceeds 1024 bytes");
  auto h = client_->Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

// Bulk NDJSON import of every file of Synthea's bulk export, in dependency order (Encounters
// reference Practitioners, Locations and Organizations conditionally, by identifier): per file,
// stored + rejected = lines, and the store's counts per type equal what the replies say.
TEST_F(ServerTest, SyntheaNdjsonImportReconciles) {
  const std::string dir = std::string(MEDTWIN_SHARED_DATA) + "/synthea/ndjson/";
  const std::vector<std::string> order = {"Organization",     "Location",  "Practitioner",
                                          "Patient",          "Encounter", "Condition",
                                          "MedicationRequest"};
  std::set<std::string> files;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() == ".ndjson") files.insert(f.path().filename().string());
  }
  ASSERT_FALSE(files.empty()) << dir;
  std::map<std::string, int64_t> stored;
  int64_t imported_files = 0;
  for (const std::string& type : order) {
    for (const std::string& f : files) {
      if (f.rfind(type + ".", 0) != 0) continue;
      SCOPED_TRACE(f);
      ++imported_files;
      const std::string text = ReadFile(dir + f);
      int64_t lines = 0;
      std::istringstream in(text);
      for (std::string l; std::getline(in, l);) lines += !l.empty();
      auto r = Post("/fhir/$import", text, "application/fhir+ndjson");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body.substr(0, 2000);
      const Json j = Body(r);
      EXPECT_EQ(j["lines"], lines);
      EXPECT_EQ(j["stored"].get<int64_t>() + j["rejected"].get<int64_t>(), lines);
      EXPECT_EQ(j["rejected"], 0) << j["rejected_lines"].dump().substr(0, 2000);
      for (const auto& [t, n] : j["stored_by_type"].items()) stored[t] += n.get<int64_t>();
    }
  }
  EXPECT_EQ(imported_files, static_cast<int64_t>(files.size())) << "a file of an unknown type";
  auto counts = server_->store().Counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((std::map<std::string, int64_t>(counts->begin(), counts->end())), stored);
  EXPECT_EQ(stored["Patient"], 13);
  // Conditional references were stored resolved; a patient's encounters are searchable.
  auto enc = client_->Get("/fhir/Encounter?patient=79a66c97-6131-3213-f3c9-4606946ab056");
  ASSERT_TRUE(enc);
  ASSERT_EQ(enc->status, 200);
  EXPECT_GT(Body(enc)["total"].get<int64_t>(), 0);
  EXPECT_THAT(enc->body, ::testing::Not(HasSubstr("Practitioner?identifier")));
}

// Bad lines are rejected with their line number and the reason; good lines around them are
// stored, an Observation before the Patient it references too (bulk semantics), with its twin
// job. Importing a line again makes a new version.
TEST_F(ServerTest, NdjsonImportRejectsBadLinesByNumber) {
  const std::string obs =
      R"({"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/later"},"effectiveDateTime":"2024-03-01T10:00:00Z","valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}})";
  const std::string body = R"({"resourceType":"Patient","id":"p1","gender":"female"})"
                           "\n"
                           R"({"resourceType":"Patient","id":"p2",)"
                           "\n"
                           R"({"resourceType":"Patient","gender":"male"})"
                           "\n"
                           "\n" +
                           obs +
                           "\n"
                           R"({"resourceType":"Nonsense","id":"n1"})"
                           "\r\n"
                           R"({"resourceType":"Patient","id":"later","birthDate":"1970-13-01"})"
                           "\n"
                           R"({"resourceType":"Patient","id":"later"})"
                           "\n";
  auto r = Post("/fhir/$import", body, "application/x-ndjson");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const Json j = Body(r);
  EXPECT_EQ(j["lines"], 7);  // the blank line 4 is not counted
  EXPECT_EQ(j["stored"], 3);
  EXPECT_EQ(j["rejected"], 4);
  ASSERT_EQ(j["rejected_lines"].size(), 4u) << j.dump();
  std::map<int, std::string> why;
  for (const auto& l : j["rejected_lines"]) why[l["line"]] = l["outcome"].dump();
  EXPECT_THAT(why[2], HasSubstr("malformed JSON"));
  EXPECT_THAT(why[3], HasSubstr("Patient.id"));
  EXPECT_THAT(why[6], HasSubstr("Nonsense"));
  EXPECT_THAT(why[7], HasSubstr("birthDate"));
  EXPECT_EQ(j["rejected_lines_not_listed"], 0);
  EXPECT_EQ(j["stored_by_type"]["Patient"], 2);
  EXPECT_EQ(j["stored_by_type"]["Observation"], 1);
  auto o1 = client_->Get("/fhir/Observation/o1");
  ASSERT_TRUE(o1);
  EXPECT_EQ(o1->status, 200);
  auto found = client_->Get("/fhir/Observation?patient=later&code=8867-4");
  ASSERT_TRUE(found);
  EXPECT_EQ(Body(found)["total"], 1);
  // The Observation's twin update was queued (and the worker ran it: no twin, nothing to do).
  for (int i = 0; i < 3000 && *server_->store().PendingJobs() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto jobs = client_->Get("/metrics");
  ASSERT_TRUE(jobs);
  EXPECT_THAT(jobs->body, HasSubstr("medtwin_twin_jobs_total 1\n"));
  // Again: updates, not conflicts.
  auto again = Post("/fhir/$import", R"({"resourceType":"Patient","id":"p1","gender":"other"})",
                    "application/fhir+ndjson");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  auto p1 = client_->Get("/fhir/Patient/p1");
  ASSERT_TRUE(p1);
  EXPECT_EQ(Body(p1)["meta"]["versionId"], "2");
  // NDJSON only: a JSON body is refused before it is read.
  auto wrong = Post("/fhir/$import", R"({"resourceType":"Patient","id":"p9"})");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 415);
  EXPECT_THAT(wrong->body, HasSubstr("application/fhir+ndjson"));
}

// A client that opens a connection and sends half a request is dropped after the read
// timeout, while others are served meanwhile.
TEST_F(ServerTest, SlowClientsDoNotBlockOthers) {
  httplib::Client slow("127.0.0.1", server_->port());
  std::thread hold([&] {
    // A request whose body never arrives: Content-Length promises more than is sent.
    httplib::Request req;
    (void)req;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(server_->port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      const std::string head =
          "POST /fhir HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
          "Content-Length: 100000\r\n\r\n{";
      (void)!write(fd, head.data(), head.size());
      std::this_thread::sleep_for(std::chrono::seconds(3));
    }
    close(fd);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int i = 0; i < 20; ++i) {
    auto h = client_->Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
  }
  hold.join();
}

}  // namespace
}  // namespace medtwin

namespace medtwin {
namespace {

// Every bundle of ../shared/data/synthea through the server: the two batches of organisations
// and practitioners first (the HIV patients reference them conditionally), then every
// transaction (the 4 HIV patients and the 8 bundles of 2019-era Synthea). Each is accepted whole
// (every entry 201, or 200 for a repeat of a resource the export stored already) or refused
// with an OperationOutcome saying why; the store's counts equal the distinct resources created,
// type by type.
TEST_F(ServerTest, EverySyntheaBundleIsStoredOrRefusedWithReasons) {
  // The two exports (2021 HIV, 2019 bundles) are separate Synthea runs; each goes to its own
  // store. Within the 2019 export the bundles repeat a shared Organization and Practitioner.
  for (const std::string& dir : {kHiv, std::string(MEDTWIN_SHARED_DATA) + "/synthea/bundles/"}) {
    SCOPED_TRACE(dir);
    StartWith(64u << 20);
    LoadExport(dir);
  }
}

void ServerTest::LoadExport(const std::string& dir) {
  std::vector<std::string> files;
  if (dir == kHiv) {
    files = {kHiv + "hospitalInformation1633536936158.json",
             kHiv + "practitionerInformation1633536936158.json"};
  }
  {
    std::vector<std::string> patients;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("hospital", 0) != 0 && name.rfind("practitioner", 0) != 0) {
        patients.push_back(e.path().string());
      }
    }
    std::sort(patients.begin(), patients.end());
    files.insert(files.end(), patients.begin(), patients.end());
  }
  ASSERT_EQ(files.size(), dir == kHiv ? 6u : 8u);
  std::map<std::string, int64_t> accepted;  // distinct resources of the accepted bundles
  std::set<std::string> ids;
  int refused = 0;
  for (const std::string& f : files) {
    SCOPED_TRACE(f);
    const std::string text = ReadFile(f);
    ASSERT_FALSE(text.empty());
    auto r = Post("/fhir", text);
    ASSERT_TRUE(r);
    const Json body = Body(r);
    if (r->status == 200) {
      // 201 for a new resource; 200 only for a repeat of one this export already stored.
      for (const auto& e : body["entry"]) {
        const std::string status = e["response"]["status"];
        const std::string location = e["response"].value("location", "");
        const std::string key = location.substr(0, location.find("/_history/"));
        const std::string type = key.substr(0, key.find('/'));
        if (status.rfind("201", 0) == 0) {
          EXPECT_TRUE(ids.insert(key).second) << "created twice: " << key;
          ++accepted[type];
        } else {
          EXPECT_EQ(status, "200 OK") << e.dump();
          EXPECT_TRUE(ids.count(key)) << "a repeat of what was not stored: " << e.dump();
        }
      }
    } else {
      ++refused;
      EXPECT_EQ(r->status, 400) << r->body.substr(0, 500);
      EXPECT_EQ(body["resourceType"], "OperationOutcome");
      EXPECT_FALSE(body["issue"][0]["diagnostics"].get<std::string>().empty());
    }
  }
  auto counts = server_->store().Counts();
  ASSERT_TRUE(counts.ok());
  const std::map<std::string, int64_t> stored(counts->begin(), counts->end());
  EXPECT_EQ(stored, accepted);
  EXPECT_EQ(refused, 0) << "every Synthea bundle is valid R4 and should be stored";
}

}  // namespace
}  // namespace medtwin
