#pragma once
// What /readyz re-checks while the process runs, beyond the roles' own readiness ("processor", "projector":
// their consumers are assigned and caught up): "postgres" answers a query, "migrations" are at this binary's
// version, "log" is reachable (embedded: its table answers in Postgres; Kafka: a broker answers metadata for the
// topic).

#include <centaur/core/readiness.hpp>
#include <centaur/log/kafka_health.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace centaur::apps {

/// Owned by main. One thread of its own runs the checks every `interval` (each bounded by `timeout`) and sets the
/// three components on `readiness` as report-only (they show in /readyz; requests meet a real failure themselves).
/// A component turns not ready after `failures_to_flip` failed checks in a row (a loaded machine's one slow answer
/// does not flip it) and ready at the first success. Lifecycle: construct (registers the components as
/// "starting"), `start()`, `stop()` (idempotent, joins; also run by the destructor).
class ReadinessChecks {
public:
    ReadinessChecks(Readiness& readiness, std::string database_url, std::optional<log::KafkaLogOptions> kafka,
                    std::chrono::milliseconds interval, std::chrono::milliseconds timeout);
    ~ReadinessChecks();
    ReadinessChecks(const ReadinessChecks&) = delete;
    ReadinessChecks& operator=(const ReadinessChecks&) = delete;

    void start();
    void stop();
    /// One round of checks on the calling thread (start-up and tests).
    void check_once();

private:
    struct Db;
    void run();
    /// Records one check of `component`: ready at once, not ready after failures_to_flip failures in a row.
    void record(const char* component, const std::string& problem);

    static constexpr int failures_to_flip = 2;

    Readiness& readiness_;
    const std::string database_url_;
    std::unique_ptr<log::KafkaHealthCheck> kafka_;
    const std::chrono::milliseconds interval_;
    const std::chrono::milliseconds timeout_;
    std::unique_ptr<Db> db_;
    std::map<std::string, int> failures_;  ///< consecutive failed checks per component (checker thread only)
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace centaur::apps
