#include "readiness_checks.hpp"

#include <centaur/core/logging.hpp>
#include <centaur/pg/migrate.hpp>
#include <centaur/pg/pool.hpp>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

namespace centaur::apps {
namespace {

constexpr auto postgres = "postgres";
constexpr auto migrations = "migrations";
constexpr auto event_log = "log";

/// `url` with a libpq connect_timeout (whole seconds, at least 1) unless it names one.
std::string with_connect_timeout(const std::string& url, std::chrono::milliseconds timeout) {
    if (url.find("connect_timeout") != std::string::npos) return url;
    const auto secs = std::to_string(std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(timeout).count()));
    if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0)
        return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=" + secs;
    return url + " connect_timeout=" + secs;
}

/// The first line of a libpq/libpqxx message, secrets redacted.
std::string reason_of(const std::exception& e) {
    std::string what = e.what();
    if (const auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
    return logging::redact(what);
}

}  // namespace

struct ReadinessChecks::Db {
    std::unique_ptr<pqxx::connection> conn;
};

ReadinessChecks::ReadinessChecks(Readiness& readiness, std::string database_url,
                                 std::optional<log::KafkaLogOptions> kafka, std::chrono::milliseconds interval,
                                 std::chrono::milliseconds timeout)
    : readiness_(readiness),
      database_url_(with_connect_timeout(database_url, timeout)),
      kafka_(kafka ? std::make_unique<log::KafkaHealthCheck>(std::move(*kafka)) : nullptr),
      interval_(interval),
      timeout_(timeout),
      db_(std::make_unique<Db>()) {
    for (const char* component : {postgres, migrations, event_log})
        readiness_.expect(component, "starting", Readiness::Gate::report_only);
}

ReadinessChecks::~ReadinessChecks() { stop(); }

void ReadinessChecks::start() {
    std::lock_guard lock(mutex_);
    if (thread_.joinable() || stopping_) return;
    thread_ = std::thread([this] { run(); });
}

void ReadinessChecks::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void ReadinessChecks::run() {
    for (;;) {
        check_once();
        std::unique_lock lock(mutex_);
        if (wake_.wait_for(lock, interval_, [this] { return stopping_; })) return;
    }
}

void ReadinessChecks::record(const char* component, const std::string& problem) {
    if (problem.empty()) {
        failures_[component] = 0;
        readiness_.set_ready(component);
    } else if (++failures_[component] >= failures_to_flip) {
        readiness_.set_not_ready(component, problem);
    }
}

void ReadinessChecks::check_once() {
    std::string postgres_problem, migrations_problem, log_problem;
    bool postgres_ok = false;
    try {
        if (!db_->conn) db_->conn = pg::connect(database_url_);
        {
            pqxx::nontransaction tx(*db_->conn);
            tx.exec("set statement_timeout = " + std::to_string(timeout_.count()));
            tx.exec("select 1");
        }
        postgres_ok = true;
        const int applied = pg::applied_migration_version(*db_->conn);
        if (applied < pg::latest_migration_version())
            migrations_problem = "schema at version " + std::to_string(applied) + ", this binary needs " +
                                 std::to_string(pg::latest_migration_version()) + " (set RUN_MIGRATIONS=true on one process)";
        if (!kafka_) {
            pqxx::nontransaction log_tx(*db_->conn);
            log_tx.exec("select 1 from centaur_log limit 1");
        }
    } catch (const std::exception& e) {
        const auto reason = reason_of(e);
        if (!postgres_ok) {
            db_->conn.reset();
            postgres_problem = "unreachable: " + reason;
            if (!kafka_) log_problem = "embedded log unreachable (postgres)";
        } else if (!kafka_) {
            log_problem = "embedded log table: " + reason;
        }
    }
    if (kafka_) {
        const auto problem = kafka_->check(timeout_);
        if (!problem.empty()) log_problem = "kafka: " + problem;
    }
    record(postgres, postgres_problem);
    if (postgres_ok) record(migrations, migrations_problem);
    record(event_log, log_problem);
}

}  // namespace centaur::apps
