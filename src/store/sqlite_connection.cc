#include <sqlite3.h>

#include <cstdio>
#include <map>
#include <string>

#include "store/sql_connection.h"

namespace medtwin::store {
namespace {

class SqliteConnection : public SqlConnection {
 public:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  ~SqliteConnection() override {
    ClearCache();
    sqlite3_close_v2(db_);
  }

  const char* dialect() const override { return "sqlite"; }

  Result<std::vector<SqlRow>> Query(std::string_view sql,
                                    const std::vector<SqlValue>& params) override {
    int rc = SQLITE_OK;
    sqlite3_stmt* stmt = Prepared(sql, &rc);
    if (stmt == nullptr) return Error(rc, "prepare");
    // Leaves the cached statement reset and unbound on every path.
    struct Reset {
      sqlite3_stmt* s;
      ~Reset() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
      }
    } reset{stmt};
    std::vector<SqlRow> rows;
    for (size_t i = 0; i < params.size(); ++i) {
      char name[24];
      std::snprintf(name, sizeof name, "$%zu", i + 1);
      const int k = sqlite3_bind_parameter_index(stmt, name);
      if (k == 0) continue;  // not used by this statement
      const SqlValue& v = params[i];
      if (std::holds_alternative<std::nullptr_t>(v)) {
        rc = sqlite3_bind_null(stmt, k);
      } else if (const int64_t* n = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, k, *n);
      } else {
        const std::string& s = std::get<std::string>(v);
        rc = sqlite3_bind_text(stmt, k, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
      }
      if (rc != SQLITE_OK) return Error(rc, "bind");
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const int n = sqlite3_column_count(stmt);
      SqlRow row(n);
      for (int c = 0; c < n; ++c) {
        if (sqlite3_column_type(stmt, c) == SQLITE_NULL) continue;
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
        row[c] = std::string(text, sqlite3_column_bytes(stmt, c));
      }
      rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return Error(rc, "step");
    return rows;
  }

  Status Script(std::string_view sql) override {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return Status::Ok();
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Status::Internal("sqlite: " + msg);
  }

  Status Begin() override { return Simple("BEGIN IMMEDIATE"); }
  Status Commit() override { return Simple("COMMIT"); }
  void Rollback() override { (void)Simple("ROLLBACK"); }

 private:
  Status Simple(const char* sql) {
    auto r = Query(sql, {});
    return r.ok() ? Status::Ok() : r.status();
  }

  // Statements are compiled once per connection and reused: compiling was half of the store's
  // time in the ingest profile (BENCHMARKS.md). Searches build their SQL from the parameters
  // given, so the cache is bounded; when full it is emptied.
  static constexpr size_t kMaxCached = 256;

  sqlite3_stmt* Prepared(std::string_view sql, int* rc) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    *rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                             SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (*rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return nullptr;
    }
    if (cache_.size() >= kMaxCached) ClearCache();
    cache_.emplace(std::string(sql), stmt);
    return stmt;
  }

  void ClearCache() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    cache_.clear();
  }

  Status Error(int rc, const char* where) const {
    const std::string msg = std::string("sqlite ") + where + ": " + sqlite3_errmsg(db_);
    switch (rc & 0xff) {
      case SQLITE_CONSTRAINT:
        return Status::Conflict(msg);
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
      case SQLITE_IOERR:
      case SQLITE_FULL:
      case SQLITE_CANTOPEN:
        return Status::Unavailable(msg);
      default:
        return Status::Internal(msg);
    }
  }

  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

}  // namespace

Result<std::unique_ptr<SqlConnection>> OpenSqlite(const std::string& path, int busy_timeout_ms) {
  if (path.empty()) return Status::Invalid("database path: empty");
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Status::Unavailable("cannot open SQLite database '" + path + "': " + msg);
  }
  sqlite3_busy_timeout(db, busy_timeout_ms);
  auto conn = std::make_unique<SqliteConnection>(db);
  // WAL: readers do not block the writer; FULL: the WAL is synced at every commit, so an
  // acknowledged write survives power loss, not only a crash of the process.
  auto wal = conn->Query("PRAGMA journal_mode=WAL", {});
  if (!wal.ok()) return wal.status().WithContext("database '" + path + "'");
  if (wal->empty() || !(*wal)[0][0] || *(*wal)[0][0] != "wal") {
    return Status::Unavailable("database '" + path + "': WAL journal mode is not available");
  }
  MEDTWIN_RETURN_IF_ERROR(conn->Script("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return std::unique_ptr<SqlConnection>(std::move(conn));
}

}  // namespace medtwin::store
