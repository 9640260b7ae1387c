#pragma once
// Reachability of the Kafka log's brokers for /readyz: a metadata request for the log's topic on a small client
// of its own (never the log's producer, whose poll thread must not wait on it).

#include <centaur/log/kafka_event_log.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace centaur::log {

/// Owned by the readiness checker, called from its one thread (not thread-safe). Lifecycle: construct (no I/O),
/// `check` any number of times, destroy.
class KafkaHealthCheck {
public:
    explicit KafkaHealthCheck(KafkaLogOptions options);
    ~KafkaHealthCheck();
    KafkaHealthCheck(const KafkaHealthCheck&) = delete;
    KafkaHealthCheck& operator=(const KafkaHealthCheck&) = delete;

    /// Empty when a broker answered a metadata request for the log's topic within `timeout` and the topic has a
    /// leader for every partition; otherwise the reason ("brokers unreachable: Local: Broker transport failure").
    std::string check(std::chrono::milliseconds timeout);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace centaur::log
