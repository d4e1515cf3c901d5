// `medtwin serve [--db PATH|URL] [--port 8080] [--demo]`: the FHIR and twin server on
// 127.0.0.1 (include/medtwin/server.h). Stops on SIGINT/SIGTERM. With --demo, a ward of
// virtual vancomycin patients streams in through the server's own HTTP API and twins follow
// them (src/server/demo_feed.h); the store is then a new SQLite file unless --db is given.
#include <pthread.h>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli_common.h"
#include "medtwin/server.h"
#include "server/demo_feed.h"

namespace medtwin::cli {
namespace {

struct ServeArgs {
  ServerOptions options;
  size_t max_body_mb = 64;
  bool demo = false;
  bool db_given = false;
  server::DemoFeedOptions feed;
};

// The demo: prints where to look, then streams the ward in until it is done or stopped.
void RunDemo(const Server& s, const ServeArgs& a, const std::atomic<bool>& stop) {
  const std::string base = "http://127.0.0.1:" + std::to_string(s.port());
  const std::string twin = base + "/twins/demo-1/vancomycin_goti2018";
  std::cout
      << "medtwin demo ward: " << a.feed.patients
      << " virtual vancomycin patients (Goti 2018 model), " << a.feed.preload_hours
      << " h of their record loaded now, the rest streaming in at " << a.feed.speed
      << "x real time; each has a twin that follows its data.\n"
      << "serving on " << base << "  (store: " << a.options.db << ")\n"
      << "try:\n"
      << "  curl " << twin << "\n"
      << "  curl -X POST " << twin
      << "/dose -H 'Content-Type: application/json' -d "
         "'{\"targets\":[\"auc24=400..600\"],\"amounts\":[500,750,1000,1250,1500,1750,2000]}'\n"
      << "  curl -N " << base << "/events\n"
      << "(also: " << base << "/alerts, " << base << "/fhir/Patient, " << base
      << "/openapi.json; Ctrl-C stops)\n"
      << std::flush;
  auto done = server::RunDemoFeed(
      s.port(), a.feed, [](const std::string& line) { std::cout << "  " << line << std::endl; },
      stop);
  if (!done.ok()) {
    std::cerr << "demo feed stopped: " << done.status().ToString() << "\n";
    return;
  }
  if (!stop) {
    std::cout << "demo ward complete: " << done->resources << " resources, " << done->twins
              << " twins, " << done->alerts << " alerts; still serving (Ctrl-C stops)" << std::endl;
  }
}

int Run(ServeArgs a) {
  a.options.max_body_bytes = a.max_body_mb << 20;
  // SIGINT/SIGTERM are blocked in every thread (the server's inherit the mask) and taken by
  // one thread with sigwait, which stops the server: no work in a signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  if (a.demo && !a.db_given) {
    a.options.db = (std::filesystem::temp_directory_path() /
                    ("medtwin-demo-" + std::to_string(getpid()) + ".db"))
                       .string();
  }
  auto server = Server::Start(a.options);
  if (!server.ok()) return Fail(server.status());
  Server* s = server->get();
  static std::atomic<bool> stopping{false};
  std::thread([s, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    stopping = true;
    s->Stop();
  }).detach();
  if (a.demo) {
    std::thread feed([s, &a] { RunDemo(*s, a, stopping); });
    (*server)->Wait();
    feed.join();
    return 0;
  }
  const std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());
  std::cout << "medtwin serving on " << base << " (store: " << (*server)->store().backend() << ", "
            << a.options.db << ")\n"
            << "try:\n"
            << "  curl " << base << "/health\n"
            << "  curl " << base << "/fhir/metadata\n"
            << "  curl '" << base << "/fhir/Observation?code=8867-4&_count=5'\n"
            << std::flush;
  (*server)->Wait();
  return 0;
}

}  // namespace

void SetupServe(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("serve", "Serve FHIR R4 and the twins over HTTP on 127.0.0.1");
  auto a = std::make_shared<ServeArgs>();
  cmd->add_option("--db", a->options.db, "SQLite file or postgresql:// URL")->capture_default_str();
  cmd->add_option("--port", a->options.port, "TCP port on 127.0.0.1 (0: any free port)")
      ->capture_default_str();
  cmd->add_option("--max-body-mb", a->max_body_mb, "largest request body accepted, MiB")
      ->capture_default_str();
  cmd->add_option("--threads", a->options.threads, "HTTP worker threads")->capture_default_str();
  cmd->add_option("--twin-workers", a->options.twin_workers,
                  "threads running twin updates as data arrive (0: none)")
      ->capture_default_str();
  auto* demo =
      cmd->add_flag("--demo", a->demo,
                    "stream a ward of virtual vancomycin patients in, with twins following them");
  cmd->add_option("--demo-patients", a->feed.patients, "patients on the demo ward")
      ->capture_default_str()
      ->needs(demo);
  cmd->add_option("--demo-speed", a->feed.speed, "ward time per real time (360: 1 h in 10 s)")
      ->capture_default_str()
      ->needs(demo);
  cmd->callback([a, exit_code, cmd] {
    a->db_given = cmd->count("--db") > 0;
    *exit_code = Run(*a);
  });
}

}  // namespace medtwin::cli
