// `medtwin serve --demo`'s feed (src/server/demo_feed.h) against a real server on loopback: the
// whole ward arrives through the HTTP API, every patient gets a twin that takes in all of its
// levels, and the mislabelled level of demo-3 raises an alert.
#include "server/demo_feed.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "medtwin/server.h"
#include "server/demo_ward.h"

namespace medtwin::server {
namespace {

using Json = nlohmann::json;

TEST(DemoFeed, WardStreamsInAndTwinsFollowIt) {
  const std::string db = (std::filesystem::temp_directory_path() /
                          ("medtwin-demo-feed-" + std::to_string(getpid()) + ".db"))
                             .string();
  std::filesystem::remove(db);
  ServerOptions so;
  so.db = db;
  so.port = 0;
  auto server = Server::Start(so);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  DemoFeedOptions o;
  o.patients = 4;
  o.hours = 72;
  o.preload_hours = 30;
  o.speed = 1e7;  // the streamed part in well under a second
  o.now_ms = 1709280000000 + 30 * 3'600'000LL;
  std::vector<std::string> lines;
  std::atomic<bool> stop{false};
  auto done = RunDemoFeed((*server)->port(), o,
                          [&](const std::string& line) { lines.push_back(line); }, stop);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  DemoWardOptions wo;
  wo.patients = 4;
  wo.start_epoch_ms = 1709280000000;
  auto ward = MakeDemoWard(wo);
  ASSERT_TRUE(ward.ok());
  EXPECT_EQ(done->resources, static_cast<int>(ward->items.size()));
  EXPECT_EQ(done->twins, 4);
  httplib::Client client("127.0.0.1", (*server)->port());
  for (const DemoPatient& p : ward->patients) {
    SCOPED_TRACE(p.id);
    int levels = 0;
    for (const DemoItem& item : ward->items) {
      levels += item.type == "Observation" && item.id.find(p.id + "-level") == 0;
    }
    auto twin = client.Get(("/twins/" + p.id + "/vancomycin_goti2018").c_str());
    ASSERT_TRUE(twin);
    ASSERT_EQ(twin->status, 200) << twin->body;
    const Json t = Json::parse(twin->body);
    EXPECT_EQ(t["observations"], levels);
    EXPECT_EQ(t["skipped"]["total"], 0);
  }
  // The mislabelled level is the alert (and the only patient alerting).
  auto alerts = client.Get("/alerts");
  ASSERT_TRUE(alerts);
  const Json al = Json::parse(alerts->body)["alerts"];
  ASSERT_GE(al.size(), 1u);
  for (const Json& a : al) EXPECT_EQ(a["patient"], "demo-3");
  EXPECT_EQ(done->alerts, static_cast<int>(al.size()));
  EXPECT_NE(std::find_if(lines.begin(), lines.end(),
                         [](const std::string& l) { return l.rfind("ALERT demo-3", 0) == 0; }),
            lines.end());
  (*server)->Stop();
  std::filesystem::remove(db);
}

TEST(DemoFeed, BadOptionsAndAnAbsentServerAreErrors) {
  std::atomic<bool> stop{false};
  DemoFeedOptions o;
  o.speed = 0;
  auto bad = RunDemoFeed(
      1, o, [](const std::string&) {}, stop);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("speed"), std::string::npos);
  o = DemoFeedOptions{};
  o.preload_hours = 72;
  auto absent = RunDemoFeed(
      1, o, [](const std::string&) {}, stop);  // nothing listens on port 1
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.status().message().find("did not answer"), std::string::npos);
}

}  // namespace
}  // namespace medtwin::server
