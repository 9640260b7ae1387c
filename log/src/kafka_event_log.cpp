#include <centaur/core/fault_point.hpp>
#include <centaur/log/kafka_event_log.hpp>
#include <centaur/log/log_probe.hpp>
#include <centaur/schemas/partitioner.hpp>

#include <boost/asio/post.hpp>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace centaur::log {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::int32_t max_partitions = 1024;  // event_id = offset * 1024 + partition
constexpr auto poll_slice = 50ms;
constexpr auto consume_slice = 100ms;
constexpr std::size_t recent_uuid_capacity = 65'536;
constexpr std::chrono::milliseconds metadata_attempt{2'000};
constexpr int seek_timeout_ms = 5'000;
constexpr int dead_letter_flush_ms = 5'000;
constexpr auto stop_drain_bound = 5s;  // stop waits this long at most for unconfirmed appends

std::unique_ptr<RdKafka::Conf> make_conf(const KafkaLogOptions& o,
                                         std::initializer_list<std::pair<const char*, std::string>> settings) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string err;
    auto set = [&](const std::string& k, const std::string& v) {
        if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK)
            throw std::runtime_error("kafka setting " + k + " rejected: " + err);
    };
    set("bootstrap.servers", o.brokers);
    for (const auto& [k, v] : settings) set(k, v);
    for (const auto& [k, v] : o.rdkafka) set(k, v);  // the user's settings win
    return conf;
}

std::string dead_letter_topic_of(const KafkaLogOptions& o) {
    return o.dead_letter_topic.empty() ? o.topic + ".dead-letter" : o.dead_letter_topic;
}

/// Errors after which re-producing the same record cannot succeed.
bool permanent(RdKafka::ErrorCode e) {
    switch (e) {
        case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
        case RdKafka::ERR_INVALID_MSG:
        case RdKafka::ERR_INVALID_RECORD:
        case RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED:
        case RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RdKafka::ERR__INVALID_ARG:
            return true;
        default:
            return false;
    }
}

}  // namespace

EventId KafkaEventLog::event_id_of(std::int32_t partition, LogOffset offset) {
    return EventId(offset.value * max_partitions + partition);
}

// ---- producer side ------------------------------------------------------------------------------------------

struct KafkaEventLog::Impl : RdKafka::DeliveryReportCb, RdKafka::EventCb {
    enum class State { queued, in_flight, done };
    struct Entry {
        EventUuid uuid;
        std::int32_t partition = 0;
        std::string key;
        std::string value;
        std::string type;
        std::vector<AppendHandler> handlers;  ///< the append, then re-appends of the same uuid while in flight
        Clock::time_point deadline;
        State state = State::queued;
        std::uint64_t attempt = 0;  ///< id of the current produce call; stale delivery reports are ignored
        std::optional<result<Appended>> outcome;
    };
    struct Partition {
        std::deque<std::shared_ptr<Entry>> order;  ///< unfinished entries in append order
        std::size_t in_flight = 0;
        std::size_t queued = 0;
        bool recovering = false;  ///< a delivery failed: wait for in-flight reports, then re-produce in order
    };

    KafkaLogOptions options;
    boost::asio::any_io_executor completions;
    std::int32_t partition_count = 0;

    std::mutex start_mutex;
    mutable std::mutex mutex;
    std::unique_ptr<RdKafka::Producer> producer;  // swapped only by the poll thread, under the mutex
    std::vector<Partition> parts;
    std::unordered_map<std::uint64_t, std::shared_ptr<Entry>> by_attempt;
    std::unordered_map<EventUuid, std::shared_ptr<Entry>> pending_by_uuid;
    std::unordered_map<EventUuid, Appended> recent;
    std::deque<EventUuid> recent_order;
    std::uint64_t next_attempt = 1;
    bool started = false;
    bool stopping = false;
    KafkaLogStats counters;
    std::string statistics;

    std::atomic<bool> fatal{false};
    std::atomic<bool> quit{false};
    std::thread poller;

    // -- librdkafka callbacks (poll thread, inside producer->poll) --

    void dr_cb(RdKafka::Message& m) override {
        const auto attempt = reinterpret_cast<std::uintptr_t>(m.msg_opaque());
        std::vector<std::function<void()>> ready;
        {
            std::lock_guard lock(mutex);
            auto it = by_attempt.find(attempt);
            if (it == by_attempt.end()) return;  // from a producer we replaced
            auto e = it->second;
            by_attempt.erase(it);
            auto& part = parts[static_cast<std::size_t>(e->partition)];
            --part.in_flight;
            if (m.err() == RdKafka::ERR_NO_ERROR && m.status() == RdKafka::Message::MSG_STATUS_PERSISTED) {
                const LogOffset offset(m.offset() + 1);
                e->outcome = Appended{{e->partition, offset}, event_id_of(e->partition, offset), false};
                e->state = State::done;
                ++counters.persisted;
                if (part.recovering)
                    spdlog::warn("kafka log: partition {}: a record landed after an earlier one failed", e->partition);
            } else if (m.status() == RdKafka::Message::MSG_STATUS_POSSIBLY_PERSISTED) {
                // Produced again in order with the rest of the partition: if the first copy landed it is the
                // earlier one and consumers drop the second by uuid; if not, the copy keeps the thread's order.
                // Only an append that stays unconfirmed until its deadline fails, with possibly_persisted.
                ++counters.possibly_persisted;
                if (Clock::now() >= e->deadline) {
                    spdlog::error("kafka log: delivery of {} to partition {} possibly persisted, unconfirmed: {}",
                                  e->type, e->partition, RdKafka::err2str(m.err()));
                    e->outcome = result<Appended>(make_error_code(log_errc::possibly_persisted));
                    e->state = State::done;
                } else {
                    if (!part.recovering)
                        spdlog::warn("kafka log: delivery to partition {} possibly persisted ({}); re-producing its "
                                     "unconfirmed records in order",
                                     e->partition, RdKafka::err2str(m.err()));
                    e->state = State::queued;
                    ++part.queued;
                }
                part.recovering = true;
            } else if (permanent(m.err()) || Clock::now() >= e->deadline) {
                spdlog::error("kafka log: delivery of {} to partition {} failed: {}", e->type, e->partition,
                              RdKafka::err2str(m.err()));
                e->outcome = result<Appended>(make_error_code(errc::log_unavailable));
                e->state = State::done;
                part.recovering = true;
            } else {
                if (!part.recovering)
                    spdlog::warn("kafka log: delivery to partition {} failed ({}); re-producing its unconfirmed "
                                 "records in order",
                                 e->partition, RdKafka::err2str(m.err()));
                e->state = State::queued;
                ++part.queued;
                part.recovering = true;
            }
            take_completed(part, ready);
        }
        for (auto& f : ready) f();
    }

    void event_cb(RdKafka::Event& event) override {
        switch (event.type()) {
            case RdKafka::Event::EVENT_ERROR:
                if (event.fatal()) {
                    spdlog::error("kafka log: fatal producer error: {}", event.str());
                    fatal = true;
                } else {
                    spdlog::warn("kafka log: {}: {}", RdKafka::err2str(event.err()), event.str());
                }
                break;
            case RdKafka::Event::EVENT_STATS: {
                std::lock_guard lock(mutex);
                statistics = event.str();
                break;
            }
            default:
                break;
        }
    }

    // -- helpers (mutex held) --

    /// Pops the finished prefix of `part`, preparing its completions (to run without the mutex).
    void take_completed(Partition& part, std::vector<std::function<void()>>& ready) {
        while (!part.order.empty() && part.order.front()->state == State::done) {
            auto e = std::move(part.order.front());
            part.order.pop_front();
            pending_by_uuid.erase(e->uuid);
            auto outcome = std::move(*e->outcome);
            if (outcome) remember(e->uuid, *outcome);
            for (std::size_t i = 0; i < e->handlers.size(); ++i) {
                auto r = outcome;
                if (i > 0 && r) r->duplicate = true;
                ready.push_back([this, h = std::move(e->handlers[i]), r = std::move(r)]() mutable {
                    boost::asio::post(completions, [h = std::move(h), r = std::move(r)]() mutable { h(std::move(r)); });
                });
            }
        }
    }

    void remember(const EventUuid& uuid, const Appended& a) {
        if (!recent.emplace(uuid, a).second) return;
        recent_order.push_back(uuid);
        if (recent_order.size() > recent_uuid_capacity) {
            recent.erase(recent_order.front());
            recent_order.pop_front();
        }
    }

    /// Produces `e` now. False on QUEUE_FULL or a fatal producer (the entry stays queued, in order). Other
    /// errors finish the entry with errc::log_unavailable.
    bool produce(const std::shared_ptr<Entry>& e, Partition& part) {
        const auto attempt = next_attempt++;
        RdKafka::Headers* headers = RdKafka::Headers::create();
        headers->add("event_type", e->type);
        headers->add("event_uuid", e->uuid.hex());
        const auto err = producer->produce(options.topic, e->partition, RdKafka::Producer::RK_MSG_COPY,
                                           const_cast<char*>(e->value.data()), e->value.size(), e->key.data(),
                                           e->key.size(), 0, headers, reinterpret_cast<void*>(attempt));
        if (err == RdKafka::ERR_NO_ERROR) {
            if (e->state == State::queued) --part.queued;
            if (e->attempt != 0) ++counters.reproduced;
            e->state = State::in_flight;
            e->attempt = attempt;
            by_attempt.emplace(attempt, e);
            ++part.in_flight;
            return true;
        }
        delete headers;
        if (err == RdKafka::ERR__QUEUE_FULL) {
            ++counters.queue_full;
            return false;
        }
        if (err == RdKafka::ERR__FATAL) {
            fatal = true;  // the poll thread re-creates the producer; the entry waits, in order
            return false;
        }
        spdlog::error("kafka log: produce of {} failed: {}", e->type, RdKafka::err2str(err));
        if (e->state == State::queued) --part.queued;
        e->outcome = result<Appended>(make_error_code(errc::log_unavailable));
        e->state = State::done;
        return true;
    }

    /// Produces the queued entries of every partition that is not waiting for in-flight reports, in order.
    void drain_queued(std::vector<std::function<void()>>& ready) {
        for (auto& part : parts) {
            if (part.recovering && part.in_flight == 0) part.recovering = false;
            if (part.recovering || part.queued == 0) continue;
            for (auto& e : part.order) {
                if (e->state != State::queued) continue;
                if (Clock::now() >= e->deadline) {
                    --part.queued;
                    e->outcome = result<Appended>(make_error_code(errc::log_unavailable));
                    e->state = State::done;
                    continue;
                }
                if (!produce(e, part)) break;
            }
            take_completed(part, ready);
        }
    }

    // -- poll thread --

    void run() {
        while (!quit) {
            producer->poll(static_cast<int>(poll_slice.count()));
            if (fatal.exchange(false)) recreate_producer();
            std::vector<std::function<void()>> ready;
            {
                std::lock_guard lock(mutex);
                drain_queued(ready);
            }
            for (auto& f : ready) f();
        }
    }

    void recreate_producer() {
        std::unique_ptr<RdKafka::Producer> old;
        {
            std::lock_guard lock(mutex);
            for (auto& part : parts) {
                for (auto& e : part.order) {
                    if (e->state != State::in_flight) continue;
                    e->state = State::queued;
                    ++part.queued;
                }
                part.in_flight = 0;
                part.recovering = false;
            }
            by_attempt.clear();  // reports of the old producer are stale now
            std::string err;
            auto conf = producer_conf();
            std::unique_ptr<RdKafka::Producer> fresh(RdKafka::Producer::create(conf.get(), err));
            if (!fresh) {
                spdlog::error("kafka log: cannot re-create the producer: {}", err);
                fatal = true;  // try again on the next round
                return;
            }
            old = std::move(producer);
            producer = std::move(fresh);
            ++counters.producer_recreated;
        }
        old->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT |
                   RdKafka::Producer::PURGE_NON_BLOCKING);
        old->poll(0);
        fatal = false;  // the old producer's own fatal events are handled by replacing it
        spdlog::warn("kafka log: producer re-created after a fatal error; re-producing unconfirmed appends");
    }

    std::unique_ptr<RdKafka::Conf> producer_conf() {
        auto conf = make_conf(options, {{"enable.idempotence", "true"},
                                        {"acks", "all"},
                                        {"partitioner", "murmur2_random"},
                                        {"linger.ms", "2"},
                                        {"message.timeout.ms", std::to_string(std::min<std::int64_t>(
                                                                   options.retry_for.count(), 10'000))}});
        std::string err;
        conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this), err);
        conf->set("event_cb", static_cast<RdKafka::EventCb*>(this), err);
        return conf;
    }

    /// Waits for metadata, creates the topics when absent, learns the partition count.
    void prepare_topics() {
        const auto deadline = Clock::now() + options.connect_timeout;
        bool created = false;
        for (;;) {
            RdKafka::Metadata* raw = nullptr;
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            const auto err = producer->metadata(true, nullptr, &raw,
                                                static_cast<int>(std::clamp(left, 100ms, metadata_attempt).count()));
            std::unique_ptr<RdKafka::Metadata> md(raw);
            if (err == RdKafka::ERR_NO_ERROR) {
                const RdKafka::TopicMetadata* log_topic = nullptr;
                bool dead_letter = false;
                for (const auto* t : *md->topics()) {
                    if (t->topic() == options.topic && t->err() == RdKafka::ERR_NO_ERROR) log_topic = t;
                    if (t->topic() == dead_letter_topic_of(options) && t->err() == RdKafka::ERR_NO_ERROR)
                        dead_letter = true;
                }
                bool leaders = log_topic && !log_topic->partitions()->empty();
                if (log_topic)
                    for (const auto* p : *log_topic->partitions()) leaders = leaders && p->leader() >= 0;
                if (leaders && dead_letter) {
                    partition_count = static_cast<std::int32_t>(log_topic->partitions()->size());
                    return;
                }
                if (!created) {
                    if (!log_topic) create_topic(options.topic, options.partitions, deadline);
                    if (!dead_letter) create_topic(dead_letter_topic_of(options), 1, deadline);
                    created = true;
                }
            }
            if (Clock::now() >= deadline) {
                throw std::runtime_error(
                    err != RdKafka::ERR_NO_ERROR
                        ? "Kafka brokers " + options.brokers + " unreachable after " +
                              std::to_string(options.connect_timeout.count()) + " ms (" + RdKafka::err2str(err) + ")"
                        : "Kafka topic " + options.topic + " is not available on " + options.brokers + " after " +
                              std::to_string(options.connect_timeout.count()) + " ms");
            }
            std::this_thread::sleep_for(100ms);
        }
    }

    void create_topic(const std::string& name, std::int32_t partitions, Clock::time_point deadline) {
        rd_kafka_t* rk = producer->c_ptr();
        char err[512];
        rd_kafka_NewTopic_t* topic =
            rd_kafka_NewTopic_new(name.c_str(), partitions, options.replication_factor, err, sizeof err);
        if (!topic) throw std::runtime_error("cannot describe Kafka topic " + name + ": " + err);
        rd_kafka_NewTopic_set_config(topic, "retention.ms", "-1");  // the log is the source of truth
        rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t* admin = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        rd_kafka_AdminOptions_set_request_timeout(admin, static_cast<int>(std::max(left, 100ms).count()), err, sizeof err);
        rd_kafka_CreateTopics(rk, &topic, 1, admin, queue);
        rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, static_cast<int>(std::max(left, 100ms).count()) + 1000);
        std::string failure;
        if (!ev) {
            failure = "timed out";
        } else if (rd_kafka_event_error(ev)) {
            failure = rd_kafka_event_error_string(ev);
        } else if (const auto* res = rd_kafka_event_CreateTopics_result(ev)) {
            std::size_t n = 0;
            const auto** topics = rd_kafka_CreateTopics_result_topics(res, &n);
            for (std::size_t i = 0; i < n; ++i) {
                const auto code = rd_kafka_topic_result_error(topics[i]);
                if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                    failure = rd_kafka_err2str(code);
            }
        }
        if (ev) rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(admin);
        rd_kafka_queue_destroy(queue);
        rd_kafka_NewTopic_destroy(topic);
        if (!failure.empty()) spdlog::warn("kafka log: creating topic {}: {}", name, failure);
        else spdlog::info("kafka log: created topic {} ({} partitions)", name, partitions);
    }
};

// ---- consumer side ------------------------------------------------------------------------------------------

/// Consumer lag of this process's group members, written by each reader after its polls, read by consumer_lag().
struct KafkaEventLog::LagBoard {
    std::mutex mutex;
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> lag;  ///< (group, partition) -> records behind
};

namespace {

class KafkaLogReader final : public LogReader, public RdKafka::RebalanceCb {
public:
    KafkaLogReader(const KafkaLogOptions& log_options, std::int32_t partitions, ReaderOptions options,
                   std::shared_ptr<KafkaEventLog::LagBoard> lag_board)
        : log_options_(log_options), partitions_(partitions), options_(std::move(options)),
          caught_up_(static_cast<std::size_t>(partitions), false), lag_board_(std::move(lag_board)),
          next_offset_(static_cast<std::size_t>(partitions), -1) {
        const bool standalone = options_.group.empty();
        auto conf = make_conf(log_options_, {{"group.id", standalone ? "centaur-reader-" + EventUuid::random().hex()
                                                                     : options_.group},
                                             {"enable.auto.commit", standalone ? "false" : "true"},
                                             {"enable.auto.offset.store", "false"},
                                             {"auto.offset.reset", "earliest"},
                                             {"enable.partition.eof", "true"},
                                             {"partition.assignment.strategy", "cooperative-sticky"},
                                             {"session.timeout.ms", "10000"},
                                             {"heartbeat.interval.ms", "1000"}});
        std::string err;
        conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(this), err);
        consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
        if (!consumer_) throw std::runtime_error("cannot create Kafka consumer: " + err);
        if (!standalone) {
            const auto e = consumer_->subscribe({log_options_.topic});
            if (e != RdKafka::ERR_NO_ERROR)
                throw std::runtime_error("cannot subscribe to " + log_options_.topic + ": " + RdKafka::err2str(e));
        }
    }

    ~KafkaLogReader() override {
        closing_ = true;  // close() revokes through rebalance_cb: no user callbacks any more
        consumer_->close();
        publish_lag();
        if (dead_letters_) dead_letters_->flush(dead_letter_flush_ms);
    }

    result<std::vector<LogRecord>> poll(std::chrono::milliseconds max_wait, std::size_t max_records) override {
        if (options_.group.empty() && !standalone_assigned_) assign_standalone();
        flush_caught_up();
        const auto deadline = Clock::now() + max_wait;
        batch_.clear();
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            const auto slice = batch_.empty() ? std::clamp(left, 0ms, consume_slice) : 0ms;
            std::unique_ptr<RdKafka::Message> m(consumer_->consume(static_cast<int>(slice.count())));
            const auto err = m->err();
            if (err == RdKafka::ERR_NO_ERROR) {
                take(*m);
                if (batch_.size() >= max_records) break;
                continue;
            }
            if (err == RdKafka::ERR__PARTITION_EOF) {
                const auto p = m->partition();
                if (owns(p) && !caught_up_[static_cast<std::size_t>(p)]) {
                    caught_up_[static_cast<std::size_t>(p)] = true;
                    pending_caught_up_.push_back(p);
                }
                continue;
            }
            if (err != RdKafka::ERR__TIMED_OUT) {
                spdlog::warn("kafka reader: {}", m->errstr());
                if (err == RdKafka::ERR__FATAL) return boost::system::error_code(errc::log_unavailable);
            }
            if (!batch_.empty() || woken_.exchange(false) || Clock::now() >= deadline) break;
        }
        if (batch_.empty()) flush_caught_up();
        publish_lag();
        return std::move(batch_);
    }

    void seek(std::int32_t partition, LogOffset after) override {
        if (!owns(partition)) return;
        next_offset_[static_cast<std::size_t>(partition)] = after.value;
        caught_up_[static_cast<std::size_t>(partition)] = false;
        std::erase(pending_caught_up_, partition);
        std::erase_if(batch_, [&](const LogRecord& r) { return r.position.partition == partition; });
        if (in_rebalance_) {
            pending_seeks_[partition] = after;
            return;
        }
        std::unique_ptr<RdKafka::TopicPartition> tp(
            RdKafka::TopicPartition::create(log_options_.topic, partition, after.value));
        if (consumer_->seek(*tp, seek_timeout_ms) == RdKafka::ERR_NO_ERROR) return;
        // Not fetching yet: re-assign the partition at the wanted offset instead.
        std::vector<RdKafka::TopicPartition*> list{tp.get()};
        if (cooperative()) {
            delete consumer_->incremental_unassign(list);
            delete consumer_->incremental_assign(list);
        } else {
            consumer_->assign(list);
        }
    }

    void store(LogPosition position) override {
        if (options_.group.empty() || !owns(position.partition)) return;
        fault_point("kafka_before_offset_store");
        std::unique_ptr<RdKafka::TopicPartition> tp(
            RdKafka::TopicPartition::create(log_options_.topic, position.partition, position.offset.value));
        std::vector<RdKafka::TopicPartition*> list{tp.get()};
        consumer_->offsets_store(list);
    }

    PartitionList assignment() const override { return owned_; }

    void wake() override { woken_ = true; }

    void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                      std::vector<RdKafka::TopicPartition*>& partitions) override {
        PartitionList ps;
        for (const auto* tp : partitions) ps.push_back(tp->partition());
        if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
            for (auto p : ps) {
                if (!owns(p)) owned_.push_back(p);
                caught_up_[static_cast<std::size_t>(p)] = false;
            }
            if (!closing_ && options_.on_assigned) {
                in_rebalance_ = true;
                pending_seeks_.clear();
                options_.on_assigned(ps);
                in_rebalance_ = false;
                for (auto* tp : partitions)
                    if (auto it = pending_seeks_.find(tp->partition()); it != pending_seeks_.end())
                        tp->set_offset(it->second.value);
            }
            if (cooperative()) delete consumer->incremental_assign(partitions);
            else consumer->assign(partitions);
        } else {
            if (err == RdKafka::ERR__REVOKE_PARTITIONS && !closing_ && options_.on_revoked && !ps.empty())
                options_.on_revoked(ps);
            // The next owner starts after what was stored: commit it now, not at the next auto-commit tick.
            if (!options_.group.empty() && consumer->assignment_lost() == false) consumer->commitSync();
            for (auto p : ps) {
                std::erase(owned_, p);
                std::erase(pending_caught_up_, p);
                std::erase_if(batch_, [&](const LogRecord& r) { return r.position.partition == p; });
            }
            if (err != RdKafka::ERR__REVOKE_PARTITIONS) spdlog::warn("kafka reader: rebalance error {}", RdKafka::err2str(err));
            if (cooperative()) delete consumer->incremental_unassign(partitions);
            else consumer->unassign();
        }
    }

    std::uint64_t dead_lettered() const { return dead_lettered_; }

private:
    bool owns(std::int32_t p) const { return std::find(owned_.begin(), owned_.end(), p) != owned_.end(); }

    /// Lag of every owned partition whose position is known: its high watermark as of the last fetch (cached
    /// by librdkafka, no round trip) minus the next offset to read. Group members only; partitions this member
    /// no longer owns leave the board.
    void publish_lag() {
        if (options_.group.empty() || !lag_board_) return;
        std::lock_guard lock(lag_board_->mutex);
        for (auto it = published_.begin(); it != published_.end();) {
            if (closing_ || !owns(*it)) {
                lag_board_->lag.erase({options_.group, *it});
                it = published_.erase(it);
            } else {
                ++it;
            }
        }
        if (closing_) return;
        for (auto p : owned_) {
            const auto next = next_offset_[static_cast<std::size_t>(p)];
            std::int64_t low = 0;
            std::int64_t high = 0;
            if (next < 0) continue;
            const auto err = consumer_->get_watermark_offsets(log_options_.topic, p, &low, &high);
            if (err != RdKafka::ERR_NO_ERROR || high < 0) continue;
            lag_board_->lag[{options_.group, p}] = std::max<std::int64_t>(0, high - next);
            published_.insert(p);
        }
    }
    bool cooperative() { return consumer_->rebalance_protocol() == "COOPERATIVE"; }

    /// A standalone reader takes every partition on its first poll.
    void assign_standalone() {
        standalone_assigned_ = true;
        std::vector<RdKafka::TopicPartition*> list;
        for (std::int32_t p = 0; p < partitions_; ++p)
            list.push_back(RdKafka::TopicPartition::create(log_options_.topic, p, RdKafka::Topic::OFFSET_BEGINNING));
        rebalance_cb(consumer_.get(), RdKafka::ERR__ASSIGN_PARTITIONS, list);
        RdKafka::TopicPartition::destroy(list);
    }

    void take(RdKafka::Message& m) {
        const auto p = m.partition();
        if (!owns(p)) return;
        const LogOffset offset(m.offset() + 1);
        std::string why;
        auto envelope = decode_envelope(
            std::string_view(static_cast<const char*>(m.payload()), m.payload() ? m.len() : 0), &why);
        if (!envelope) {
            dead_letter(m, why);
            return;
        }
        next_offset_[static_cast<std::size_t>(p)] = offset.value;
        batch_.push_back(LogRecord{{p, offset}, KafkaEventLog::event_id_of(p, offset), std::move(*envelope)});
    }

    void dead_letter(RdKafka::Message& m, const std::string& why) {
        ++dead_lettered_;
        count_dead_lettered_record();
        spdlog::error("kafka reader: record at partition {} offset {} is not an envelope ({}); moved to {}",
                      m.partition(), m.offset(), why, dead_letter_topic_of(log_options_));
        if (!dead_letters_) {
            auto conf = make_conf(log_options_, {{"acks", "all"}});
            std::string err;
            dead_letters_.reset(RdKafka::Producer::create(conf.get(), err));
            if (!dead_letters_) {
                spdlog::error("kafka reader: cannot create the dead-letter producer: {}", err);
                return;
            }
        }
        RdKafka::Headers* headers = RdKafka::Headers::create();
        headers->add("source_partition", std::to_string(m.partition()));
        headers->add("source_offset", std::to_string(m.offset()));
        headers->add("error", why);
        const auto err = dead_letters_->produce(dead_letter_topic_of(log_options_), RdKafka::Topic::PARTITION_UA,
                                                RdKafka::Producer::RK_MSG_COPY, m.payload(), m.len(),
                                                m.key_pointer(), m.key_len(), 0, headers, nullptr);
        if (err != RdKafka::ERR_NO_ERROR) {
            delete headers;
            spdlog::error("kafka reader: dead-lettering failed: {}", RdKafka::err2str(err));
        }
        dead_letters_->poll(0);
    }

    void flush_caught_up() {
        auto pending = std::move(pending_caught_up_);
        pending_caught_up_.clear();
        for (auto p : pending)
            if (options_.on_caught_up) options_.on_caught_up(p);
    }

    KafkaLogOptions log_options_;
    std::int32_t partitions_;
    ReaderOptions options_;
    std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
    std::unique_ptr<RdKafka::Producer> dead_letters_;
    std::vector<bool> caught_up_;
    PartitionList owned_;
    PartitionList pending_caught_up_;
    std::map<std::int32_t, LogOffset> pending_seeks_;
    std::vector<LogRecord> batch_;
    bool in_rebalance_ = false;
    bool closing_ = false;
    bool standalone_assigned_ = false;
    std::atomic<bool> woken_{false};
    std::uint64_t dead_lettered_ = 0;
    std::shared_ptr<KafkaEventLog::LagBoard> lag_board_;
    std::vector<std::int64_t> next_offset_;  ///< per partition: Kafka offset of the next record to read (-1 unknown)
    std::set<std::int32_t> published_;       ///< partitions this reader has an entry for on the lag board
};

}  // namespace

// ---- KafkaEventLog ------------------------------------------------------------------------------------------

KafkaEventLog::KafkaEventLog(KafkaLogOptions options, boost::asio::any_io_executor completions)
    : impl_(std::make_shared<Impl>()), lag_board_(std::make_shared<LagBoard>()) {
    impl_->options = std::move(options);
    impl_->completions = std::move(completions);
}

KafkaEventLog::~KafkaEventLog() { stop(); }

void KafkaEventLog::start() {
    // Not under `mutex`: librdkafka serves callbacks (which take it) while metadata requests wait.
    std::lock_guard start_lock(impl_->start_mutex);
    if (impl_->started || impl_->poller.joinable()) return;
    if (impl_->options.brokers.empty()) throw std::runtime_error("no Kafka brokers configured");
    std::string err;
    auto conf = impl_->producer_conf();
    std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), err));
    if (!producer) throw std::runtime_error("cannot create Kafka producer: " + err);
    {
        std::lock_guard lock(impl_->mutex);
        impl_->producer = std::move(producer);
    }
    impl_->prepare_topics();
    if (impl_->partition_count > max_partitions)
        throw std::runtime_error("Kafka topic " + impl_->options.topic + " has " +
                                 std::to_string(impl_->partition_count) + " partitions; at most 1024 are supported");
    if (impl_->partition_count != impl_->options.partitions)
        spdlog::info("kafka log: topic {} has {} partitions (configured {} applies to new topics only)",
                     impl_->options.topic, impl_->partition_count, impl_->options.partitions);
    {
        std::lock_guard lock(impl_->mutex);
        impl_->parts.resize(static_cast<std::size_t>(impl_->partition_count));
        impl_->started = true;
    }
    impl_->poller = std::thread([impl = impl_.get()] { impl->run(); });
}

void KafkaEventLog::stop() {
    {
        std::lock_guard lock(impl_->mutex);
        if (impl_->stopping) return;
        impl_->stopping = true;
    }
    if (impl_->poller.joinable()) {
        // Let unconfirmed appends finish (bounded), then stop polling.
        const auto deadline = Clock::now() + std::min<Clock::duration>(impl_->options.retry_for, stop_drain_bound);
        for (;;) {
            bool idle = true;
            {
                std::lock_guard lock(impl_->mutex);
                for (const auto& part : impl_->parts) idle = idle && part.order.empty();
            }
            if (idle || Clock::now() >= deadline) break;
            std::this_thread::sleep_for(poll_slice);
        }
        impl_->quit = true;
        impl_->poller.join();
    }
    std::vector<std::function<void()>> ready;
    {
        std::lock_guard lock(impl_->mutex);
        for (auto& part : impl_->parts) {
            for (auto& e : part.order) {
                if (e->state == Impl::State::done) continue;
                e->outcome = result<Appended>(make_error_code(errc::shutting_down));
                e->state = Impl::State::done;
            }
            impl_->take_completed(part, ready);
        }
    }
    for (auto& f : ready) f();
    if (impl_->producer) impl_->producer->flush(0);
}

void KafkaEventLog::async_append(EventEnvelope event, AppendHandler done) {
    auto& impl = *impl_;
    std::vector<std::function<void()>> ready;
    {
        std::lock_guard lock(impl.mutex);
        if (!impl.started || impl.stopping) {
            boost::asio::post(impl.completions, [done = std::move(done)] {
                done(boost::system::error_code(errc::shutting_down));
            });
            return;
        }
        if (auto it = impl.recent.find(event.event_uuid); it != impl.recent.end()) {
            auto a = it->second;
            a.duplicate = true;
            boost::asio::post(impl.completions, [done = std::move(done), a] { done(a); });
            return;
        }
        if (auto it = impl.pending_by_uuid.find(event.event_uuid); it != impl.pending_by_uuid.end()) {
            it->second->handlers.push_back(std::move(done));
            return;
        }
        auto e = std::make_shared<Impl::Entry>();
        e->uuid = event.event_uuid;
        e->partition = partition_for_key(event.thread_key.str(), impl.partition_count);
        e->key = event.thread_key.str();
        e->value = encode_envelope(event);
        e->type = event.event_type;
        e->handlers.push_back(std::move(done));
        e->deadline = Clock::now() + impl.options.retry_for;
        auto& part = impl.parts[static_cast<std::size_t>(e->partition)];
        part.order.push_back(e);
        impl.pending_by_uuid.emplace(e->uuid, e);
        ++part.queued;
        if (!part.recovering && part.queued == 1) impl.produce(e, part);  // else the poll thread keeps the order
        impl.take_completed(part, ready);
    }
    for (auto& f : ready) f();
}

std::int32_t KafkaEventLog::partitions() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->partition_count > 0 ? impl_->partition_count : impl_->options.partitions;
}

std::unique_ptr<LogReader> KafkaEventLog::open_reader(ReaderOptions options) {
    return std::make_unique<KafkaLogReader>(impl_->options, partitions(), std::move(options), lag_board_);
}

std::vector<ConsumerLag> KafkaEventLog::consumer_lag() const {
    std::lock_guard lock(lag_board_->mutex);
    std::vector<ConsumerLag> out;
    for (const auto& [key, records] : lag_board_->lag) out.push_back(ConsumerLag{key.first, key.second, records});
    return out;
}

KafkaLogStats KafkaEventLog::stats() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->counters;
}

std::string KafkaEventLog::last_statistics() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->statistics;
}

void KafkaEventLog::inject_fatal_error() {
    std::lock_guard lock(impl_->mutex);
    if (impl_->producer)
        rd_kafka_test_fatal_error(impl_->producer->c_ptr(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                  "injected by a test");
}

}  // namespace centaur::log
