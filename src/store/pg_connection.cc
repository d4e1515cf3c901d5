#include <libpq-fe.h>

#include <map>
#include <string>

#include "store/sql_connection.h"

namespace medtwin::store {
namespace {

class PgConnection : public SqlConnection {
 public:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  ~PgConnection() override { PQfinish(conn_); }

  const char* dialect() const override { return "postgresql"; }

  Result<std::vector<SqlRow>> Query(std::string_view sql,
                                    const std::vector<SqlValue>& params) override {
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      if (const int64_t* n = std::get_if<int64_t>(&params[i])) {
        text[i] = std::to_string(*n);
        values[i] = text[i].c_str();
      } else if (const std::string* s = std::get_if<std::string>(&params[i])) {
        values[i] = s->c_str();
      }
    }
    const std::string* name = Prepared(sql, static_cast<int>(params.size()));
    PGresult* res =
        name ? PQexecPrepared(conn_, name->c_str(), static_cast<int>(params.size()), values.data(),
                              nullptr, nullptr, 0)
             : PQexecParams(conn_, std::string(sql).c_str(), static_cast<int>(params.size()),
                            nullptr, values.data(), nullptr, nullptr, 0);
    const ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      Status s = Error(res);
      PQclear(res);
      return s;
    }
    std::vector<SqlRow> rows;
    const int n = PQntuples(res), cols = PQnfields(res);
    rows.reserve(n);
    for (int r = 0; r < n; ++r) {
      SqlRow row(cols);
      for (int c = 0; c < cols; ++c) {
        if (!PQgetisnull(res, r, c))
          row[c] = std::string(PQgetvalue(res, r, c), PQgetlength(res, r, c));
      }
      rows.push_back(std::move(row));
    }
    PQclear(res);
    return rows;
  }

  Status Script(std::string_view sql) override {
    PGresult* res = PQexec(conn_, std::string(sql).c_str());
    const ExecStatusType st = PQresultStatus(res);
    Status s = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? Status::Ok() : Error(res);
    PQclear(res);
    return s;
  }

  Status Begin() override { return Script("BEGIN"); }
  Status Commit() override { return Script("COMMIT"); }
  void Rollback() override { (void)Script("ROLLBACK"); }

 private:
  // Statements are parsed and planned by the server once per connection and then executed by
  // name: one parse per statement cost a third of ingest on PostgreSQL (BENCHMARKS.md). Only
  // plain DML is prepared, at most kMaxPrepared statements (searches build their SQL); the rest,
  // and any statement whose preparation fails (e.g. in an aborted transaction), run unprepared.
  static constexpr size_t kMaxPrepared = 256;

  const std::string* Prepared(std::string_view sql, int n_params) {
    if (auto it = prepared_.find(sql); it != prepared_.end()) return &it->second;
    const bool dml = sql.rfind("SELECT", 0) == 0 || sql.rfind("INSERT", 0) == 0 ||
                     sql.rfind("UPDATE", 0) == 0 || sql.rfind("DELETE", 0) == 0;
    if (!dml || prepared_.size() >= kMaxPrepared) return nullptr;
    std::string name = "medtwin_" + std::to_string(prepared_.size());
    PGresult* res = PQprepare(conn_, name.c_str(), std::string(sql).c_str(), n_params, nullptr);
    const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) return nullptr;
    return &prepared_.emplace(std::string(sql), std::move(name)).first->second;
  }

  Status Error(PGresult* res) const {
    const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    const std::string msg = std::string("postgresql: ") + PQerrorMessage(conn_);
    const std::string code = state ? state : "";
    if (PQstatus(conn_) != CONNECTION_OK) return Status::Unavailable(msg);
    // 23505 unique violation, 40001 serialization failure, 40P01 deadlock.
    if (code == "23505" || code == "40001" || code == "40P01") return Status::Conflict(msg);
    if (code.rfind("08", 0) == 0 || code.rfind("57", 0) == 0) return Status::Unavailable(msg);
    return Status::Internal(msg);
  }

  PGconn* conn_;
  std::map<std::string, std::string, std::less<>> prepared_;  // SQL -> statement name
};

}  // namespace

Result<std::unique_ptr<SqlConnection>> OpenPostgres(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    PQfinish(conn);
    return Status::Unavailable("cannot connect to PostgreSQL: " + msg);
  }
  auto c = std::make_unique<PgConnection>(conn);
  MEDTWIN_RETURN_IF_ERROR(c->Script("SET client_min_messages TO warning"));
  return std::unique_ptr<SqlConnection>(std::move(c));
}

}  // namespace medtwin::store
