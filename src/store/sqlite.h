#pragma once

// A thin RAII layer over the SQLite C API: a connection and prepared statements. Internal to
// krond_store.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace krond::store::internal {

class Statement;

// One connection. Not thread-safe: one thread uses it at a time.
class Database {
 public:
  // Opens (creating with `create`) the file at `path`; read_only connections for readers.
  [[nodiscard]] static Result<std::unique_ptr<Database>> Open(const std::string& path,
                                                              bool read_only);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements without results.
  [[nodiscard]] Status Exec(std::string_view sql);
  // Prepares a statement (cached per SQL text: a statement is prepared once per connection).
  [[nodiscard]] Result<Statement*> Prepare(std::string_view sql);
  int64_t Changes() const { return sqlite3_changes64(db_); }
  std::string ErrorMessage() const { return sqlite3_errmsg(db_); }
  sqlite3* handle() const { return db_; }

 private:
  explicit Database(sqlite3* db);
  sqlite3* db_;
  struct Cache;
  std::unique_ptr<Cache> cache_;
};

// A prepared statement: Bind, then Step until it returns false, then Reset (done by Bind's
// first call after use). Owned by its Database.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Resets the statement and clears its bindings.
  Statement& Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return *this;
  }
  Statement& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& Bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Statement& Bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& BindNull(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  Statement& Bind(int i, std::optional<int64_t> v) { return v ? Bind(i, *v) : BindNull(i); }

  // Next row: true with a row, false when done; an error for a failed step.
  [[nodiscard]] Result<bool> Step();
  // Runs to completion, ignoring rows.
  [[nodiscard]] Status Run();

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::optional<int64_t> OptionalInt(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Int(col);
  }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }

 private:
  sqlite3_stmt* stmt_;
  sqlite3* db_;
};

}  // namespace krond::store::internal
