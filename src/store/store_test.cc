// The storage conformance suite (issue 7): every test runs against SQLite (a file) and against
// a real PostgreSQL server that the suite starts on loopback (scripts/pg-test-server.sh).
#include "medtwin/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "store/pg_test_server.h"

namespace medtwin {
namespace {

using ::testing::HasSubstr;

using testing::Shell;

// One PostgreSQL server for the whole binary.
class Postgres : public ::testing::Environment {
 public:
  static std::string url;
  static int port;
  static std::string dir;
  void SetUp() override {
    dir = "/tmp/medtwin-pg-" + std::to_string(getpid());
    url = testing::StartPostgres(dir, 7, &port);
    ASSERT_FALSE(url.empty()) << "could not start a PostgreSQL server (scripts/pg-test-server.sh)";
  }
  void TearDown() override { testing::StopPostgres(dir); }
};
std::string Postgres::url;
int Postgres::port = 0;
std::string Postgres::dir;

// A fresh, empty database for each test: a new SQLite file, or a new PostgreSQL database.
std::string FreshLocation(const std::string& backend) {
  static std::atomic<int> n{0};
  const std::string name = "t" + std::to_string(getpid()) + "_" + std::to_string(n++);
  if (backend == "sqlite") {
    const auto path = std::filesystem::temp_directory_path() / ("medtwin-store-" + name + ".db");
    std::filesystem::remove(path);
    return path.string();
  }
  int status = 0;
  const std::string bin = Shell("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1", &status);
  Shell(bin + "/createdb -h 127.0.0.1 -p " + std::to_string(Postgres::port) + " -U medtwin " +
            name + " 2>&1",
        &status);
  EXPECT_EQ(status, 0);
  return "postgresql://medtwin@127.0.0.1:" + std::to_string(Postgres::port) + "/" + name;
}

ResourceWrite W(const std::string& type, const std::string& id, const std::string& json = "") {
  ResourceWrite w;
  w.type = type;
  w.id = id;
  w.json = json;
  return w;
}

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    location_ = FreshLocation(GetParam());
    options_.now_us = [this] { return clock_; };
    auto s = OpenStore(location_, options_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    ASSERT_STREQ(store_->backend(), GetParam().c_str());
  }

  static ResourceWrite Obs(const std::string& id, const std::string& patient,
                           const std::string& code, const std::string& date, double value) {
    ResourceWrite w = W("Observation", id,
                        R"({"resourceType":"Observation","id":")" + id +
                            R"(","valueQuantity":{"value":)" + std::to_string(value) + "}}");
    w.tokens = {{"patient", "Patient/" + patient}, {"code", "http://loinc.org|" + code}};
    w.date = date;
    return w;
  }

  std::string location_;
  int64_t clock_ = 1'700'000'000'000'000;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, VersionsHistoryAndDeletes) {
  auto w = store_->Write({W("Patient", "p1", R"({"resourceType":"Patient","id":"p1"})")});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ((*w)[0].version, 1);
  EXPECT_EQ((*w)[0].last_updated, clock_);
  clock_ += 1000;
  const std::string v2 =
      R"({"resourceType":"Patient","id":"p1","gender":"female","name":[{"text":"Zoë Ångström"}]})";
  w = store_->Write({W("Patient", "p1", v2)});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)[0].version, 2);
  auto r = store_->Read("Patient", "p1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->json, v2);  // exactly the bytes written, UTF-8 included
  EXPECT_EQ(r->version, 2);
  EXPECT_EQ(r->last_updated, clock_);
  auto v1 = store_->ReadVersion("Patient", "p1", 1);
  ASSERT_TRUE(v1.ok());
  EXPECT_THAT(v1->json, Not(HasSubstr("female")));
  auto h = store_->History("Patient", "p1");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].version, 2);
  EXPECT_EQ((*h)[1].version, 1);
  ResourceWrite del = W("Patient", "p1");
  del.is_delete = true;
  w = store_->Write({del});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)[0].version, 3);
  r = store_->Read("Patient", "p1");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deleted);
  w = store_->Write({del});  // deleting again: nothing to do
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)[0].version, 3);
  EXPECT_EQ(store_->Read("Patient", "nobody").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ReadVersion("Patient", "p1", 9).status().code(), StatusCode::kNotFound);
  // A large resource round-trips.
  std::string big =
      R"({"resourceType":"Binary","id":"b","data":")" + std::string(1 << 20, 'A') + "\"}";
  ASSERT_TRUE(store_->Write({W("Binary", "b", big)}).ok());
  EXPECT_EQ(store_->Read("Binary", "b")->json, big);
}

TEST_P(StoreTest, PreconditionsAreAtomic) {
  ASSERT_TRUE(store_->Write({W("Patient", "p1", "{}")}).ok());
  ResourceWrite stale = W("Patient", "p1", R"({"x":1})");
  stale.if_match = 7;
  // The first write of the batch must not land when the second fails.
  auto w = store_->Write({W("Patient", "p2", "{}"), stale});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kConflict);
  EXPECT_THAT(w.status().message(), HasSubstr("Patient/p1"));
  EXPECT_EQ(store_->Read("Patient", "p2").status().code(), StatusCode::kNotFound);
  stale.if_match = 1;
  ASSERT_TRUE(store_->Write({stale}).ok());
  ResourceWrite create = W("Patient", "p1", "{}");
  create.if_none_exist = true;
  EXPECT_EQ(store_->Write({create}).status().code(), StatusCode::kConflict);
  // Bad keys name the field.
  auto bad = store_->Write({W("Patient", "a/b", "{}")});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("Patient.id 'a/b' is not a FHIR id"));
  bad = store_->Write({W("patient", "p", "{}")});
  EXPECT_THAT(bad.status().message(), HasSubstr("resourceType 'patient'"));
  EXPECT_FALSE(store_->Write({W("Patient", std::string(65, 'x'), "{}")}).ok());
  EXPECT_FALSE(store_->Write({W("Patient", "p3", "")}).ok());
  // Quotes and SQL in values are data.
  ASSERT_TRUE(
      store_->Write({W("Patient", "p4", R"({"name":"O'Brien'); DROP TABLE resources;--"})")}).ok());
  EXPECT_THAT(store_->Read("Patient", "p4")->json, HasSubstr("O'Brien"));
}

TEST_P(StoreTest, SearchByTokensDatesUpdatedAndPages) {
  std::vector<ResourceWrite> ws;
  for (int i = 0; i < 7; ++i) {
    ws.push_back(Obs("hr" + std::to_string(i), i < 5 ? "p1" : "p2", "8867-4",
                     "2024-03-0" + std::to_string(i + 1) + "T10:00:00Z", 70 + i));
  }
  ws.push_back(Obs("cr1", "p1", "2160-0", "2024-03-02T08:00:00Z", 1.1));
  ASSERT_TRUE(store_->Write(ws).ok());
  clock_ += 5'000'000;
  ASSERT_TRUE(store_->Write({Obs("hr9", "p1", "8867-4", "2024-03-09T10:00:00Z", 99)}).ok());
  SearchQuery q;
  q.type = "Observation";
  q.tokens = {{"patient", "Patient/p1"}, {"code", "http://loinc.org|8867-4"}};
  auto page = store_->Search(q);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->total, 6);
  ASSERT_EQ(page->resources.size(), 6u);
  EXPECT_EQ(page->resources[0].id, "hr0");
  EXPECT_EQ(page->next, 0);
  // Paging: 4 + 2, no duplicates, in write order.
  q.count = 4;
  page = store_->Search(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->resources.size(), 4u);
  ASSERT_NE(page->next, 0);
  q.after = page->next;
  auto rest = store_->Search(q);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->resources.size(), 2u);
  EXPECT_EQ(rest->resources[0].id, "hr4");
  EXPECT_EQ(rest->resources[1].id, "hr9");
  EXPECT_EQ(rest->next, 0);
  // Date range [2024-03-02, 2024-03-04) and _lastUpdated.
  q.after = 0;
  q.count = 50;
  q.date_from = "2024-03-02";
  q.date_to = "2024-03-04";
  page = store_->Search(q);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, 2);
  q.date_from.clear();
  q.date_to.clear();
  q.updated_from = clock_;
  page = store_->Search(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->total, 1);
  EXPECT_EQ(page->resources[0].id, "hr9");
  // An update replaces the tokens; a delete hides the resource.
  ResourceWrite moved = Obs("hr0", "p2", "8867-4", "2024-03-01T10:00:00Z", 70);
  ResourceWrite gone = W("Observation", "hr1");
  gone.is_delete = true;
  ASSERT_TRUE(store_->Write({moved, gone}).ok());
  q.updated_from = 0;
  page = store_->Search(q);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, 4);
  q.tokens = {{"patient", "Patient/p2"}};
  EXPECT_EQ(store_->Search(q)->total, 3);
  q.count = 0;
  EXPECT_THAT(store_->Search(q).status().message(), HasSubstr("_count"));
  auto counts = store_->Counts();
  ASSERT_TRUE(counts.ok());
  ASSERT_EQ(counts->size(), 1u);
  EXPECT_EQ((*counts)[0], std::make_pair(std::string("Observation"), int64_t{8}));
}

// Search keys are inserted many rows per statement (100): a resource with 250 keys is found by
// each, and once even where a key was given twice; a resource written twice in one transaction
// keeps only its second version's keys.
TEST_P(StoreTest, ManyKeysAndTwoVersionsInOneTransaction) {
  ResourceWrite many = W("Patient", "many", R"({"resourceType":"Patient","id":"many"})");
  for (int i = 0; i < 250; ++i) many.tokens.push_back({"identifier", "id" + std::to_string(i)});
  many.tokens.push_back({"identifier", "id0"});  // twice: still one match
  ResourceWrite first = W("Patient", "twice", R"({"resourceType":"Patient","id":"twice"})");
  first.tokens = {{"identifier", "old"}};
  ResourceWrite second = first;
  second.tokens = {{"identifier", "new"}};
  auto stored = store_->Write({many, first, second}, {{"twin-update", "Patient/twice", "x"}});
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ((*stored)[2].version, 2);
  SearchQuery q;
  q.type = "Patient";
  for (const char* value : {"id0", "id99", "id100", "id249"}) {
    q.tokens = {{"identifier", value}};
    auto page = store_->Search(q);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ASSERT_EQ(page->total, 1) << value;
    ASSERT_EQ(page->resources.size(), 1u) << value;
    EXPECT_EQ(page->resources[0].id, "many");
  }
  q.tokens = {{"identifier", "old"}};
  EXPECT_EQ(store_->Search(q)->total, 0);
  q.tokens = {{"identifier", "new"}};
  EXPECT_EQ(store_->Search(q)->total, 1);
  EXPECT_EQ(*store_->PendingJobs(), 1);
}

TEST_P(StoreTest, JobsRunInOrderPerKeyWithLeases) {
  ASSERT_TRUE(store_
                  ->Write({Obs("a", "p1", "8867-4", "", 1)}, {{"twin-update", "Patient/p1", "1"},
                                                              {"twin-update", "Patient/p1", "2"},
                                                              {"twin-update", "Patient/p2", "3"}})
                  .ok());
  EXPECT_EQ(*store_->PendingJobs(), 3);
  auto j1 = store_->ClaimJob("w1");
  ASSERT_TRUE(j1.ok() && j1->has_value());
  EXPECT_EQ((*j1)->payload, "1");
  EXPECT_EQ((*j1)->attempts, 1);
  // p1's second job waits for the first; p2's is free.
  auto j3 = store_->ClaimJob("w2");
  ASSERT_TRUE(j3.ok() && j3->has_value());
  EXPECT_EQ((*j3)->payload, "3");
  auto none = store_->ClaimJob("w3");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(store_->FailJob((*j3)->id, "model failed").ok());
  // The lease runs out: job 1 is claimed again, and its first worker can no longer finish it.
  clock_ += options_.job_lease_us + 1;
  auto again = store_->ClaimJob("w3");
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->id, (*j1)->id);
  EXPECT_EQ((*again)->attempts, 2);
  ASSERT_TRUE(store_->CompleteJob((*j1)->id).ok());
  EXPECT_EQ(store_->CompleteJob((*j1)->id).code(), StatusCode::kConflict);
  auto j2 = store_->ClaimJob("w1");
  ASSERT_TRUE(j2.ok() && j2->has_value());
  EXPECT_EQ((*j2)->payload, "2");
  ASSERT_TRUE(store_->CompleteJob((*j2)->id).ok());
  EXPECT_EQ(*store_->PendingJobs(), 0);
}

// Batches: one worker may take a key's jobs several at once (it runs them in order); another
// worker may not take that key's jobs meanwhile. Completing a batch is all or nothing.
TEST_P(StoreTest, JobBatchesKeepEachKeyInOrder) {
  ASSERT_TRUE(store_
                  ->Write({}, {{"twin-update", "Patient/p1", "1"},
                               {"twin-update", "Patient/p2", "2"},
                               {"twin-update", "Patient/p1", "3"},
                               {"twin-update", "Patient/p3", "4"}})
                  .ok());
  auto a = store_->ClaimJobs("w1", 3);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->size(), 3u);
  EXPECT_EQ((*a)[0].payload, "1");
  EXPECT_EQ((*a)[1].payload, "2");
  EXPECT_EQ((*a)[2].payload, "3");  // p1's second job, behind its first, same worker
  auto b = store_->ClaimJobs("w2", 10);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].payload, "4");
  // One of the ids is not running (w2's job is, but "0" is no job): nothing is completed.
  EXPECT_EQ(store_->CompleteJobs({(*a)[0].id, 0}).code(), StatusCode::kConflict);
  EXPECT_EQ(*store_->PendingJobs(), 4);
  ASSERT_TRUE(store_->CompleteJobs({(*a)[0].id, (*a)[1].id, (*a)[2].id}).ok());
  EXPECT_EQ(*store_->PendingJobs(), 1);
  EXPECT_EQ(store_->ClaimJobs("w1", 0).status().code(), StatusCode::kInvalidArgument);
}

// A worker that crashed and restarts under the same name gets its jobs back at once instead of
// after their leases; other workers' jobs stay theirs.
TEST_P(StoreTest, ReleasedJobsAreClaimableAtOnce) {
  ASSERT_TRUE(
      store_->Write({}, {{"twin-update", "Patient/p1", "1"}, {"twin-update", "Patient/p2", "2"}})
          .ok());
  auto a = store_->ClaimJob("w1");
  auto b = store_->ClaimJob("w2");
  ASSERT_TRUE(a.ok() && a->has_value() && b.ok() && b->has_value());
  EXPECT_FALSE(store_->ClaimJob("w3")->has_value());
  auto released = store_->ReleaseJobs("w1");
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  EXPECT_EQ(*released, 1);
  EXPECT_EQ(*store_->ReleaseJobs("nobody"), 0);
  auto again = store_->ClaimJob("w1");
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->id, (*a)->id);
  EXPECT_EQ((*again)->attempts, 2);
  EXPECT_FALSE(store_->ClaimJob("w3")->has_value());  // w2's job is still w2's
  EXPECT_EQ(*store_->PendingJobs(), 2);
}

TEST_P(StoreTest, TwinUpdatesCommitWithAlertsAndJobOrNotAtAll) {
  ASSERT_TRUE(store_->Write({}, {{"twin-update", "Patient/p1", ""}}).ok());
  auto job = store_->ClaimJob("w");
  ASSERT_TRUE(job.ok() && job->has_value());
  TwinCommit c;
  c.job_id = (*job)->id;
  c.twin = {"p1", "vancomycin_goti2018", 0, R"({"format":"medtwin-twin/1"})", 0};
  c.expected_revision = 0;
  c.alerts = {{0, "p1", "vancomycin_goti2018", "CP", "outlier", 47.5, 5.123456789012345, 0}};
  auto row = store_->CommitTwinUpdate(c);
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_EQ(row->revision, 1);
  EXPECT_EQ(*store_->PendingJobs(), 0);
  auto alerts = store_->Alerts("p1", 0, 10);
  ASSERT_TRUE(alerts.ok());
  ASSERT_EQ(alerts->size(), 1u);
  EXPECT_EQ((*alerts)[0].score, 5.123456789012345);  // doubles round-trip exactly
  EXPECT_EQ((*alerts)[0].time, 47.5);
  // A stale update (started from revision 0 again) is refused and leaves nothing behind.
  ASSERT_TRUE(store_->Write({}, {{"twin-update", "Patient/p1", ""}}).ok());
  job = store_->ClaimJob("w");
  ASSERT_TRUE(job.ok() && job->has_value());
  c.job_id = (*job)->id;
  c.twin.snapshot = "stale";
  auto stale = store_->CommitTwinUpdate(c);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict);
  EXPECT_EQ(store_->Alerts("p1", 0, 10)->size(), 1u);
  EXPECT_EQ(*store_->PendingJobs(), 1);  // the job is still running
  auto twin = store_->ReadTwin("p1", "vancomycin_goti2018");
  ASSERT_TRUE(twin.ok() && twin->has_value());
  EXPECT_EQ((*twin)->snapshot, R"({"format":"medtwin-twin/1"})");
  c.expected_revision = 1;
  c.twin.snapshot = "next";
  ASSERT_TRUE(store_->CommitTwinUpdate(c).ok());
  EXPECT_EQ((*store_->ReadTwin("p1", "vancomycin_goti2018"))->revision, 2);
  EXPECT_EQ(store_->ListTwins("p1")->size(), 1u);
  EXPECT_TRUE(store_->ListTwins("p9")->empty());
  EXPECT_FALSE(store_->ReadTwin("p9", "x")->has_value());
}

// One job updating two twins of a patient: both revisions and the job's completion land
// together, or, when one twin has moved on, nothing does.
TEST_P(StoreTest, SeveralTwinsCommitTogetherOrNotAtAll) {
  auto commit = [](const std::string& model, int64_t expected, const std::string& snapshot) {
    TwinCommit c;
    c.twin = {"p1", model, 0, snapshot, 0};
    c.expected_revision = expected;
    c.alerts = {{0, "p1", model, "CP", "outlier", 1.0, 4.5, 0}};
    return c;
  };
  ASSERT_TRUE(store_->CommitTwinUpdates({commit("a", 0, "a1"), commit("b", 0, "b1")}, 0).ok());
  ASSERT_TRUE(store_->Write({}, {{"twin-update", "Patient/p1", ""}}).ok());
  auto job = store_->ClaimJob("w");
  ASSERT_TRUE(job.ok() && job->has_value());
  // "b" is at revision 1, not 0: the update of "a" must not land either.
  auto bad = store_->CommitTwinUpdates({commit("a", 1, "a2"), commit("b", 0, "b2")}, (*job)->id);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kConflict);
  EXPECT_EQ((*store_->ReadTwin("p1", "a"))->snapshot, "a1");
  EXPECT_EQ(store_->Alerts("p1", 0, 10)->size(), 2u);
  EXPECT_EQ(*store_->PendingJobs(), 1);
  auto good = store_->CommitTwinUpdates({commit("a", 1, "a2"), commit("b", 1, "b2")}, (*job)->id);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  ASSERT_EQ(good->size(), 2u);
  EXPECT_EQ((*good)[0].revision, 2);
  EXPECT_EQ((*store_->ReadTwin("p1", "b"))->snapshot, "b2");
  EXPECT_EQ(store_->Alerts("p1", 0, 10)->size(), 4u);
  EXPECT_EQ(*store_->PendingJobs(), 0);
}

// Closing and reopening: everything written is there.
TEST_P(StoreTest, ReopenedStoreHasEverything) {
  ASSERT_TRUE(store_->Write({Obs("a", "p1", "8867-4", "2024-01-01", 72)}).ok());
  store_.reset();
  auto s = OpenStore(location_, options_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE((*s)->Read("Observation", "a").ok());
}

// Crash safety: a child process writes as fast as it can and reports each acknowledged id
// through a pipe; it is killed with SIGKILL mid-stream; every acknowledged resource must be
// there after reopening, with its job, and the store must accept new writes.
TEST_P(StoreTest, AcknowledgedWritesSurviveSigkill) {
  store_.reset();
  for (int round = 0; round < 5; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      auto s = OpenStore(location_);
      if (!s.ok()) _exit(3);
      for (int i = 0;; ++i) {
        const std::string id = "r" + std::to_string(round) + "-" + std::to_string(i);
        auto w = (*s)->Write({Obs(id, "p1", "8867-4", "", i)}, {{"twin-update", "Patient/p1", id}});
        if (!w.ok()) _exit(4);
        const std::string line = id + "\n";
        if (write(fds[1], line.data(), line.size()) < 0) _exit(5);
      }
    }
    close(fds[1]);
    std::vector<std::string> acked;
    std::string buf;
    char c;
    while (acked.size() < static_cast<size_t>(20 + 15 * round) && read(fds[0], &c, 1) == 1) {
      if (c == '\n') {
        acked.push_back(buf);
        buf.clear();
      } else {
        buf += c;
      }
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself: " << status;
    auto s = OpenStore(location_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    for (const std::string& id : acked) {
      EXPECT_TRUE((*s)->Read("Observation", id).ok()) << id;
    }
    EXPECT_GE(*(*s)->PendingJobs(), static_cast<int64_t>(acked.size()));
    EXPECT_TRUE((*s)->Write({Obs("after" + std::to_string(round), "p1", "8867-4", "", 1)}).ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST(Store, UnreachableDatabasesAreReported) {
  auto pg = OpenStore("postgresql://medtwin@127.0.0.1:1/none?connect_timeout=2");
  ASSERT_FALSE(pg.ok());
  EXPECT_EQ(pg.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(pg.status().message(), HasSubstr("cannot connect to PostgreSQL"));
  auto dir = OpenStore("/proc/no-such-dir/x.db");
  ASSERT_FALSE(dir.ok());
  EXPECT_THAT(dir.status().message(), HasSubstr("/proc/no-such-dir/x.db"));
  StoreOptions o;
  o.job_lease_us = 0;
  EXPECT_FALSE(OpenStore("x.db", o).ok());
}

}  // namespace
}  // namespace medtwin

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new medtwin::Postgres);
  return RUN_ALL_TESTS();
}
