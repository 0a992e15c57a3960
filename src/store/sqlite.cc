#include "store/sqlite.h"

#include <map>

namespace krond::store::internal {

struct Database::Cache {
  std::map<std::string, std::unique_ptr<Statement>, std::less<>> statements;
};

Database::Database(sqlite3* db) : db_(db), cache_(std::make_unique<Cache>()) {}

Result<std::unique_ptr<Database>> Database::Open(const std::string& path, bool read_only) {
  sqlite3* db = nullptr;
  const int flags =
      (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return MakeError("cannot open " + path + ": " + message);
  }
  // Readers wait for a writer's checkpoint rather than failing at once.
  sqlite3_busy_timeout(db, 5000);
  return std::unique_ptr<Database>(new Database(db));
}

Database::~Database() {
  cache_.reset();  // statements first: close fails while any is open
  sqlite3_close(db_);
}

Status Database::Exec(std::string_view sql) {
  char* error = nullptr;
  const std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errmsg(db_);
    sqlite3_free(error);
    return MakeError(message);
  }
  return {};
}

Result<Statement*> Database::Prepare(std::string_view sql) {
  auto it = cache_->statements.find(sql);
  if (it != cache_->statements.end()) return &it->second->Reset();
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return MakeError(std::string(sqlite3_errmsg(db_)) + " in: " + std::string(sql));
  }
  auto owned = std::make_unique<Statement>(stmt, db_);
  Statement* raw = owned.get();
  cache_->statements.emplace(std::string(sql), std::move(owned));
  return raw;
}

Result<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return MakeError(sqlite3_errmsg(db_));
}

Status Statement::Run() {
  for (;;) {
    auto row = Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return {};
  }
}

}  // namespace krond::store::internal
