// `medtwin serve [--db PATH|URL] [--port 8080]`: the FHIR and twin server on 127.0.0.1
// (include/medtwin/server.h). Stops on SIGINT/SIGTERM.
#include <pthread.h>

#include <csignal>
#include <iostream>
#include <thread>

#include "cli_common.h"
#include "medtwin/server.h"

namespace medtwin::cli {
namespace {

struct ServeArgs {
  ServerOptions options;
  size_t max_body_mb = 64;
};

int Run(ServeArgs a) {
  a.options.max_body_bytes = a.max_body_mb << 20;
  // SIGINT/SIGTERM are blocked in every thread (the server's inherit the mask) and taken by
  // one thread with sigwait, which stops the server: no work in a signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto server = Server::Start(a.options);
  if (!server.ok()) return Fail(server.status());
  Server* s = server->get();
  std::thread([s, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    s->Stop();
  }).detach();
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
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace medtwin::cli
