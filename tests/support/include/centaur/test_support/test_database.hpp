#pragma once

#include <string>

namespace centaur::test_support {

/// A fresh, empty database owned by one test: `centaur_test_<pid>_<random hex>`, created in the
/// constructor on the server named by env CENTAUR_TEST_DATABASE_URL (an admin URL such as
/// postgresql://postgres@127.0.0.1:5432/postgres; `make test` sets it) and dropped WITH (FORCE) in the
/// destructor, which also ends any sessions still connected to it.
/// Throws std::runtime_error when the variable is unset or the server refuses: a test that needs
/// Postgres fails loudly, never skips. Not copyable or movable; use from one thread.
class TestDatabase {
public:
    TestDatabase();
    ~TestDatabase();
    TestDatabase(const TestDatabase&) = delete;
    TestDatabase& operator=(const TestDatabase&) = delete;

    /// libpq URL (or conninfo) pointing at this database.
    const std::string& url() const { return url_; }
    const std::string& name() const { return name_; }
    /// The server's admin URL this database was created from.
    const std::string& admin_url() const { return admin_url_; }

private:
    std::string admin_url_;
    std::string name_;
    std::string url_;
};

/// `url` with its database replaced by `database`. Accepts postgres:// / postgresql:// URLs (keeps the
/// query string) and key=value conninfo strings (appends dbname=, which wins over an earlier one).
std::string with_database(const std::string& url, const std::string& database);

}  // namespace centaur::test_support
