// Tests only: a throwaway PostgreSQL server on loopback (scripts/pg-test-server.sh), for the
// store's conformance suite and the server's crash test.
#ifndef MEDTWIN_STORE_PG_TEST_SERVER_H_
#define MEDTWIN_STORE_PG_TEST_SERVER_H_

#include <unistd.h>

#include <cstdio>
#include <string>

namespace medtwin::testing {

// Runs `cmd` with /bin/sh; its stdout without trailing blanks; `status` as pclose gives it.
inline std::string Shell(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  *status = pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Starts a server with its data in `dir`, trying up to 5 ports derived from the process id and
// `salt` (so concurrent test binaries pick different ones). Returns its URL ("" if none
// started) and sets `port`.
inline std::string StartPostgres(const std::string& dir, int salt, int* port) {
  const std::string script = std::string(MEDTWIN_SOURCE_DIR) + "/scripts/pg-test-server.sh";
  for (int attempt = 0; attempt < 5; ++attempt) {
    *port = 20000 + (getpid() * salt + attempt * 1009) % 40000;
    int status = 0;
    std::string url = Shell(script + " start " + dir + " " + std::to_string(*port), &status);
    if (status == 0) return url;
    Shell(script + " stop " + dir, &status);
  }
  return "";
}

inline void StopPostgres(const std::string& dir) {
  int status = 0;
  Shell(std::string(MEDTWIN_SOURCE_DIR) + "/scripts/pg-test-server.sh stop " + dir, &status);
}

}  // namespace medtwin::testing

#endif  // MEDTWIN_STORE_PG_TEST_SERVER_H_
