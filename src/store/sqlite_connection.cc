#include <sqlite3.h>

#include <string>

#include "store/sql_connection.h"

namespace medtwin::store {
namespace {

class SqliteConnection : public SqlConnection {
 public:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  ~SqliteConnection() override { sqlite3_close_v2(db_); }

  const char* dialect() const override { return "sqlite"; }

  Result<std::vector<SqlRow>> Query(std::string_view sql,
                                    const std::vector<SqlValue>& params) override {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) return Error(rc, "prepare");
    std::vector<SqlRow> rows;
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string name = "$" + std::to_string(i + 1);
      const int k = sqlite3_bind_parameter_index(stmt, name.c_str());
      if (k == 0) continue;  // not used by this statement
      const SqlValue& v = params[i];
      if (std::holds_alternative<std::nullptr_t>(v)) {
        rc = sqlite3_bind_null(stmt, k);
      } else if (const int64_t* n = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, k, *n);
      } else {
        const std::string& s = std::get<std::string>(v);
        rc = sqlite3_bind_text(stmt, k, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      }
      if (rc != SQLITE_OK) {
        sqlite3_finalize(stmt);
        return Error(rc, "bind");
      }
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
    sqlite3_finalize(stmt);
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
