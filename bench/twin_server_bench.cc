// Twins behind the server (issue 7), over real HTTP on loopback with a SQLite file:
//  - BM_ObservationToForecast: the time from sending a drug level (PUT /fhir/Observation) to
//    the twin's updated forecast: the PUT's acknowledgement, the worker's update arriving on the
//    event stream (GET /events), then POST .../forecast. Reports p50 and p99.
//  - BM_IngestWithTwins: transaction bundles of levels for patients that have twins: the ingest
//    rate clients see (resources acknowledged per second) and the rate at which the twin worker
//    takes them in (drain time of the queue).
#include <benchmark/benchmark.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "medtwin/server.h"
#include "server/ingest.h"

namespace medtwin {
namespace {

using Json = nlohmann::json;
constexpr const char* kModel = "vancomycin_goti2018";
constexpr int64_t kStartMs = 1709280000000;  // 2024-03-01T08:00:00Z

std::string Iso(double hours) {
  return server::IsoUtc(kStartMs + static_cast<int64_t>(hours * 3'600'000));
}

Json Level(const std::string& id, const std::string& patient, double hours, double value) {
  return {{"resourceType", "Observation"},
          {"id", id},
          {"status", "final"},
          {"code", {{"coding", {{{"system", "http://loinc.org"}, {"code", "20578-1"}}}}}},
          {"subject", {{"reference", "Patient/" + patient}}},
          {"effectiveDateTime", Iso(hours)},
          {"valueQuantity",
           {{"value", value},
            {"unit", "mg/L"},
            {"system", "http://unitsofmeasure.org"},
            {"code", "mg/L"}}}};
}

// A server on a new SQLite file with `patients` vancomycin patients (weight, creatinine, 1 g
// q12h for 3 days as a continuous record) and their twins.
struct Ward {
  std::string db;
  std::unique_ptr<Server> server;
  std::unique_ptr<httplib::Client> client;

  explicit Ward(int patients) {
    db = (std::filesystem::temp_directory_path() /
          ("medtwin-twin-bench-" + std::to_string(getpid()) + ".db"))
             .string();
    std::filesystem::remove(db);
    ServerOptions o;
    o.db = db;
    o.port = 0;
    server = std::move(Server::Start(o)).value();
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
    client->set_read_timeout(60, 0);
    for (int p = 0; p < patients; ++p) {
      const std::string id = "b" + std::to_string(p);
      Json entries = Json::array();
      auto add = [&](const Json& r) {
        entries.push_back(
            {{"resource", r},
             {"request",
              {{"method", "PUT"},
               {"url", r["resourceType"].get<std::string>() + "/" + r["id"].get<std::string>()}}}});
      };
      add({{"resourceType", "Patient"},
           {"id", id},
           {"gender", "male"},
           {"birthDate", "1960-05-01"}});
      for (const auto& [code, value, unit] :
           {std::tuple{"29463-7", 80.0, "kg"}, std::tuple{"2160-0", 1.0, "mg/dL"}}) {
        Json obs = Level(id + "-" + code, id, 0, value);
        obs["code"]["coding"][0]["code"] = code;
        obs["valueQuantity"]["unit"] = unit;
        obs["valueQuantity"]["code"] = unit;
        add(obs);
      }
      for (int k = 0; k < 6; ++k) {
        add({{"resourceType", "MedicationAdministration"},
             {"id", id + "-dose" + std::to_string(k)},
             {"status", "completed"},
             {"medicationCodeableConcept",
              {{"coding",
                {{{"system", "http://www.nlm.nih.gov/research/umls/rxnorm"}, {"code", "11124"}}}}}},
             {"subject", {{"reference", "Patient/" + id}}},
             {"effectivePeriod", {{"start", Iso(12.0 * k)}, {"end", Iso(12.0 * k + 1)}}},
             {"dosage",
              {{"dose",
                {{"value", 1000},
                 {"unit", "mg"},
                 {"code", "mg"},
                 {"system", "http://unitsofmeasure.org"}}}}}});
      }
      const Json bundle = {{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}};
      client->Post("/fhir", bundle.dump(), "application/fhir+json");
      const Json twin = {{"patient", id}, {"model", kModel}};
      client->Post("/twins", twin.dump(), "application/json");
    }
  }
  ~Ward() {
    server.reset();
    std::filesystem::remove(db);
  }
  void Drain() {
    while (true) {
      auto h = client->Get("/health");
      if (!h || Json::parse(h->body)["pending_jobs"] == 0) return;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1))];
}

void BM_ObservationToForecast(benchmark::State& state) {
  Ward ward(1);
  // The event stream, read on its own thread.
  std::mutex mu;
  std::condition_variable cv;
  std::string events;
  bool done = false;
  std::thread reader([&] {
    httplib::Client c("127.0.0.1", ward.server->port());
    c.set_read_timeout(60, 0);
    c.Get("/events?patient=b0", [&](const char* data, size_t n) {
      std::lock_guard lock(mu);
      events.append(data, n);
      cv.notify_all();
      return !done;
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the stream is open
  const Json forecast = {{"horizon_h", 24}, {"step_h", 1}, {"draws", 200}};
  std::vector<double> update_ms, total_ms;
  int k = 0;
  for (auto _ : state) {
    const std::string id = "b0-level" + std::to_string(k);
    const double hours = 2.0 + 0.25 * k++;  // after the record, in time order
    const Json level = Level(id, "b0", hours, 12.0 + (k % 7));
    const auto t0 = std::chrono::steady_clock::now();
    auto put = ward.client->Put(("/fhir/Observation/" + id).c_str(), level.dump(),
                                "application/fhir+json");
    if (!put || put->status >= 300) state.SkipWithError("PUT failed");
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return events.find("Observation/" + id + "\"") != std::string::npos; });
    }
    const auto t1 = std::chrono::steady_clock::now();
    auto fc = ward.client->Post(("/twins/b0/" + std::string(kModel) + "/forecast").c_str(),
                                forecast.dump(), "application/json");
    if (!fc || fc->status != 200) state.SkipWithError("forecast failed");
    const auto t2 = std::chrono::steady_clock::now();
    update_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    total_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
    state.SetIterationTime(std::chrono::duration<double>(t2 - t0).count());
  }
  {
    std::lock_guard lock(mu);
    done = true;
  }
  ward.server->Stop();
  reader.join();
  state.counters["update_p50_ms"] = Percentile(update_ms, 50);
  state.counters["update_p99_ms"] = Percentile(update_ms, 99);
  state.counters["forecast_p50_ms"] = Percentile(total_ms, 50);
  state.counters["forecast_p99_ms"] = Percentile(total_ms, 99);
}
BENCHMARK(BM_ObservationToForecast)
    ->UseManualTime()
    ->Iterations(200)
    ->Unit(benchmark::kMillisecond);

// Bundles of 50 levels (10 per patient, 5 patients with twins), sent by one client.
void BM_IngestWithTwins(benchmark::State& state) {
  Ward ward(5);
  int64_t resources = 0;
  double ack_s = 0, drain_s = 0;
  int batch = 0;
  for (auto _ : state) {
    Json entries = Json::array();
    for (int p = 0; p < 5; ++p) {
      for (int j = 0; j < 10; ++j) {
        const std::string id =
            "b" + std::to_string(p) + "-x" + std::to_string(batch) + "-" + std::to_string(j);
        const Json r = Level(id, "b" + std::to_string(p), 2.0 + batch + 0.1 * j, 10.0 + j);
        entries.push_back(
            {{"resource", r}, {"request", {{"method", "PUT"}, {"url", "Observation/" + id}}}});
      }
    }
    ++batch;
    const std::string body =
        Json{{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}}.dump();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = ward.client->Post("/fhir", body, "application/fhir+json");
    if (!r || r->status != 200) state.SkipWithError("bundle refused");
    const auto t1 = std::chrono::steady_clock::now();
    ward.Drain();
    const auto t2 = std::chrono::steady_clock::now();
    resources += 50;
    ack_s += std::chrono::duration<double>(t1 - t0).count();
    drain_s += std::chrono::duration<double>(t2 - t0).count();
    state.SetIterationTime(std::chrono::duration<double>(t2 - t0).count());
  }
  state.counters["acked_resources_per_s"] = static_cast<double>(resources) / ack_s;
  state.counters["twin_observations_per_s"] = static_cast<double>(resources) / drain_s;
}
BENCHMARK(BM_IngestWithTwins)->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace medtwin

BENCHMARK_MAIN();
