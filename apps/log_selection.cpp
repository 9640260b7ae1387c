#include "log_selection.hpp"

#include <cctype>
#include <cstdlib>
#include <sstream>

extern char** environ;

namespace centaur::apps {

namespace {
constexpr std::string_view passthrough_prefix = "CENTAUR_KAFKA_CONFIG_";
constexpr const char* default_statistics_interval_ms = "5000";
}

std::vector<OptionSpec> log_option_specs() {
    return {
        {"roles", "CENTAUR_ROLES", "ingest,api,processor,projector",
         "roles of this process, comma-separated: ingest, api, processor, projector"},
        {"kafka-brokers", "CENTAUR_KAFKA_BROKERS", "",
         "Kafka bootstrap servers; set = the event log is Kafka, unset = the embedded Postgres log"},
        {"kafka-topic", "CENTAUR_KAFKA_TOPIC", "centaur.events", "Kafka topic of the event log (created when absent)"},
        {"kafka-replication-factor", "CENTAUR_KAFKA_REPLICATION_FACTOR", "1", "replication factor of a created topic"},
        {"kafka-connect-timeout-ms", "CENTAUR_KAFKA_CONNECT_TIMEOUT_MS", "15000",
         "how long start-up waits for the Kafka brokers before refusing to start"},
    };
}

std::optional<LogSelection> select_log(const Config& config, std::int32_t partitions, std::string* error) {
    LogSelection out;
    std::stringstream roles(config.get("roles"));
    std::string role;
    while (std::getline(roles, role, ',')) {
        if (role == "ingest") out.roles.ingest = true;
        else if (role == "api") out.roles.api = true;
        else if (role == "processor") out.roles.processor = true;
        else if (role == "projector") out.roles.projector = true;
        else if (!role.empty()) {
            *error = config.source_name("roles") + " has an unknown role '" + role +
                     "' (roles: ingest, api, processor, projector)";
            return std::nullopt;
        }
    }
    if (!out.roles.ingest && !out.roles.api && !out.roles.processor && !out.roles.projector) {
        *error = config.source_name("roles") + " names no role (roles: ingest, api, processor, projector)";
        return std::nullopt;
    }
    const auto& brokers = config.get("kafka-brokers");
    if (brokers.empty()) return out;

    log::KafkaLogOptions kafka;
    kafka.brokers = brokers;
    kafka.topic = config.get("kafka-topic");
    kafka.partitions = partitions;
    auto replication = config.get_int("kafka-replication-factor", 1, 32, error);
    auto timeout = config.get_int("kafka-connect-timeout-ms", 100, 600'000, error);
    if (!replication || !timeout) return std::nullopt;
    if (kafka.topic.empty()) {
        *error = config.source_name("kafka-topic") + " is empty";
        return std::nullopt;
    }
    kafka.replication_factor = static_cast<std::int16_t>(*replication);
    kafka.connect_timeout = std::chrono::milliseconds(*timeout);
    for (char** e = environ; e && *e; ++e) {
        const std::string_view entry(*e);
        if (!entry.starts_with(passthrough_prefix)) continue;
        const auto eq = entry.find('=');
        if (eq == std::string_view::npos || eq == passthrough_prefix.size()) continue;
        std::string name(entry.substr(passthrough_prefix.size(), eq - passthrough_prefix.size()));
        for (auto& ch : name) ch = ch == '_' ? '.' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        kafka.rdkafka[name] = std::string(entry.substr(eq + 1));
    }
    // The producer's statistics feed /metrics (rtt, int_latency, outbuf): on unless the operator set an interval.
    kafka.rdkafka.try_emplace("statistics.interval.ms", default_statistics_interval_ms);
    out.kafka = std::move(kafka);
    return out;
}

SelectedLog::SelectedLog(const LogSelection& selection, const std::string& database_url, std::int32_t partitions,
                         boost::asio::any_io_executor completions) {
    if (selection.kafka)
        kafka_ = std::make_unique<log::KafkaEventLog>(*selection.kafka, std::move(completions));
    else
        embedded_ = std::make_unique<log::PostgresEventLog>(log::PostgresLogOptions{database_url, partitions},
                                                            std::move(completions));
}

EventLog& SelectedLog::get() {
    if (kafka_) return *kafka_;
    return *embedded_;
}

void SelectedLog::start_kafka() {
    if (kafka_) kafka_->start();
}

void SelectedLog::start_embedded() {
    if (embedded_) embedded_->start();
}

void SelectedLog::stop() {
    if (kafka_) kafka_->stop();
    if (embedded_) embedded_->stop();
}

}  // namespace centaur::apps
