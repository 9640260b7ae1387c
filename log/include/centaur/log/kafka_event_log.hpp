#pragma once
// The Kafka event log (librdkafka): one topic, key = thread key, one JSON envelope per record.

#include <centaur/core/event_log.hpp>
#include <centaur/log/consumer_lag.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace centaur::log {

struct KafkaLogOptions {
    std::string brokers;                              ///< bootstrap servers, host:port[,host:port…]
    std::string topic = "centaur.events";             ///< the log
    std::string dead_letter_topic;                    ///< records that are not envelopes; default `<topic>.dead-letter`
    std::int32_t partitions = 8;                      ///< used when the topic is created (an existing topic keeps its own)
    std::int16_t replication_factor = 1;              ///< used when the topic is created
    std::chrono::milliseconds connect_timeout{15'000};  ///< `start` gives up after this long without a broker
    std::chrono::milliseconds retry_for{30'000};      ///< an append is re-produced this long, then fails
    std::map<std::string, std::string> rdkafka;       ///< passthrough librdkafka settings (security.protocol, sasl.*, ssl.*, client.id, statistics.interval.ms …) for every client
};

/// Counters for tests and metrics. Read any time.
struct KafkaLogStats {
    std::uint64_t persisted = 0;           ///< appends confirmed PERSISTED
    std::uint64_t reproduced = 0;          ///< records produced again after a failed delivery
    std::uint64_t possibly_persisted = 0;  ///< POSSIBLY_PERSISTED delivery reports (produced again, or failed at the deadline)
    std::uint64_t producer_recreated = 0;  ///< fatal producer errors survived
    std::uint64_t queue_full = 0;          ///< produce calls that met a full local queue (back-pressure)
};

/// Producer: idempotent (acks=all, enable.idempotence), partition = Kafka murmur2 of the thread key (the same
/// as librdkafka's murmur2_random and the Java client), headers `event_type` and `event_uuid`. An append
/// completes only on a PERSISTED delivery report, in append order per partition. A failed delivery marks its
/// partition for recovery: every later in-flight record of that partition is awaited, and all failed ones are
/// produced again in their original order (until `retry_for`, then errc::log_unavailable). A POSSIBLY_PERSISTED
/// report is counted and produced again in order too (a retried event must never land after a later event of
/// its thread; a second copy is dropped by consumers by uuid); one still unconfirmed at `retry_for` fails with
/// log_errc::possibly_persisted, distinct from errc::log_unavailable (never written). QUEUE_FULL
/// is back-pressure: the record waits in order and is produced when the queue drains. A fatal producer error
/// re-creates the producer and re-produces everything unconfirmed. A re-append of a uuid this process appended
/// recently returns the original position as `duplicate`; across processes a duplicate record is possible and
/// consumers drop it by uuid.
///
/// Offsets: a record at Kafka offset o has LogOffset o + 1 (0 = before the first record) and
/// event_id = (o + 1) * 1024 + partition: unique, increasing within a partition (so within a thread), and the
/// same whenever the log is read again. Topics hold at most 1024 partitions.
///
/// Readers are consumer-group members (cooperative-sticky, enable.auto.offset.store=false: offsets are stored
/// only through `store`, committed in the background). Records that are not envelopes go to the dead-letter
/// topic with headers `source_partition`, `source_offset`, `error`, and are skipped.
///
/// Threads: one poll thread owned by the log serves delivery reports and posts completions to `completions`
/// (never blocking it). Lifecycle: construct, `start()` (throws std::runtime_error with one line when the
/// broker cannot be reached within `connect_timeout` or the topic cannot be made), `stop()` (idempotent: waits
/// up to 5 s (at most `retry_for`) for unconfirmed appends, fails the rest with errc::shutting_down).
class KafkaEventLog final : public EventLog {
public:
    KafkaEventLog(KafkaLogOptions options, boost::asio::any_io_executor completions);
    ~KafkaEventLog() override;

    void start();
    void stop();

    void async_append(EventEnvelope event, AppendHandler done) override;
    std::int32_t partitions() const override;
    std::unique_ptr<LogReader> open_reader(ReaderOptions options = {}) override;

    KafkaLogStats stats() const;
    /// The last librdkafka statistics JSON of the producer (empty unless statistics.interval.ms is set).
    std::string last_statistics() const;
    /// Lag of every partition this process's group members own, as of their last polls. Thread-safe.
    std::vector<ConsumerLag> consumer_lag() const;
    /// Fault point for tests: raises a fatal error in the current producer (librdkafka's test hook).
    void inject_fatal_error();

    /// event_id of the record at `offset` (1-based) of `partition`.
    static EventId event_id_of(std::int32_t partition, LogOffset offset);

    struct Impl;
    struct LagBoard;

private:
    std::shared_ptr<Impl> impl_;
    std::shared_ptr<LagBoard> lag_board_;
};

}  // namespace centaur::log
