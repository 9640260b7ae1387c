#pragma once
// Which event log and which roles this process runs: the Kafka/embedded choice, CENTAUR_ROLES, and the
// librdkafka passthrough settings. Only apps/ knows the adapters.

#include <centaur/core/config.hpp>
#include <centaur/core/event_log.hpp>
#include <centaur/log/kafka_event_log.hpp>
#include <centaur/log/postgres_event_log.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace centaur::apps {

/// The roles one process runs (CENTAUR_ROLES, comma-separated; default all four).
struct Roles {
    bool ingest = false;     ///< the write routes (session create, messages, execute, interrupt) and the Slack webhook
    bool api = false;        ///< the read routes (session, executions, replay) and event streams
    bool processor = false;  ///< the session processor and its sandboxes
    bool projector = false;  ///< the projector writing the Postgres projections
};

/// The options this file adds to the server's flags and env variables.
std::vector<OptionSpec> log_option_specs();

struct LogSelection {
    Roles roles;
    std::optional<log::KafkaLogOptions> kafka;  ///< set when CENTAUR_KAFKA_BROKERS is
};

/// Reads the roles and the log choice. nullopt with one line in `error` naming the variable on bad input.
/// `rdkafka` settings come from every env variable CENTAUR_KAFKA_CONFIG_<NAME>: NAME lowercased with `_` as
/// `.` (CENTAUR_KAFKA_CONFIG_SASL_MECHANISMS=PLAIN → sasl.mechanisms=PLAIN).
std::optional<LogSelection> select_log(const Config& config, std::int32_t partitions, std::string* error);

/// Owns the chosen log. Kafka starts in `start_kafka` (bounded by its connect timeout; throws
/// std::runtime_error with one line when the broker is unreachable); the embedded log starts in
/// `start_embedded` (after migrations). `stop` stops whichever runs.
class SelectedLog {
public:
    SelectedLog(const LogSelection& selection, const std::string& database_url, std::int32_t partitions,
                boost::asio::any_io_executor completions);
    EventLog& get();
    bool kafka() const { return kafka_ != nullptr; }
    /// The Kafka log (statistics for /metrics); null with the embedded log.
    const log::KafkaEventLog* kafka_log() const { return kafka_.get(); }
    void start_kafka();
    void start_embedded();
    void stop();

private:
    std::unique_ptr<log::KafkaEventLog> kafka_;
    std::unique_ptr<log::PostgresEventLog> embedded_;
};

}  // namespace centaur::apps
