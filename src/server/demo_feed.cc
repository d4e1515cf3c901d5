#include "server/demo_feed.h"

#include <httplib.h>

#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "server/demo_ward.h"
#include "server/ingest.h"

namespace medtwin::server {
namespace {

using Json = nlohmann::json;

constexpr const char* kModel = "vancomycin_goti2018";

// The server's OperationOutcome text, or the HTTP error.
Status Refused(const httplib::Result& r, const std::string& what) {
  if (!r) return Status::Unavailable(what + ": the server did not answer");
  std::string why = r->body;
  Json j = Json::parse(r->body, nullptr, false);
  if (!j.is_discarded() && j.contains("issue") && !j["issue"].empty()) {
    why = j["issue"][0].value("diagnostics", r->body);
  }
  return Status::Invalid(what + ": HTTP " + std::to_string(r->status) + ": " + why);
}

// One line about a resource: "demo-2  vancomycin trough 12.3 mg/L".
std::string Describe(const Json& r) {
  const std::string type = r.value("resourceType", "");
  std::string who = r.contains("subject") ? r["subject"].value("reference", "") : "";
  if (type == "Patient") {
    return r.value("id", "") + "  admitted (" + r.value("gender", "") + ", born " +
           r.value("birthDate", "") + ")";
  }
  if (who.rfind("Patient/", 0) == 0) who = who.substr(8);
  if (type == "Observation") {
    const Json& code = r["code"]["coding"][0];
    const Json& q = r["valueQuantity"];
    char value[32];
    std::snprintf(value, sizeof value, "%.4g", q.value("value", 0.0));
    return who + "  " + code.value("display", code.value("code", "")) + " " + value + " " +
           q.value("unit", "");
  }
  if (type == "MedicationAdministration") {
    const Json& dose = r["dosage"]["dose"];
    char value[32];
    std::snprintf(value, sizeof value, "%.4g", dose.value("value", 0.0));
    return who + "  vancomycin " + value + " " + dose.value("unit", "") + " infused";
  }
  return who + "  " + type;
}

// Which twin inputs a patient has sent so far (a twin needs weight and creatinine).
struct Progress {
  bool weight = false, creatinine = false, twin = false;
};

}  // namespace

Status DemoFeedOptions::Validate() const {
  if (patients < 1 || patients > 100) return Status::Invalid("demo patients: must be 1..100");
  if (!(hours > 0.0 && hours <= 720.0)) return Status::Invalid("demo hours: must be in (0, 720]");
  if (!(preload_hours >= 0.0 && preload_hours <= hours)) {
    return Status::Invalid("demo preload hours: must be within 0..hours");
  }
  if (!(speed > 0.0) || !std::isfinite(speed)) return Status::Invalid("demo speed: must be > 0");
  return Status::Ok();
}

Result<DemoFeedSummary> RunDemoFeed(int port, const DemoFeedOptions& options,
                                    const std::function<void(const std::string&)>& log,
                                    const std::atomic<bool>& stop) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  const int64_t now_ms = options.now_ms != 0
                             ? options.now_ms
                             : std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
  // The ward's first admission, on the hour, preload_hours before now.
  const int64_t hour = 3'600'000;
  DemoWardOptions wo;
  wo.patients = options.patients;
  wo.seed = options.seed;
  wo.hours = options.hours;
  wo.start_epoch_ms =
      (now_ms - static_cast<int64_t>(std::llround(options.preload_hours * hour))) / hour * hour;
  auto ward = MakeDemoWard(wo);
  if (!ward.ok()) return ward.status();

  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  DemoFeedSummary summary;
  std::map<std::string, Progress> progress;
  int64_t last_alert = 0;
  // Alerts raised so far (the twins update in the background, so an alert may show a little
  // after its level).
  auto PollAlerts = [&] {
    auto alerts = client.Get(("/alerts?after=" + std::to_string(last_alert)).c_str());
    if (!alerts || alerts->status != 200) return;
    const Json a = Json::parse(alerts->body, nullptr, false);
    if (a.is_discarded()) return;
    for (const Json& al : a["alerts"]) {
      last_alert = al["id"].get<int64_t>();
      ++summary.alerts;
      char score[32];
      std::snprintf(score, sizeof score, "%.2f", al.value("score", 0.0));
      log("ALERT " + al.value("patient", "") + "  " + al.value("kind", "") + " on " +
          al.value("observable", "") + " at " + al.value("at", "?").substr(0, 16) + " (score " +
          score + ")");
    }
  };
  const auto real_start = std::chrono::steady_clock::now();
  bool announced = false;
  for (const DemoItem& item : ward->items) {
    if (item.at_ms > now_ms) {
      if (!announced) {
        log("ward data up to now are in; streaming the rest at " +
            std::to_string(static_cast<int>(options.speed)) + "x real time");
        announced = true;
      }
      const auto due = real_start + std::chrono::milliseconds(static_cast<int64_t>(
                                        static_cast<double>(item.at_ms - now_ms) / options.speed));
      while (std::chrono::steady_clock::now() < due) {
        if (stop) return summary;
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            due - std::chrono::steady_clock::now(), std::chrono::milliseconds(100)));
      }
    }
    if (stop) return summary;
    const std::string path = "/fhir/" + item.type + "/" + item.id;
    auto put = client.Put(path.c_str(), item.json, "application/fhir+json");
    if (!put || (put->status != 200 && put->status != 201)) return Refused(put, "PUT " + path);
    ++summary.resources;
    const Json r = Json::parse(item.json);
    log(IsoUtc(item.at_ms).substr(0, 16) + "  " + Describe(r));
    // A twin for each patient as soon as its weight and creatinine are known.
    std::string patient = item.type == "Patient" ? item.id : "";
    if (item.type == "Observation") {
      patient = r["subject"]["reference"].get<std::string>().substr(8);
      const std::string code = r["code"]["coding"][0].value("code", "");
      progress[patient].weight |= code == "29463-7";
      progress[patient].creatinine |= code == "2160-0";
    }
    Progress& p = progress[patient];
    if (!patient.empty() && !p.twin && p.weight && p.creatinine) {
      const Json body = {{"patient", patient}, {"model", kModel}};
      auto created = client.Post("/twins", body.dump(), "application/json");
      if (!created || (created->status != 201 && created->status != 409)) {
        return Refused(created, "POST /twins for " + patient);
      }
      p.twin = true;
      ++summary.twins;
      log("twin of " + patient + " (" + kModel + ") created from its record");
    }
    PollAlerts();
  }
  // The last twin updates, then their alerts.
  for (int i = 0; i < 6000 && !stop; ++i) {
    auto h = client.Get("/health");
    if (!h || h->status != 200) break;
    const Json j = Json::parse(h->body, nullptr, false);
    if (j.is_discarded() || j.value("pending_jobs", 0) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  PollAlerts();
  char hours[32];
  std::snprintf(hours, sizeof hours, "%g", options.hours);
  log(std::string("all ") + hours + " h of the ward's data are in");
  return summary;
}

}  // namespace medtwin::server
