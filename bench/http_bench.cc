// Choosing the HTTP library for `medtwin serve` (issue 7) by measurement: two of Debian's
// embeddable HTTP servers answer the same requests on loopback, each on its own thread pool,
// driven by the same keep-alive client (cpp-httplib's).
//   - cpp-httplib 0.11 (libcpp-httplib-dev): thread pool, blocking sockets;
//   - GNU libmicrohttpd 0.9 (libmicrohttpd-dev): internal epoll/select thread pool.
// Requests: GET of a small JSON document (a health check, a twin's state) and POST of a 256 KiB
// body (a FHIR Bundle) answered with its length.
#include <benchmark/benchmark.h>
#include <httplib.h>
#include <microhttpd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>

namespace {

constexpr const char* kSmall = R"({"status":"ok","twins":12,"queue":0})";
const std::string kBody(256 * 1024, 'x');
std::atomic<int> next_port{18100};  // one port per server started, never reused

class HttplibServer {
 public:
  explicit HttplibServer(int port) {
    server_.set_tcp_nodelay(true);
    server_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kSmall, "application/json");
    });
    server_.Post("/fhir", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.body.size()), "text/plain");
    });
    thread_ = std::thread([this, port] { server_.listen("127.0.0.1", port); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~HttplibServer() {
    server_.stop();
    thread_.join();
  }

 private:
  httplib::Server server_;
  std::thread thread_;
};

// libmicrohttpd: the body arrives in pieces; the connection's state accumulates it.
struct Upload {
  size_t bytes = 0;
};

MHD_Result Answer(void*, MHD_Connection* c, const char* url, const char* method, const char*,
                  const char* data, size_t* size, void** state) {
  if (std::strcmp(method, "POST") == 0) {
    if (*state == nullptr) {
      *state = new Upload;
      return MHD_YES;
    }
    auto* up = static_cast<Upload*>(*state);
    if (*size > 0) {
      up->bytes += *size;
      *size = 0;
      return MHD_YES;
    }
    const std::string text = std::to_string(up->bytes);
    MHD_Response* r = MHD_create_response_from_buffer(text.size(), const_cast<char*>(text.data()),
                                                      MHD_RESPMEM_MUST_COPY);
    const MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
  }
  (void)url;
  (void)data;
  MHD_Response* r = MHD_create_response_from_buffer(std::strlen(kSmall), const_cast<char*>(kSmall),
                                                    MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(r, "Content-Type", "application/json");
  const MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ok;
}

void Completed(void*, MHD_Connection*, void** state, MHD_RequestTerminationCode) {
  delete static_cast<Upload*>(*state);
  *state = nullptr;
}

class MicrohttpdServer {
 public:
  explicit MicrohttpdServer(int port) {
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
                               static_cast<uint16_t>(port), nullptr, nullptr, &Answer, nullptr,
                               MHD_OPTION_THREAD_POOL_SIZE, 8u, MHD_OPTION_NOTIFY_COMPLETED,
                               &Completed, nullptr, MHD_OPTION_END);
    if (!daemon_) std::fprintf(stderr, "libmicrohttpd did not start on port %d\n", port);
  }
  ~MicrohttpdServer() { MHD_stop_daemon(daemon_); }
  bool ok() const { return daemon_ != nullptr; }

 private:
  MHD_Daemon* daemon_;
};

template <typename Server>
void BM_Get(benchmark::State& state) {
  const int p = next_port.fetch_add(1);
  Server server(p);
  httplib::Client client("127.0.0.1", p);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  for (auto _ : state) {
    auto res = client.Get("/health");
    if (!res || res->status != 200) state.SkipWithError("request failed");
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename Server>
void BM_Post256k(benchmark::State& state) {
  const int p = next_port.fetch_add(1);
  Server server(p);
  httplib::Client client("127.0.0.1", p);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  for (auto _ : state) {
    auto res = client.Post("/fhir", kBody, "application/fhir+json");
    if (!res || res->status != 200 || res->body != std::to_string(kBody.size())) {
      state.SkipWithError("request failed");
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kBody.size()));
}

BENCHMARK_TEMPLATE(BM_Get, HttplibServer)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Get, MicrohttpdServer)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Post256k, HttplibServer)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Post256k, MicrohttpdServer)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
