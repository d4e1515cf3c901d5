// A minimal SQL connection the store's logic is written against once, with two
// implementations: SQLite (sqlite3 C API) and PostgreSQL (libpq). Statements use PostgreSQL's
// $1, $2, ... placeholders; SQLite binds them by name ("$1" is a valid SQLite parameter name).
// Values travel as text or integers or null; results come back as text (null as nullopt).
#ifndef MEDTWIN_STORE_SQL_CONNECTION_H_
#define MEDTWIN_STORE_SQL_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "medtwin/status.h"

namespace medtwin::store {

using SqlValue = std::variant<std::nullptr_t, int64_t, std::string>;
using SqlRow = std::vector<std::optional<std::string>>;

class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  virtual const char* dialect() const = 0;  // "sqlite" or "postgresql"
  // Runs one statement; rows it returns (empty for statements without results).
  // kConflict for unique-constraint violations and serialization failures, kUnavailable when
  // the database cannot be reached or is busy past the timeout.
  virtual Result<std::vector<SqlRow>> Query(std::string_view sql,
                                            const std::vector<SqlValue>& params = {}) = 0;
  // Runs several statements without parameters (schema creation).
  virtual Status Script(std::string_view sql) = 0;
  // Starts a transaction that will write (SQLite: BEGIN IMMEDIATE, taking the write lock now).
  virtual Status Begin() = 0;
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;
};

Result<std::unique_ptr<SqlConnection>> OpenSqlite(const std::string& path, int busy_timeout_ms);
Result<std::unique_ptr<SqlConnection>> OpenPostgres(const std::string& url);

}  // namespace medtwin::store

#endif  // MEDTWIN_STORE_SQL_CONNECTION_H_
