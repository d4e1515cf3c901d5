// Twins behind the server (issue 7), over real HTTP on loopback with a SQLite file: a twin is
// created for a patient from the stored record, follows new data as they arrive (in order, out
// of order, corrected), and answers forecasts, what-if, dose and alert requests. The reference
// is a Twin (include/medtwin/twin.h) fed the same record by hand: the server's twin must agree
// with it bit for bit, so the mapping of codes, units, clock times and covariates is exact.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <httplib.h>
#include <unistd.h>
#include <map>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "medtwin/model.h"
#include "medtwin/server.h"
#include "medtwin/twin.h"
#include "server/twin_inputs.h"

namespace medtwin {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr const char* kModel = "vancomycin_goti2018";

// A woman born 1970-01-01, 70 kg, creatinine 1.1 mg/dL at admission on 2024-03-01 08:00 UTC.
Json PatientJson(const std::string& id) {
  return {
      {"resourceType", "Patient"}, {"id", id}, {"gender", "female"}, {"birthDate", "1970-01-01"}};
}

Json Quantity(const std::string& id, const std::string& patient, const std::string& loinc,
              const std::string& when, double value, const std::string& unit) {
  return {{"resourceType", "Observation"},
          {"id", id},
          {"status", "final"},
          {"code", {{"coding", {{{"system", "http://loinc.org"}, {"code", loinc}}}}}},
          {"subject", {{"reference", "Patient/" + patient}}},
          {"effectiveDateTime", when},
          {"valueQuantity",
           {{"value", value},
            {"unit", unit},
            {"system", "http://unitsofmeasure.org"},
            {"code", unit}}}};
}

Json Infusion(const std::string& id, const std::string& patient, const std::string& start,
              const std::string& end, double mg) {
  return {{"resourceType", "MedicationAdministration"},
          {"id", id},
          {"status", "completed"},
          {"medicationCodeableConcept",
           {{"coding",
             {{{"system", "http://www.nlm.nih.gov/research/umls/rxnorm"}, {"code", "11124"}}}}}},
          {"subject", {{"reference", "Patient/" + patient}}},
          {"effectivePeriod", {{"start", start}, {"end", end}}},
          {"dosage",
           {{"dose",
             {{"value", mg},
              {"unit", "mg"},
              {"system", "http://unitsofmeasure.org"},
              {"code", "mg"}}}}}};
}

// The record of one course: covariates, three 1 g infusions q12h, a trough and a peak.
std::vector<Json> Course(const std::string& p, double trough = 9.5) {
  return {Quantity(p + "-wt", p, "29463-7", "2024-03-01T08:00:00Z", 70, "kg"),
          Quantity(p + "-scr", p, "2160-0", "2024-03-01T08:00:00Z", 1.1, "mg/dL"),
          Infusion(p + "-d1", p, "2024-03-01T08:00:00Z", "2024-03-01T09:00:00Z", 1000),
          Infusion(p + "-d2", p, "2024-03-01T20:00:00Z", "2024-03-01T21:00:00Z", 1000),
          Quantity(p + "-c1", p, "4092-3", "2024-03-02T07:30:00Z", trough, "mg/L"),
          Infusion(p + "-d3", p, "2024-03-02T08:00:00Z", "2024-03-02T09:00:00Z", 1000),
          Quantity(p + "-c2", p, "4090-7", "2024-03-02T10:00:00Z", 28.0, "ug/mL")};
}

// The same course fed to a Twin by hand: model time in hours from the first datum.
std::unique_ptr<Twin> ReferenceTwin(const Model& model, const std::string& p, double trough,
                                    AssimilationStep* last,
                                    const AssimilationOptions& filter = {}) {
  const double age = (19783.0 * 86400.0 + 8 * 3600.0) / (365.25 * 86400.0);  // 1970 -> 2024-03-01
  TwinOptions o;
  o.filter = filter;
  o.patient_id = p;
  o.covariates = {{"SEX", 1.0}, {"AGE", age}, {"WT", 70.0}, {"SCR", 1.1}};
  auto twin = Twin::Create(model, o);
  EXPECT_TRUE(twin.ok()) << twin.status().ToString();
  Twin& t = **twin;
  // At equal times the server takes covariates first, in the order of their resource ids.
  EXPECT_TRUE(t.SetCovariates(0, {{"SCR", 1.1}}).ok());
  EXPECT_TRUE(t.SetCovariates(0, {{"WT", 70.0}}).ok());
  EXPECT_TRUE(t.Apply({0, "", 1000, 1000}).ok());
  EXPECT_TRUE(t.Apply({12, "", 1000, 1000}).ok());
  EXPECT_TRUE(t.Update({23.5, "CP", trough}).ok());
  EXPECT_TRUE(t.Apply({24, "", 1000, 1000}).ok());
  auto u = t.Update({26, "CP", 28.0});
  EXPECT_TRUE(u.ok());
  if (u.ok()) *last = u->step;
  return std::move(twin).value();
}

class TwinServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = (std::filesystem::temp_directory_path() /
           ("medtwin-twins-" + std::to_string(getpid()) + "-" + std::to_string(n_++) + ".db"))
              .string();
    std::filesystem::remove(db_);
    Start();
  }
  // Stops the server (if running) and starts it again on the same database.
  void Start() {
    client_.reset();
    server_.reset();
    ServerOptions o;
    o.db = db_;
    o.port = 0;
    auto s = Server::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(120, 0);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove(db_);
  }

  void Put(const Json& r) {
    const std::string path =
        "/fhir/" + r["resourceType"].get<std::string>() + "/" + r["id"].get<std::string>();
    auto res = client_->Put(path.c_str(), r.dump(), "application/fhir+json");
    ASSERT_TRUE(res);
    ASSERT_TRUE(res->status == 200 || res->status == 201) << res->status << " " << res->body;
  }
  httplib::Result PostJson(const std::string& path, const Json& body) {
    return client_->Post(path.c_str(), body.dump(), "application/json");
  }
  // Waits until every queued twin update has run.
  void Drain() {
    for (int i = 0; i < 6000; ++i) {
      auto h = client_->Get("/health");
      ASSERT_TRUE(h);
      if (Json::parse(h->body)["pending_jobs"] == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "twin updates did not finish";
  }
  Json Describe(const std::string& p) {
    auto r = client_->Get(("/twins/" + p + "/" + kModel).c_str());
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    return Json::parse(r->body);
  }
  void CreateTwin(const std::string& p) {
    auto r = PostJson("/twins", {{"patient", "Patient/" + p}, {"model", kModel}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
  }

  static inline int n_ = 0;
  std::string db_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

// Every built-in model's clock (h, min, s, day) maps to wall-clock milliseconds; an SBML model
// without declared units cannot be placed and says so.
TEST(TwinInputs, EveryBuiltInModelTimeUnitIsOnTheClock) {
  for (const std::string& name : ListModels()) {
    auto m = MakeModel(name);
    ASSERT_TRUE(m.ok()) << name;
    auto per = server::MsPerTimeUnit((*m)->spec());
    ASSERT_TRUE(per.ok()) << name << ": " << per.status().ToString();
    EXPECT_GE(*per, 1000.0) << name;
  }
  ModelSpec sbml;
  sbml.name = "imported";
  sbml.time_unit = "model time units";
  auto refused = server::MsPerTimeUnit(sbml);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), testing::HasSubstr("model time units"));
}

TEST_F(TwinServerTest, TwinFromTheRecordMatchesAHandFedTwinExactly) {
  Put(PatientJson("p1"));
  for (const Json& r : Course("p1")) Put(r);
  // Another drug is not the vancomycin twin's input (and is not an error either).
  Json other = Infusion("p1-para", "p1", "2024-03-01T12:00:00Z", "2024-03-01T12:15:00Z", 1000);
  other["medicationCodeableConcept"]["coding"][0]["code"] = "161";  // acetaminophen
  Put(other);
  Drain();  // no twin yet: the jobs complete with nothing to do
  CreateTwin("p1");
  const Json d = Describe("p1");
  EXPECT_EQ(d["observations"], 2);
  EXPECT_EQ(d["origin"], "2024-03-01T08:00:00.000Z");
  EXPECT_EQ(d["now"]["at"], "2024-03-02T10:00:00.000Z");
  EXPECT_DOUBLE_EQ(d["now"]["time"].get<double>(), 26.0);
  EXPECT_EQ(d["skipped"]["total"], 0);
  EXPECT_EQ(d["covariates"]["SEX"]["value"], 1.0);

  auto model = MakeModel(kModel);
  ASSERT_TRUE(model.ok());
  AssimilationStep step;
  auto ref = ReferenceTwin(**model, "p1", 9.5, &step);
  // The last step's prediction, bit for bit (the peak was sent in ug/mL, the same as mg/L).
  const Json& last = d["last_observation"];
  EXPECT_EQ(last["value"], 28.0);
  EXPECT_EQ(last["pred"].get<double>(), step.pred);
  EXPECT_EQ(last["pred_lo"].get<double>(), step.pred_lo);
  EXPECT_EQ(last["z"].get<double>(), step.z);
  EXPECT_EQ(last["lost_members"], 0);
  // Both twins give the same forecast for the next hours.
  auto fc = PostJson("/twins/p1/" + std::string(kModel) + "/forecast",
                     {{"horizon_h", 6}, {"step_h", 1}, {"draws", 200}, {"seed", 3}});
  ASSERT_TRUE(fc);
  ASSERT_EQ(fc->status, 200) << fc->body;
  const Json f = Json::parse(fc->body);
  ForecastOptions fo;
  fo.draws = 200;
  fo.seed = 3;
  auto rf = ref->Forecast(6, 1, {}, fo);
  ASSERT_TRUE(rf.ok()) << rf.status().ToString();
  ASSERT_EQ(f["observables"]["CP"]["p50"].size(), rf->time.size());
  for (size_t i = 0; i < rf->time.size(); ++i) {
    EXPECT_EQ(f["observables"]["CP"]["p5"][i].get<double>(), rf->At(i, 0, 0, 1));
    EXPECT_EQ(f["observables"]["CP"]["p50"][i].get<double>(), rf->At(i, 0, 1, 1));
    EXPECT_EQ(f["observables"]["CP"]["p95"][i].get<double>(), rf->At(i, 0, 2, 1));
  }
  EXPECT_EQ(f["at"][0], "2024-03-02T11:00:00.000Z");
}

// Model error set at creation (POST /twins) reaches the twin's filter, is stored with it and
// survives a restart: after one, a corrected level makes the server rebuild the twin from its
// stored configuration, and the result equals a hand-fed twin with the same options, bit for
// bit, and differs from one without them.
TEST_F(TwinServerTest, ModelErrorOptionsAreStoredAndUsedOnRebuild) {
  Put(PatientJson("p9"));
  for (const Json& r : Course("p9")) Put(r);
  auto r = PostJson("/twins", {{"patient", "Patient/p9"},
                               {"model", kModel},
                               {"state_noise_sd", 0.02},
                               {"eta_noise_sd", {{"CL", 0.03}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  const Json created = Json::parse(r->body);
  EXPECT_EQ(created["eta_noise_sd"], Json({0.03, 0.0, 0.0}));
  auto model = MakeModel(kModel);
  ASSERT_TRUE(model.ok());
  const size_t n = (*model)->spec().states.size();
  EXPECT_EQ(created["state_noise_sd"], Json(std::vector<double>(n, 0.02)));
  Start();  // the twin now comes from the store
  Json corrected = Course("p9", 11.0)[4];
  Put(corrected);
  Drain();
  const Json d = Describe("p9");
  EXPECT_EQ(d["rebuilds"], 1);
  EXPECT_EQ(d["eta_noise_sd"], Json({0.03, 0.0, 0.0}));

  AssimilationOptions with;
  with.state_noise_sd.assign(n, 0.02);
  with.eta_noise_sd = {0.03, 0.0, 0.0};
  AssimilationStep step, plain;
  ReferenceTwin(**model, "p9", 11.0, &step, with);
  ReferenceTwin(**model, "p9", 11.0, &plain);
  const Json& last = d["last_observation"];
  EXPECT_EQ(last["pred"].get<double>(), step.pred);
  EXPECT_EQ(last["pred_hi"].get<double>(), step.pred_hi);
  EXPECT_NE(step.pred_hi, plain.pred_hi);
}

TEST_F(TwinServerTest, TwinFollowsDataInAnyOrderAndCorrections) {
  // p2's twin exists before its data; they arrive out of time order and one level is then
  // corrected. p3 gets the final record at once. The twins must end identical.
  Put(PatientJson("p2"));
  std::vector<Json> course = Course("p2", 30.0);  // the trough first sent wrong
  Put(course[0]);                                 // weight and creatinine: the twin needs them
  Put(course[1]);
  CreateTwin("p2");
  std::swap(course[2], course[6]);  // the peak arrives first
  std::swap(course[3], course[5]);
  for (size_t i = 2; i < course.size(); ++i) Put(course[i]);
  Drain();
  Json before = Describe("p2");
  EXPECT_EQ(before["observations"].get<int>() >= 2, true);
  EXPECT_GE(before["rebuilds"].get<int>(), 1);
  Put(Quantity("p2-c1", "p2", "4092-3", "2024-03-02T07:30:00Z", 9.5, "mg/L"));  // corrected
  Drain();
  Put(PatientJson("p3"));
  for (const Json& r : Course("p3", 9.5)) Put(r);
  CreateTwin("p3");
  Drain();
  const Json a = Describe("p2"), b = Describe("p3");
  EXPECT_EQ(a["now"], b["now"]);
  EXPECT_EQ(a["last_observation"]["pred"], b["last_observation"]["pred"]);
  EXPECT_EQ(a["last_observation"]["z"], b["last_observation"]["z"]);
  EXPECT_EQ(a["parameters"], b["parameters"]);
  EXPECT_GT(a["revision"].get<int>(), b["revision"].get<int>());
}

TEST_F(TwinServerTest, NewLevelsUpdateTheTwinAndAnOutlierRaisesAnAlert) {
  Put(PatientJson("p4"));
  std::vector<Json> course = Course("p4");
  for (size_t i = 0; i < 5; ++i) Put(course[i]);  // up to the first trough
  CreateTwin("p4");
  EXPECT_EQ(Describe("p4")["observations"], 1);
  Put(course[5]);
  Put(Quantity("p4-c2", "p4", "4090-7", "2024-03-02T10:00:00Z", 150.0, "mg/L"));  // 5x too high
  Drain();
  const Json d = Describe("p4");
  EXPECT_EQ(d["observations"], 2);
  EXPECT_GT(d["last_observation"]["z"].get<double>(), 3.0);
  auto alerts = client_->Get("/alerts?patient=p4");
  ASSERT_TRUE(alerts);
  ASSERT_EQ(alerts->status, 200) << alerts->body;
  const Json al = Json::parse(alerts->body)["alerts"];
  ASSERT_GE(al.size(), 1u);
  EXPECT_EQ(al[0]["kind"], "outlier");
  EXPECT_EQ(al[0]["observable"], "CP");
  EXPECT_EQ(al[0]["at"], "2024-03-02T10:00:00.000Z");
  auto own = client_->Get(("/twins/p4/" + std::string(kModel) + "/alerts").c_str());
  ASSERT_TRUE(own);
  EXPECT_EQ(Json::parse(own->body)["alerts"].size(), al.size());
  // A level from before the outlier arrives late: the twin is rebuilt from the record, and the
  // outlier's alert, raised already, is not raised again.
  Put(Quantity("p4-late", "p4", "20578-1", "2024-03-01T21:30:00Z", 40.0, "mg/L"));
  Drain();
  const Json rebuilt = Describe("p4");
  EXPECT_EQ(rebuilt["observations"], 3);
  EXPECT_GE(rebuilt["rebuilds"].get<int>(), 1);
  auto again = client_->Get("/alerts?patient=p4");
  ASSERT_TRUE(again);
  EXPECT_EQ(Json::parse(again->body)["alerts"].size(), al.size()) << again->body;
}

TEST_F(TwinServerTest, WhatIfAndDoseRecommendation) {
  Put(PatientJson("p5"));
  for (const Json& r : Course("p5")) Put(r);
  CreateTwin("p5");
  const std::string base = "/twins/p5/" + std::string(kModel);
  auto w =
      PostJson(base + "/whatif", {{"horizon_h", 24},
                                  {"step_h", 1},
                                  {"draws", 100},
                                  {"regimens",
                                   {{"stop", Json::array()},
                                    {"continue",
                                     {{{"after_h", 10}, {"amount", 1000}, {"duration_h", 1}},
                                      {{"after_h", 22}, {"amount", 1000}, {"duration_h", 1}}}}}}});
  ASSERT_TRUE(w);
  ASSERT_EQ(w->status, 200) << w->body;
  const Json wi = Json::parse(w->body)["regimens"];
  ASSERT_EQ(wi.size(), 2u);
  const Json& cont = wi[0]["name"] == "continue" ? wi[0] : wi[1];
  const Json& stop = wi[0]["name"] == "stop" ? wi[0] : wi[1];
  EXPECT_GT(cont["summary"]["CP"]["median_max"].get<double>(),
            stop["summary"]["CP"]["median_max"].get<double>());
  EXPECT_GT(cont["summary"]["CP"]["median_last"].get<double>(),
            2 * stop["summary"]["CP"]["median_last"].get<double>());
  // Exposure on a window of the next 24 h, over the same draws of the twin's posterior.
  Json ask = {{"horizon_h", 24},
              {"draws", 100},
              {"window_h", {0, 24}},
              {"targets", {"auc24=400..600"}},
              {"metrics", {"trough"}},
              {"regimens",
               {{"stop", Json::array()},
                {"continue",
                 {{{"after_h", 10}, {"amount", 1000}, {"duration_h", 1}},
                  {{"after_h", 22}, {"amount", 1000}, {"duration_h", 1}}}}}}};
  auto e = PostJson(base + "/whatif", ask);
  ASSERT_TRUE(e);
  ASSERT_EQ(e->status, 200) << e->body;
  const Json ex = Json::parse(e->body);
  EXPECT_TRUE(ex.contains("window")) << e->body;
  std::map<std::string, Json> by_name;
  for (const Json& reg : ex["regimens"]) by_name[reg["name"]] = reg["exposure"];
  ASSERT_EQ(by_name.size(), 2u) << e->body;
  EXPECT_EQ(by_name["continue"]["dose_in_window"].get<double>(), 2000.0);
  EXPECT_EQ(by_name["stop"]["dose_in_window"].get<double>(), 0.0);
  const Json& auc_cont = by_name["continue"]["metrics"][0];
  const Json& auc_stop = by_name["stop"]["metrics"][0];
  EXPECT_EQ(auc_cont["metric"], "auc24=400..600");
  EXPECT_GT(auc_cont["p50"].get<double>(), auc_stop["p50"].get<double>());
  EXPECT_LE(auc_cont["p5"].get<double>(), auc_cont["p50"].get<double>());
  EXPECT_LE(auc_cont["p50"].get<double>(), auc_cont["p95"].get<double>());
  EXPECT_EQ(by_name["continue"]["pta"], auc_cont["pta"]);  // the trough has no range
  EXPECT_FALSE(by_name["continue"]["metrics"][1].contains("pta"));
  ask.erase("window_h");
  auto no_window = PostJson(base + "/whatif", ask);
  ASSERT_TRUE(no_window);
  EXPECT_EQ(no_window->status, 400);
  EXPECT_THAT(no_window->body, HasSubstr("window_h: required with targets or metrics"));

  auto dose = PostJson(base + "/dose", {{"targets", {"auc24=400..600"}},
                                        {"amounts", {500, 750, 1000, 1250, 1500, 1750, 2000}},
                                        {"intervals_h", {8, 12, 24}},
                                        {"draws", 200}});
  ASSERT_TRUE(dose);
  ASSERT_EQ(dose->status, 200) << dose->body;
  const Json best = Json::parse(dose->body)["best"];
  ASSERT_FALSE(best.empty());
  EXPECT_GT(best[0]["pta"].get<double>(), 0.3);
  // The recommended daily dose puts the median AUC24 inside the target.
  EXPECT_GE(best[0]["median"][0].get<double>(), 400.0);
  EXPECT_LE(best[0]["median"][0].get<double>(), 600.0);
}

TEST_F(TwinServerTest, EventStreamCarriesTwinUpdates) {
  Put(PatientJson("p6"));
  std::vector<Json> course = Course("p6");
  Put(course[0]);
  Put(course[1]);
  CreateTwin("p6");
  std::string received;
  std::thread reader([&] {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(30, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    c.Get("/events?patient=Patient/p6&after=0", [&](const char* data, size_t n) {
      received.append(data, n);
      return received.find("p6-c2") == std::string::npos &&
             std::chrono::steady_clock::now() < deadline;
    });
  });
  for (size_t i = 2; i < course.size(); ++i) Put(course[i]);
  reader.join();
  EXPECT_THAT(received, HasSubstr("\"source\":\"Observation/p6-c2\""));
  EXPECT_THAT(received, HasSubstr("event: twin-update"));
  EXPECT_THAT(received, HasSubstr("\"patient\":\"p6\""));
}

TEST_F(TwinServerTest, BadTwinRequestsAreClearErrors) {
  Put(PatientJson("p7"));
  auto expect = [&](const httplib::Result& r, int status, const std::string& text) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_THAT(r->body, HasSubstr(text));
    EXPECT_THAT(r->body, HasSubstr("OperationOutcome"));
  };
  expect(PostJson("/twins", {{"patient", "p7"}, {"model", "no_such_model"}}), 400, "model");
  expect(PostJson("/twins", {{"patient", "nobody"}, {"model", kModel}}), 404, "Patient/nobody");
  expect(PostJson("/twins", {{"patient", "p7"}}), 400, "model: required");
  expect(PostJson("/twins", {{"patient", "p7"}, {"model", kModel}, {"colour", 1}}), 400,
         "unknown field 'colour'");
  expect(PostJson("/twins", {{"patient", "p7"}, {"model", kModel}, {"members", -3}}), 400,
         "members");
  expect(client_->Post("/twins", "{not json", "application/json"), 400, "not valid JSON");
  expect(PostJson("/twins", {{"patient", "p7"}, {"model", kModel}, {"state_noise_sd", "x"}}), 400,
         "state_noise_sd: must be a number or an object");
  expect(
      PostJson("/twins", {{"patient", "p7"}, {"model", kModel}, {"eta_noise_sd", {{"KA", 0.1}}}}),
      400, "eta_noise_sd: 'KA' is not one of CL, V1, V2");
  expect(PostJson("/twins",
                  {{"patient", "p7"}, {"model", kModel}, {"initial_state_sd", {{"central", -1}}}}),
         400, "initial_state_sd.central: -1 is not an SD >= 0");
  expect(PostJson("/twins", {{"patient", "p7"},
                             {"model", kModel},
                             {"correlated_errors", {{{"observable", "CP"}, {"fraction", 0.5}}}}}),
         400, "correlated_errors[0]: observable, fraction and tau are required");
  expect(
      PostJson("/twins", {{"patient", "p7"},
                          {"model", kModel},
                          {"correlated_errors",
                           {{{"observable", "CP"}, {"fraction", 0.5}, {"tau", 1}, {"order", 3}}}}}),
      400, "correlated_errors[0]: order: 3 is outside 1.0..2.0");
  // Vancomycin needs weight and creatinine: without them there is no twin, and it says so.
  expect(PostJson("/twins", {{"patient", "p7"}, {"model", kModel}}), 404, "WT");
  for (const Json& r : Course("p7")) Put(r);
  CreateTwin("p7");
  expect(PostJson("/twins", {{"patient", "p7"}, {"model", kModel}}), 409, "exists");
  const std::string base = "/twins/p7/" + std::string(kModel);
  expect(PostJson(base + "/forecast", {{"horizon_h", -1}}), 400, "horizon_h");
  expect(PostJson(base + "/forecast", {{"regimen", {{{"after_h", 1}}}}}), 400, "regimen[0].amount");
  expect(PostJson(base + "/forecast",
                  {{"regimen", {{{"at", "2024-03-01T00:00:00Z"}, {"amount", 1000}}}}}),
         400, "before the twin's now");
  expect(PostJson(base + "/dose", {{"targets", {"auc24=banana"}}, {"amounts", {1000}}}), 400,
         "targets");
  expect(PostJson(base + "/dose", {{"targets", {"auc24=400..600"}}}), 400, "amounts");
  expect(client_->Get("/twins/p7/pk1cmt"), 404, "no twin");
  expect(client_->Get("/twins"), 400, "patient");
  // The server keeps serving.
  EXPECT_EQ(Describe("p7")["observations"], 2);
}

}  // namespace
}  // namespace medtwin

namespace medtwin {
namespace {

// Every operation /openapi.json documents is one the server routes (no "no such endpoint"),
// and the document is valid JSON with the OpenAPI 3 shape.
TEST_F(TwinServerTest, OpenApiDocumentsRoutedEndpoints) {
  auto r = client_->Get("/openapi.json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const Json doc = Json::parse(r->body);
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  int operations = 0;
  for (const auto& [path, item] : doc["paths"].items()) {
    std::string concrete = path;
    for (const auto& [from, to] :
         std::vector<std::pair<std::string, std::string>>{{"{type}", "Patient"},
                                                          {"{id}", "x"},
                                                          {"{version}", "1"},
                                                          {"{patient}", "x"},
                                                          {"{model}", kModel}}) {
      const size_t at = concrete.find(from);
      if (at != std::string::npos) concrete.replace(at, from.size(), to);
    }
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters") continue;
      SCOPED_TRACE(method + " " + concrete);
      ++operations;
      EXPECT_TRUE(op.contains("operationId"));
      if (concrete == "/events") continue;  // a stream; routed (tested above)
      httplib::Result res = method == "get" ? client_->Get(concrete.c_str())
                            : method == "post"
                                ? client_->Post(concrete.c_str(), "{}", "application/json")
                                : client_->Put(concrete.c_str(), "{}", "application/json");
      ASSERT_TRUE(res);
      EXPECT_THAT(res->body, ::testing::Not(HasSubstr("no such endpoint")));
    }
  }
  EXPECT_EQ(operations, 20);  // every route of src/server/server.cc
}

}  // namespace
}  // namespace medtwin
