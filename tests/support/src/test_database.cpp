#include <centaur/test_support/test_database.hpp>

#include <centaur/test_support/paths.hpp>

#include <pqxx/pqxx>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <random>
#include <stdexcept>

namespace centaur::test_support {
namespace {

std::string unique_name() {
    std::random_device rd;
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
    return "centaur_test_" + std::to_string(::getpid()) + "_" + suffix;
}

}  // namespace

std::string with_database(const std::string& url, const std::string& database) {
    const bool is_url = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
    if (!is_url) return url + (url.empty() ? "" : " ") + "dbname=" + database;
    std::string base = url;
    std::string query;
    if (const auto q = base.find('?'); q != std::string::npos) {
        query = base.substr(q);
        base.resize(q);
    }
    const auto authority = base.find("://") + 3;
    if (const auto slash = base.find('/', authority); slash != std::string::npos) base.resize(slash);
    return base + "/" + database + query;
}

TestDatabase::TestDatabase() {
    admin_url_ = env_or("CENTAUR_TEST_DATABASE_URL", "");
    if (admin_url_.empty())
        throw std::runtime_error(
            "CENTAUR_TEST_DATABASE_URL is not set: this test needs a Postgres server. Run it with "
            "`make test` (scripts/run-tests sets it), or export "
            "CENTAUR_TEST_DATABASE_URL=$(scripts/ensure-postgres)");
    name_ = unique_name();
    try {
        pqxx::connection admin(admin_url_);
        pqxx::nontransaction tx(admin);
        tx.exec0("CREATE DATABASE " + tx.quote_name(name_));
    } catch (const std::exception& e) {
        throw std::runtime_error("TestDatabase: cannot create database " + name_ + " via CENTAUR_TEST_DATABASE_URL: " +
                                 e.what());
    }
    url_ = with_database(admin_url_, name_);
}

TestDatabase::~TestDatabase() {
    try {
        pqxx::connection admin(admin_url_);
        pqxx::nontransaction tx(admin);
        tx.exec0("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
    } catch (const std::exception& e) {
        std::cerr << "TestDatabase: could not drop " << name_ << ": " << e.what() << "\n";
    }
}

}  // namespace centaur::test_support
