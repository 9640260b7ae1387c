// KafkaEventLog beyond the contract: partitioning agrees with murmur2_random, a fatal producer error is
// survived, QUEUE_FULL is back-pressure, and a broker outage mid-stream (librdkafka's mock cluster: the broker
// goes down and comes back) fails deliveries that are produced again in order, with nothing lost or doubled.
// The real-broker cases need CENTAUR_TEST_KAFKA_BROKERS (make test starts a local broker); unset, they fail.
// The broker-restart case runs its own private broker (scripts/ensure-kafka in a directory of the build tree),
// so restarting it disturbs no other test.

#include <centaur/log/kafka_event_log.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/partitioner.hpp>
#include <centaur/test_support/test_support.hpp>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

namespace centaur::log {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

EventEnvelope make_event(const std::string& key, int n) {
    return EventEnvelope{EventUuid::random(), *ThreadKey::parse(key), std::nullopt, std::string(event_type::output_line),
                         boost::json::value("line " + std::to_string(n)), now_micros(), EventSource::processor};
}

std::string brokers() {
    const char* b = std::getenv("CENTAUR_TEST_KAFKA_BROKERS");
    if (!b || !*b) throw std::runtime_error("CENTAUR_TEST_KAFKA_BROKERS is unset: run through `make test`");
    return b;
}

std::string fresh_topic() { return "kafka-log-" + EventUuid::random().hex().substr(0, 12); }

/// Options for a fresh topic of `partitions` on the test broker.
KafkaLogOptions test_broker_options(std::int32_t partitions) {
    KafkaLogOptions o;
    o.brokers = brokers();
    o.topic = fresh_topic();
    o.partitions = partitions;
    return o;
}

class KafkaEventLogTest : public ::testing::Test {
protected:
    /// Appends in order from this thread; runs the io_context until every append completed (bounded).
    std::vector<result<Appended>> append_all(KafkaEventLog& log, const std::vector<EventEnvelope>& events,
                                             std::function<void(std::size_t)> after_each = {}) {
        std::vector<result<Appended>> out(events.size(), boost::system::error_code(errc::timed_out));
        std::size_t done = 0;
        for (std::size_t i = 0; i < events.size(); ++i) {
            log.async_append(events[i], [&, i](result<Appended> r) {
                out[i] = std::move(r);
                ++done;
            });
            if (after_each) after_each(i);
        }
        const auto deadline = Clock::now() + 60s;
        while (done < out.size() && Clock::now() < deadline) {
            io_.restart();
            io_.run_for(5ms);
        }
        EXPECT_EQ(done, out.size());
        return out;
    }

    /// Reads the whole topic; checks every event appears exactly once and each key's events in append order.
    /// With `first_copies`, a later copy of an event is tolerated (a fatal producer error re-produces what was
    /// unconfirmed; consumers drop copies by uuid) and the first copies must be exactly the events, in order.
    void expect_exactly_once_in_order(KafkaEventLog& log, const std::vector<EventEnvelope>& events,
                                      bool first_copies = false) {
        auto reader = log.open_reader();
        std::vector<LogRecord> all;
        const auto deadline = Clock::now() + 30s;
        while (all.size() < events.size() && Clock::now() < deadline) {
            auto batch = reader->poll(100ms, 1000);
            if (batch) all.insert(all.end(), batch->begin(), batch->end());
        }
        if (first_copies) {
            for (auto batch = reader->poll(300ms, 1000); batch && !batch->empty(); batch = reader->poll(300ms, 1000))
                all.insert(all.end(), batch->begin(), batch->end());
        } else {
            EXPECT_TRUE(reader->poll(300ms, 10)->empty()) << "no extra records";
        }
        std::map<std::string, std::vector<std::string>> want, got;
        std::set<EventUuid> seen;
        for (const auto& e : events) want[e.thread_key.str()].push_back(e.event_uuid.hex());
        for (const auto& r : all)
            if (seen.insert(r.envelope.event_uuid).second || !first_copies)
                got[r.envelope.thread_key.str()].push_back(r.envelope.event_uuid.hex());
        EXPECT_EQ(got, want);
    }

    boost::asio::io_context io_;
};

/// Delivery reports of a raw producer: which partition each keyed record went to.
class PartitionRecorder : public RdKafka::DeliveryReportCb {
public:
    void dr_cb(RdKafka::Message& m) override {
        if (m.err() == RdKafka::ERR_NO_ERROR) partitions[*m.key()] = m.partition();
    }
    std::map<std::string, std::int32_t> partitions;
};

TEST_F(KafkaEventLogTest, ThreadPartitionAgreesWithMurmur2RandomProducers) {
    auto o = test_broker_options(6);
    KafkaEventLog log(o, io_.get_executor());
    log.start();
    ASSERT_EQ(log.partitions(), 6);
    std::vector<EventEnvelope> events;
    for (int i = 0; i < 60; ++i) events.push_back(make_event("slack:C" + std::to_string(i) + ":17000000" + std::to_string(i), i));
    auto results = append_all(log, events);

    // Another client (as kcat -X partitioner=murmur2_random or a Java producer) lets the partitioner choose.
    PartitionRecorder recorder;
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    conf->set("bootstrap.servers", o.brokers, err);
    conf->set("partitioner", "murmur2_random", err);
    conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&recorder), err);
    std::unique_ptr<RdKafka::Producer> raw(RdKafka::Producer::create(conf.get(), err));
    for (const auto& e : events) {
        const auto& key = e.thread_key.str();
        ASSERT_EQ(raw->produce(o.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                               const_cast<char*>("x"), 1, key.data(), key.size(), 0, nullptr),
                  RdKafka::ERR_NO_ERROR);
    }
    ASSERT_EQ(raw->flush(20'000), RdKafka::ERR_NO_ERROR);
    std::set<std::int32_t> used;
    for (std::size_t i = 0; i < events.size(); ++i) {
        ASSERT_TRUE(results[i].has_value());
        const auto& key = events[i].thread_key.str();
        EXPECT_EQ(results[i]->position.partition, partition_for_key(key, 6)) << key;
        EXPECT_EQ(recorder.partitions.at(key), results[i]->position.partition) << key;
        EXPECT_EQ(results[i]->event_id, KafkaEventLog::event_id_of(results[i]->position.partition,
                                                                   results[i]->position.offset));
        used.insert(results[i]->position.partition);
    }
    EXPECT_EQ(used.size(), 6u) << "sixty keys spread over every partition";
}

TEST_F(KafkaEventLogTest, FatalProducerErrorRecreatesTheProducerAndLosesNothing) {
    auto o = test_broker_options(3);
    KafkaEventLog log(o, io_.get_executor());
    log.start();
    std::vector<EventEnvelope> events;
    for (int i = 0; i < 300; ++i) events.push_back(make_event("fatal:" + std::to_string(i % 5), i));
    auto results = append_all(log, events, [&](std::size_t i) {
        if (i == 150) log.inject_fatal_error();
    });
    for (std::size_t i = 0; i < results.size(); ++i) ASSERT_TRUE(results[i].has_value()) << i << results[i].error().message();
    EXPECT_GE(log.stats().producer_recreated, 1u);
    expect_exactly_once_in_order(log, events, true);
}

TEST_F(KafkaEventLogTest, QueueFullIsBackPressureNotAnError) {
    auto o = test_broker_options(2);
    o.rdkafka["queue.buffering.max.messages"] = "4";
    KafkaEventLog log(o, io_.get_executor());
    log.start();
    std::vector<EventEnvelope> events;
    for (int i = 0; i < 400; ++i) events.push_back(make_event("queue:" + std::to_string(i % 7), i));
    auto results = append_all(log, events);
    for (std::size_t i = 0; i < results.size(); ++i) ASSERT_TRUE(results[i].has_value()) << i;
    EXPECT_GT(log.stats().queue_full, 0u) << "the local queue filled up";
    expect_exactly_once_in_order(log, events);
}

TEST_F(KafkaEventLogTest, BadRecordGoesToTheDeadLetterTopicWithItsPosition) {
    auto o = test_broker_options(1);
    KafkaEventLog log(o, io_.get_executor());
    log.start();
    for (const auto& r : append_all(log, {make_event("dead:letter", 1)})) ASSERT_TRUE(r.has_value());
    {
        std::string err;
        std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
        conf->set("bootstrap.servers", o.brokers, err);
        std::unique_ptr<RdKafka::Producer> raw(RdKafka::Producer::create(conf.get(), err));
        std::string garbage = "{not an envelope";
        ASSERT_EQ(raw->produce(o.topic, 0, RdKafka::Producer::RK_MSG_COPY, garbage.data(), garbage.size(), nullptr, 0,
                               0, nullptr),
                  RdKafka::ERR_NO_ERROR);
        ASSERT_EQ(raw->flush(10'000), RdKafka::ERR_NO_ERROR);
    }
    for (const auto& r : append_all(log, {make_event("dead:letter", 2)})) ASSERT_TRUE(r.has_value());
    {
        auto reader = log.open_reader();
        std::vector<LogRecord> all;
        const auto deadline = Clock::now() + 20s;
        while (all.size() < 2 && Clock::now() < deadline) {
            auto batch = reader->poll(100ms, 100);
            if (batch) all.insert(all.end(), batch->begin(), batch->end());
        }
        ASSERT_EQ(all.size(), 2u) << "the partition keeps flowing past the bad record";
    }  // the reader flushes its dead-letter producer when it closes
    test_support::ChildProcess kcat({"kcat", "-C", "-b", o.brokers, "-t", o.topic + ".dead-letter", "-e", "-q", "-f",
                                     "%h\t%s\n"});
    ASSERT_EQ(kcat.wait_for_exit(30s), std::optional<int>(0)) << kcat.stderr_text();
    const auto out = kcat.stdout_text();
    EXPECT_NE(out.find("source_partition=0,source_offset=1,error=envelope is not JSON"), std::string::npos) << out;
    EXPECT_NE(out.find("\t{not an envelope"), std::string::npos) << out;
}

/// librdkafka's in-process mock cluster (one broker) with the log's topics.
class MockCluster {
public:
    MockCluster() {
        char err[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        cluster_ = rd_kafka_mock_cluster_new(handle_, 1);
    }
    ~MockCluster() {
        rd_kafka_mock_cluster_destroy(cluster_);
        rd_kafka_destroy(handle_);
    }
    std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
    void create_topic(const std::string& name, int partitions) {
        rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1);
    }
    void set_down() { rd_kafka_mock_broker_set_down(cluster_, 1); }
    void set_up() { rd_kafka_mock_broker_set_up(cluster_, 1); }

private:
    rd_kafka_t* handle_ = nullptr;
    rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

TEST_F(KafkaEventLogTest, BrokerOutageMidStreamReProducesInOrderWithNothingLostOrDoubled) {
    MockCluster cluster;
    KafkaLogOptions o;
    o.brokers = cluster.bootstraps();
    o.topic = "outage";
    o.partitions = 2;
    o.retry_for = 30s;
    o.rdkafka["message.timeout.ms"] = "1000";  // deliveries fail fast while the broker is down
    o.rdkafka["reconnect.backoff.max.ms"] = "200";
    cluster.create_topic(o.topic, 2);
    cluster.create_topic(o.topic + ".dead-letter", 1);
    KafkaEventLog log(o, io_.get_executor());
    log.start();

    std::vector<EventEnvelope> before, during;
    for (int i = 0; i < 50; ++i) before.push_back(make_event("outage:" + std::to_string(i % 4), i));
    for (int i = 50; i < 150; ++i) during.push_back(make_event("outage:" + std::to_string(i % 4), i));
    for (const auto& r : append_all(log, before)) ASSERT_TRUE(r.has_value());

    cluster.set_down();
    std::thread revive([&] {
        std::this_thread::sleep_for(3s);  // longer than message.timeout.ms: deliveries fail meanwhile
        cluster.set_up();
    });
    const auto started = Clock::now();
    auto results = append_all(log, during);
    revive.join();
    EXPECT_GT(Clock::now() - started, 2s) << "the appends waited for the broker";
    for (std::size_t i = 0; i < results.size(); ++i)
        ASSERT_TRUE(results[i].has_value()) << i << ": " << results[i].error().message();
    EXPECT_GT(log.stats().reproduced, 0u) << "failed deliveries were produced again";
    std::vector<EventEnvelope> all(before);
    all.insert(all.end(), during.begin(), during.end());
    expect_exactly_once_in_order(log, all);
    // Completion order follows append order per partition.
    std::map<std::int32_t, LogOffset> last;
    for (const auto& r : results) {
        auto& l = last[r->position.partition];
        EXPECT_LT(l, r->position.offset);
        l = r->position.offset;
    }
}

TEST_F(KafkaEventLogTest, AppendAfterStopFailsInsteadOfHanging) {
    MockCluster cluster;
    KafkaLogOptions o;
    o.brokers = cluster.bootstraps();
    o.topic = "stopped";
    o.partitions = 1;
    cluster.create_topic(o.topic, 1);
    cluster.create_topic(o.topic + ".dead-letter", 1);
    KafkaEventLog log(o, io_.get_executor());
    log.start();
    log.stop();
    auto r = append_all(log, {make_event("stop:a", 1)});
    ASSERT_FALSE(r[0].has_value());
    EXPECT_EQ(r[0].error(), make_error_code(errc::shutting_down));
}

/// A private broker for fault tests: scripts/ensure-kafka in its own directory under the build tree.
class PrivateBroker {
public:
    PrivateBroker() : dir_(std::filesystem::path(test_support::env_or("CENTAUR_BIN_DIR", ".")) / ".." / "kafka-fault-broker") {
        address_ = run({test_support::source_path("scripts/ensure-kafka")});
        if (address_.empty()) throw std::runtime_error("scripts/ensure-kafka did not start a private broker");
    }
    ~PrivateBroker() { run({test_support::source_path("scripts/stop-kafka")}); }
    const std::string& address() const { return address_; }
    /// Stops the broker (controlled shutdown) and starts it again on the same port and data.
    void restart() { run({test_support::source_path("scripts/ensure-kafka"), "--restart"}); }

private:
    std::string run(std::vector<std::string> argv) {
        test_support::ChildProcess p(std::move(argv), {{"CENTAUR_KAFKA_DIR", dir_.string()}, {"CENTAUR_KAFKA_BROKERS", ""}});
        const auto code = p.wait_for_exit(std::chrono::minutes(5));
        if (code != std::optional<int>(0))
            throw std::runtime_error("broker script failed: " + p.stderr_text());
        auto out = p.stdout_text();
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
        return out;
    }
    std::filesystem::path dir_;
    std::string address_;
};

TEST_F(KafkaEventLogTest, BrokerRestartMidStreamLosesNothingAndKeepsOrder) {
    PrivateBroker broker;
    KafkaLogOptions o;
    o.brokers = broker.address();
    o.topic = fresh_topic();
    o.partitions = 2;
    o.retry_for = 90s;
    o.rdkafka["reconnect.backoff.max.ms"] = "500";
    KafkaEventLog log(o, io_.get_executor());
    log.start();

    std::vector<EventEnvelope> events;
    for (int i = 0; i < 300; ++i) events.push_back(make_event("restart:" + std::to_string(i % 6), i));
    std::vector<EventEnvelope> head(events.begin(), events.begin() + 100), tail(events.begin() + 100, events.end());
    for (const auto& r : append_all(log, head)) ASSERT_TRUE(r.has_value());

    // The rest is appended, a few at a time, while the broker restarts.
    std::atomic<bool> restarted{false};
    std::thread restarter([&] {
        broker.restart();
        restarted = true;
    });
    std::vector<result<Appended>> results;
    for (std::size_t i = 0; i < tail.size(); i += 10) {
        std::vector<EventEnvelope> slice(tail.begin() + static_cast<std::ptrdiff_t>(i),
                                         tail.begin() + static_cast<std::ptrdiff_t>(std::min(i + 10, tail.size())));
        for (auto& r : append_all(log, slice)) results.push_back(std::move(r));
        if (!restarted) std::this_thread::sleep_for(100ms);
    }
    restarter.join();
    for (std::size_t i = 0; i < results.size(); ++i)
        ASSERT_TRUE(results[i].has_value()) << i << ": " << results[i].error().message();
    // A record in flight when the broker went down may be reported POSSIBLY_PERSISTED and produced again:
    // then a later copy can exist, and the first copies must still be every event, in order.
    expect_exactly_once_in_order(log, events, log.stats().possibly_persisted > 0);
}

}  // namespace
}  // namespace centaur::log
