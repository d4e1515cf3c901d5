#include "medtwin/store.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <mutex>
#include <set>
#include <string>

#include "store/sql_connection.h"

namespace medtwin {
namespace {

using store::SqlConnection;
using store::SqlRow;
using store::SqlValue;

// The schema; {serial} is the dialect's auto-increment key.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS resources (
  seq {serial},
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version BIGINT NOT NULL,
  last_updated BIGINT NOT NULL,
  deleted INTEGER NOT NULL,
  current INTEGER NOT NULL,
  date TEXT,
  json TEXT NOT NULL,
  UNIQUE (type, id, version));
CREATE UNIQUE INDEX IF NOT EXISTS resources_current ON resources (type, id) WHERE current = 1;
CREATE INDEX IF NOT EXISTS resources_by_type ON resources (type, current, seq);
CREATE TABLE IF NOT EXISTS tokens (
  seq BIGINT NOT NULL REFERENCES resources (seq),
  type TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tokens_lookup ON tokens (type, name, value, seq);
CREATE INDEX IF NOT EXISTS tokens_by_seq ON tokens (seq);
CREATE TABLE IF NOT EXISTS jobs (
  id {serial},
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  worker TEXT,
  lease_until BIGINT,
  message TEXT,
  created BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, id);
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs (key, id);
CREATE TABLE IF NOT EXISTS twins (
  patient TEXT NOT NULL,
  model TEXT NOT NULL,
  revision BIGINT NOT NULL,
  snapshot TEXT NOT NULL,
  updated BIGINT NOT NULL,
  PRIMARY KEY (patient, model));
CREATE TABLE IF NOT EXISTS alerts (
  id {serial},
  patient TEXT NOT NULL,
  model TEXT NOT NULL,
  observable TEXT NOT NULL,
  kind TEXT NOT NULL,
  time TEXT NOT NULL,
  score TEXT NOT NULL,
  created BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_by_patient ON alerts (patient, id);
)sql";

int64_t Int(const std::optional<std::string>& v) {
  int64_t x = 0;
  if (v) std::from_chars(v->data(), v->data() + v->size(), x);
  return x;
}

double Real(const std::optional<std::string>& v) {
  double x = 0.0;
  if (v) std::from_chars(v->data(), v->data() + v->size(), x);
  return x;
}

// Shortest round-trip text for doubles (SQLite's REAL-to-text keeps only 15 digits).
std::string Text(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

bool ValidType(const std::string& t) {
  if (t.empty() || t.size() > 64 || !(t[0] >= 'A' && t[0] <= 'Z')) return false;
  for (char c : t) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
  }
  return true;
}

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.')) {
      return false;
    }
  }
  return true;
}

Status CheckKey(const std::string& type, const std::string& id) {
  if (!ValidType(type))
    return Status::Invalid("resourceType '" + type + "' is not a FHIR type name");
  if (!ValidId(id)) {
    return Status::Invalid(type + ".id '" + id + "' is not a FHIR id (1-64 of A-Z a-z 0-9 - .)");
  }
  return Status::Ok();
}

StoredResource ResourceFrom(const SqlRow& r) {  // type, id, version, last_updated, deleted, json
  StoredResource s;
  s.type = r[0].value_or("");
  s.id = r[1].value_or("");
  s.version = Int(r[2]);
  s.last_updated = Int(r[3]);
  s.deleted = Int(r[4]) != 0;
  s.json = r[5].value_or("");
  return s;
}

constexpr const char* kResourceColumns = "type, id, version, last_updated, deleted, json";

class SqlStore : public Store {
 public:
  SqlStore(std::unique_ptr<SqlConnection> db, StoreOptions options)
      : db_(std::move(db)), options_(std::move(options)) {}

  const char* backend() const override { return db_->dialect(); }

  Status Init() {
    std::string schema = kSchema;
    const std::string serial = std::string(db_->dialect()) == "sqlite"
                                   ? "INTEGER PRIMARY KEY AUTOINCREMENT"
                                   : "BIGSERIAL PRIMARY KEY";
    for (size_t p; (p = schema.find("{serial}")) != std::string::npos;) {
      schema.replace(p, 8, serial);
    }
    std::lock_guard lock(mu_);
    return db_->Script(schema).WithContext("creating the schema");
  }

  Result<std::vector<StoredResource>> Write(const std::vector<ResourceWrite>& writes,
                                            const std::vector<JobRequest>& jobs) override {
    for (size_t i = 0; i < writes.size(); ++i) {
      MEDTWIN_RETURN_IF_ERROR(
          CheckKey(writes[i].type, writes[i].id).WithContext("write " + std::to_string(i)));
      if (!writes[i].is_delete && writes[i].json.empty()) {
        return Status::Invalid("write " + std::to_string(i) + ": empty resource");
      }
    }
    std::lock_guard lock(mu_);
    return InTransaction<std::vector<StoredResource>>([&]() -> Result<std::vector<StoredResource>> {
      const int64_t now = Now();
      std::vector<StoredResource> out;
      std::vector<SqlValue> tokens;  // seq, type, name, value per token
      for (const ResourceWrite& w : writes) {
        auto stored = WriteOne(w, now, &tokens);
        if (!stored.ok()) return stored.status().WithContext(w.type + "/" + w.id);
        out.push_back(std::move(stored).value());
      }
      MEDTWIN_RETURN_IF_ERROR(InsertRows("tokens (seq, type, name, value)", 4, tokens));
      std::vector<SqlValue> job_rows;
      for (const JobRequest& j : jobs) {
        job_rows.insert(job_rows.end(),
                        {j.kind, j.key, j.payload, std::string("queued"), int64_t{0}, now});
      }
      MEDTWIN_RETURN_IF_ERROR(
          InsertRows("jobs (kind, key, payload, state, attempts, created)", 6, job_rows));
      return out;
    });
  }

  Result<StoredResource> Read(const std::string& type, const std::string& id) override {
    MEDTWIN_RETURN_IF_ERROR(CheckKey(type, id));
    std::lock_guard lock(mu_);
    auto rows = db_->Query(std::string("SELECT ") + kResourceColumns +
                               " FROM resources WHERE type = $1 AND id = $2 AND current = 1",
                           {type, id});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return Status::NotFound(type + "/" + id + " does not exist");
    return ResourceFrom((*rows)[0]);
  }

  Result<StoredResource> ReadVersion(const std::string& type, const std::string& id,
                                     int64_t version) override {
    MEDTWIN_RETURN_IF_ERROR(CheckKey(type, id));
    std::lock_guard lock(mu_);
    auto rows = db_->Query(std::string("SELECT ") + kResourceColumns +
                               " FROM resources WHERE type = $1 AND id = $2 AND version = $3",
                           {type, id, version});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) {
      return Status::NotFound(type + "/" + id + " has no version " + std::to_string(version));
    }
    return ResourceFrom((*rows)[0]);
  }

  Result<std::vector<StoredResource>> History(const std::string& type,
                                              const std::string& id) override {
    MEDTWIN_RETURN_IF_ERROR(CheckKey(type, id));
    std::lock_guard lock(mu_);
    auto rows = db_->Query(std::string("SELECT ") + kResourceColumns +
                               " FROM resources WHERE type = $1 AND id = $2 ORDER BY version DESC",
                           {type, id});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return Status::NotFound(type + "/" + id + " does not exist");
    std::vector<StoredResource> out;
    for (const SqlRow& r : *rows) out.push_back(ResourceFrom(r));
    return out;
  }

  Result<SearchPage> Search(const SearchQuery& q) override {
    if (!ValidType(q.type)) return Status::Invalid("search: resource type '" + q.type + "'");
    if (q.count < 1 || q.count > 1000) {
      return Status::Invalid("_count must be within 1..1000 (got " + std::to_string(q.count) + ")");
    }
    std::vector<SqlValue> params = {q.type, q.updated_from, q.updated_to};
    auto param = [&](SqlValue v) {
      params.push_back(std::move(v));
      return "$" + std::to_string(params.size());
    };
    // With search keys, the first key's index entries drive the search in seq order (its
    // resource rows looked up by seq, the other keys tested with IN). Driven from resources
    // instead, SQLite scanned every current resource of the type for each search: 200-300 ms
    // per request under 64 clients (BENCHMARKS.md). Keys are unique per resource (WriteOne),
    // so the join yields each resource once.
    std::string where = " FROM resources r";
    std::string seq = "r.seq";
    if (!q.tokens.empty()) {
      where = " FROM tokens k JOIN resources r ON r.seq = k.seq";
      seq = "k.seq";
    }
    where +=
        " WHERE r.type = $1 AND r.current = 1 AND r.deleted = 0"
        " AND r.last_updated >= $2 AND r.last_updated < $3";
    if (!q.date_from.empty()) where += " AND r.date >= " + param(q.date_from);
    if (!q.date_to.empty()) where += " AND r.date < " + param(q.date_to);
    for (size_t i = 0; i < q.tokens.size(); ++i) {
      const std::string name = param(q.tokens[i].name), value = param(q.tokens[i].value);
      where += i == 0 ? " AND k.type = $1 AND k.name = " + name + " AND k.value = " + value
                      : " AND r.seq IN (SELECT t.seq FROM tokens t WHERE t.type = $1 AND "
                        "t.name = " +
                            name + " AND t.value = " + value + ")";
    }
    std::lock_guard lock(mu_);
    auto total = db_->Query("SELECT COUNT(*)" + where, params);
    if (!total.ok()) return total.status();
    const std::string after = param(q.after);
    auto rows = db_->Query("SELECT " + seq +
                               ", r.type, r.id, r.version, r.last_updated, r.deleted, r.json" +
                               where + " AND " + seq + " > " + after + " ORDER BY " + seq +
                               " LIMIT " + std::to_string(q.count + 1),
                           params);
    if (!rows.ok()) return rows.status();
    SearchPage page;
    page.total = Int((*total)[0][0]);
    for (size_t i = 0; i < rows->size() && i < static_cast<size_t>(q.count); ++i) {
      SqlRow r((*rows)[i].begin() + 1, (*rows)[i].end());
      page.resources.push_back(ResourceFrom(r));
      page.next = Int((*rows)[i][0]);
    }
    if (rows->size() <= static_cast<size_t>(q.count)) page.next = 0;
    return page;
  }

  Result<std::vector<std::pair<std::string, int64_t>>> Counts() override {
    std::lock_guard lock(mu_);
    auto rows = db_->Query(
        "SELECT type, COUNT(*) FROM resources WHERE current = 1 AND deleted = 0 GROUP BY type "
        "ORDER BY type",
        {});
    if (!rows.ok()) return rows.status();
    std::vector<std::pair<std::string, int64_t>> out;
    for (const SqlRow& r : *rows) out.emplace_back(r[0].value_or(""), Int(r[1]));
    return out;
  }

  Result<std::vector<Job>> ClaimJobs(const std::string& worker, int max) override {
    if (max < 1 || max > 10000) return Status::Invalid("jobs: max must be within 1..10000");
    std::lock_guard lock(mu_);
    const bool pg = std::string(db_->dialect()) == "postgresql";
    return InTransaction<std::vector<Job>>([&]() -> Result<std::vector<Job>> {
      const int64_t now = Now();
      std::vector<Job> out;
      // The oldest job of its key not yet finished, unless another worker runs an older one of
      // that key: a job whose lease ran out first, then a queued one (each through the
      // (state, id) index).
      const std::string free_key =
          " AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.key = j.key AND o.id < j.id AND "
          "(o.state = 'queued' OR (o.state = 'running' AND o.worker <> $2))) ORDER BY j.id "
          "LIMIT 1" +
          std::string(pg ? " FOR UPDATE SKIP LOCKED" : "");
      while (static_cast<int>(out.size()) < max) {
        auto rows = db_->Query(
            "SELECT id, kind, key, payload, attempts FROM jobs j WHERE j.state = 'running' AND "
            "j.lease_until < $1 AND j.worker <> $2" +
                free_key,
            {now, worker});
        if (!rows.ok()) return rows.status();
        if (rows->empty()) {
          rows = db_->Query(
              "SELECT id, kind, key, payload, attempts FROM jobs j WHERE j.state = 'queued' AND "
              "$1 = $1" +
                  free_key,
              {now, worker});
          if (!rows.ok()) return rows.status();
        }
        if (rows->empty()) break;
        const SqlRow& r = (*rows)[0];
        Job job{Int(r[0]), r[1].value_or(""), r[2].value_or(""), r[3].value_or(""),
                static_cast<int>(Int(r[4])) + 1};
        auto upd = db_->Query(
            "UPDATE jobs SET state = 'running', worker = $1, lease_until = $2, attempts = $3 "
            "WHERE id = $4",
            {worker, now + options_.job_lease_us, static_cast<int64_t>(job.attempts), job.id});
        if (!upd.ok()) return upd.status();
        out.push_back(std::move(job));
      }
      return out;
    });
  }

  Status CompleteJobs(const std::vector<int64_t>& job_ids) override {
    std::lock_guard lock(mu_);
    auto r = InTransaction<bool>([&]() -> Result<bool> {
      for (int64_t id : job_ids) MEDTWIN_RETURN_IF_ERROR(Finish(id, "done", ""));
      return true;
    });
    return r.status();
  }

  Status FailJob(int64_t job_id, const std::string& message) override {
    std::lock_guard lock(mu_);
    return Finish(job_id, "failed", message);
  }

  Status CompleteJob(int64_t job_id) override {
    std::lock_guard lock(mu_);
    return Finish(job_id, "done", "");
  }

  Result<int64_t> ReleaseJobs(const std::string& worker) override {
    std::lock_guard lock(mu_);
    return InTransaction<int64_t>([&]() -> Result<int64_t> {
      auto held =
          db_->Query("SELECT COUNT(*) FROM jobs WHERE state = 'running' AND worker = $1", {worker});
      if (!held.ok()) return held.status();
      auto upd = db_->Query(
          "UPDATE jobs SET state = 'queued', lease_until = NULL WHERE state = 'running' AND "
          "worker = $1",
          {worker});
      if (!upd.ok()) return upd.status();
      return Int((*held)[0][0]);
    });
  }

  Result<int64_t> PendingJobs() override {
    std::lock_guard lock(mu_);
    auto rows = db_->Query("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')", {});
    if (!rows.ok()) return rows.status();
    return Int((*rows)[0][0]);
  }

  Result<std::optional<TwinRow>> ReadTwin(const std::string& patient,
                                          const std::string& model) override {
    std::lock_guard lock(mu_);
    auto rows = db_->Query(
        "SELECT patient, model, revision, snapshot, updated FROM twins WHERE patient = $1 AND "
        "model = $2",
        {patient, model});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return std::optional<TwinRow>();
    return std::optional<TwinRow>(TwinFrom((*rows)[0]));
  }

  Result<std::vector<TwinRow>> ListTwins(const std::string& patient) override {
    std::lock_guard lock(mu_);
    auto rows = db_->Query(
        "SELECT patient, model, revision, snapshot, updated FROM twins WHERE patient = $1 "
        "ORDER BY model",
        {patient});
    if (!rows.ok()) return rows.status();
    std::vector<TwinRow> out;
    for (const SqlRow& r : *rows) out.push_back(TwinFrom(r));
    return out;
  }

  Result<std::vector<TwinRow>> CommitTwinUpdates(const std::vector<TwinCommit>& commits,
                                                 int64_t job_id) override {
    for (const TwinCommit& c : commits) {
      if (c.twin.patient.empty() || c.twin.model.empty()) {
        return Status::Invalid("twin: patient and model must not be empty");
      }
      if (c.twin.snapshot.empty()) return Status::Invalid("twin: empty snapshot");
    }
    std::lock_guard lock(mu_);
    return InTransaction<std::vector<TwinRow>>([&]() -> Result<std::vector<TwinRow>> {
      std::vector<TwinRow> rows;
      for (const TwinCommit& c : commits) {
        auto row = PutTwin(c);
        if (!row.ok()) return row.status();
        rows.push_back(std::move(row).value());
      }
      if (job_id > 0) MEDTWIN_RETURN_IF_ERROR(Finish(job_id, "done", ""));
      return rows;
    });
  }

  Result<std::vector<AlertRow>> Alerts(const std::string& patient, int64_t after,
                                       int limit) override {
    if (limit < 1 || limit > 10000) return Status::Invalid("alerts: limit must be within 1..10000");
    std::lock_guard lock(mu_);
    auto rows = db_->Query(
        "SELECT id, patient, model, observable, kind, time, score, created FROM alerts WHERE "
        "id > $1 AND ($2 = '' OR patient = $2) ORDER BY id LIMIT " +
            std::to_string(limit),
        {after, patient});
    if (!rows.ok()) return rows.status();
    std::vector<AlertRow> out;
    for (const SqlRow& r : *rows) {
      out.push_back({Int(r[0]), r[1].value_or(""), r[2].value_or(""), r[3].value_or(""),
                     r[4].value_or(""), Real(r[5]), Real(r[6]), Int(r[7])});
    }
    return out;
  }

 private:
  // Inside a transaction: one twin's new revision and its alerts.
  Result<TwinRow> PutTwin(const TwinCommit& c) {
    const int64_t now = Now();
    const bool pg = std::string(db_->dialect()) == "postgresql";
    auto cur = db_->Query(std::string("SELECT revision FROM twins WHERE patient = $1 AND "
                                      "model = $2") +
                              (pg ? " FOR UPDATE" : ""),
                          {c.twin.patient, c.twin.model});
    if (!cur.ok()) return cur.status();
    const int64_t revision = cur->empty() ? 0 : Int((*cur)[0][0]);
    if (revision != c.expected_revision) {
      return Status::Conflict("twin " + c.twin.patient + "/" + c.twin.model + " is at revision " +
                              std::to_string(revision) + ", not " +
                              std::to_string(c.expected_revision));
    }
    TwinRow row = c.twin;
    row.revision = revision + 1;
    row.updated = now;
    auto put = revision == 0
                   ? db_->Query(
                         "INSERT INTO twins (patient, model, revision, snapshot, updated) "
                         "VALUES ($1, $2, $3, $4, $5)",
                         {row.patient, row.model, row.revision, row.snapshot, now})
                   : db_->Query(
                         "UPDATE twins SET revision = $3, snapshot = $4, updated = $5 "
                         "WHERE patient = $1 AND model = $2",
                         {row.patient, row.model, row.revision, row.snapshot, now});
    if (!put.ok()) return put.status();
    for (const AlertRow& a : c.alerts) {
      auto r = db_->Query(
          "INSERT INTO alerts (patient, model, observable, kind, time, score, created) VALUES "
          "($1, $2, $3, $4, $5, $6, $7)",
          {row.patient, row.model, a.observable, a.kind, Text(a.time), Text(a.score), now});
      if (!r.ok()) return r.status();
    }
    return row;
  }

  int64_t Now() const {
    if (options_.now_us) return options_.now_us();
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // Runs f inside a write transaction; commits on success, rolls back on any error.
  template <typename T, typename F>
  Result<T> InTransaction(F f) {
    MEDTWIN_RETURN_IF_ERROR(db_->Begin());
    Result<T> r = f();
    if (!r.ok()) {
      db_->Rollback();
      return r;
    }
    Status c = db_->Commit();
    if (!c.ok()) {
      db_->Rollback();
      return c;
    }
    return r;
  }

  // INSERT INTO `table_columns` the rows of `values` (`width` values each), many rows per
  // statement: one statement per row was a round trip per search key on PostgreSQL.
  Status InsertRows(const std::string& table_columns, size_t width,
                    const std::vector<SqlValue>& values) {
    constexpr size_t kRowsPerStatement = 100;
    const size_t rows = values.size() / width;
    for (size_t first = 0; first < rows; first += kRowsPerStatement) {
      const size_t n = std::min(kRowsPerStatement, rows - first);
      std::string sql = "INSERT INTO " + table_columns + " VALUES ";
      for (size_t r = 0; r < n; ++r) {
        sql += r ? ",(" : "(";
        for (size_t c = 0; c < width; ++c) {
          sql += (c ? ",$" : "$") + std::to_string(r * width + c + 1);
        }
        sql += ")";
      }
      const auto from = values.begin() + static_cast<std::ptrdiff_t>(first * width);
      auto q = db_->Query(
          sql, std::vector<SqlValue>(from, from + static_cast<std::ptrdiff_t>(n * width)));
      if (!q.ok()) return q.status();
    }
    return Status::Ok();
  }

  // Writes one resource version; its search keys are appended to `tokens` for InsertRows.
  Result<StoredResource> WriteOne(const ResourceWrite& w, int64_t now,
                                  std::vector<SqlValue>* tokens) {
    auto cur = db_->Query(
        "SELECT seq, version, deleted FROM resources WHERE type = $1 AND id = $2 AND current = 1",
        {w.type, w.id});
    if (!cur.ok()) return cur.status();
    const bool exists = !cur->empty();
    const int64_t old_seq = exists ? Int((*cur)[0][0]) : 0;
    const int64_t version = exists ? Int((*cur)[0][1]) : 0;
    const bool live = exists && Int((*cur)[0][2]) == 0;
    if (w.if_none_exist && live) {
      return Status::Conflict("already exists (version " + std::to_string(version) + ")");
    }
    if (w.if_match > 0 && (!exists || version != w.if_match)) {
      return Status::Conflict("version " + std::to_string(w.if_match) + " expected, current is " +
                              std::to_string(version));
    }
    StoredResource s{w.type, w.id, version + 1, now, w.is_delete, w.is_delete ? "" : w.json};
    if (w.is_delete && !live) {  // deleting what is not there: nothing to do
      s.version = version;
      return s;
    }
    if (exists) {
      auto r = db_->Query("UPDATE resources SET current = 0 WHERE seq = $1", {old_seq});
      if (!r.ok()) return r.status();
      r = db_->Query("DELETE FROM tokens WHERE seq = $1", {old_seq});
      if (!r.ok()) return r.status();
      // The old version may have been written earlier in this transaction, its keys not yet.
      for (size_t i = 0; i < tokens->size();) {
        if ((*tokens)[i] == SqlValue(old_seq)) {
          tokens->erase(tokens->begin() + static_cast<std::ptrdiff_t>(i),
                        tokens->begin() + static_cast<std::ptrdiff_t>(i + 4));
        } else {
          i += 4;
        }
      }
    }
    auto ins = db_->Query(
        "INSERT INTO resources (type, id, version, last_updated, deleted, current, date, json) "
        "VALUES ($1, $2, $3, $4, $5, 1, $6, $7) RETURNING seq",
        {w.type, w.id, s.version, now, static_cast<int64_t>(w.is_delete ? 1 : 0),
         w.date.empty() || w.is_delete ? SqlValue(nullptr) : SqlValue(w.date), s.json});
    if (!ins.ok()) return ins.status();
    const int64_t seq = Int((*ins)[0][0]);
    if (!w.is_delete) {
      // Each key once per resource: a search joins on keys and must not see a resource twice.
      std::set<std::pair<std::string_view, std::string_view>> seen;
      for (const SearchToken& t : w.tokens) {
        if (seen.emplace(t.name, t.value).second) {
          tokens->insert(tokens->end(), {seq, w.type, t.name, t.value});
        }
      }
    }
    return s;
  }

  Status Finish(int64_t job_id, const char* state, const std::string& message) {
    auto r = db_->Query(
        "UPDATE jobs SET state = $1, message = $2 WHERE id = $3 AND state = 'running' "
        "RETURNING id",
        {std::string(state), message, job_id});
    if (!r.ok()) return r.status();
    if (r->empty()) {
      return Status::Conflict("job " + std::to_string(job_id) +
                              " is not running (its lease may have expired)");
    }
    return Status::Ok();
  }

  static TwinRow TwinFrom(const SqlRow& r) {
    return {r[0].value_or(""), r[1].value_or(""), Int(r[2]), r[3].value_or(""), Int(r[4])};
  }

  std::mutex mu_;
  std::unique_ptr<SqlConnection> db_;
  StoreOptions options_;
};

}  // namespace

Result<std::optional<Job>> Store::ClaimJob(const std::string& worker) {
  auto jobs = ClaimJobs(worker, 1);
  if (!jobs.ok()) return jobs.status();
  if (jobs->empty()) return std::optional<Job>();
  return std::optional<Job>(std::move(jobs->front()));
}

Result<TwinRow> Store::CommitTwinUpdate(const TwinCommit& commit) {
  auto rows = CommitTwinUpdates({commit}, commit.job_id);
  if (!rows.ok()) return rows.status();
  return std::move(rows->front());
}

Result<std::unique_ptr<Store>> OpenStore(const std::string& location, const StoreOptions& options) {
  if (options.job_lease_us <= 0) return Status::Invalid("job_lease_us must be > 0");
  Result<std::unique_ptr<SqlConnection>> db =
      location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0
          ? store::OpenPostgres(location)
          : store::OpenSqlite(location, options.busy_timeout_ms);
  if (!db.ok()) return db.status();
  auto s = std::make_unique<SqlStore>(std::move(db).value(), options);
  MEDTWIN_RETURN_IF_ERROR(s->Init());
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace medtwin
