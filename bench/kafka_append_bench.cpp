// centaur-bench-kafka-append: append throughput and latency of 512-byte events into one Kafka broker, in
// one run, through three producers:
//   ours      the project's EventLog on Kafka (KafkaEventLog), appends awaited through its completion handler;
//   raw       a bare librdkafka producer (idempotent, acks=all, murmur2_random, the same keys, bytes and
//             headers), the baseline;
//   kcat      kcat -P reading the same records from a file (throughput only: one process, no per-record clock).
// Each side writes into a fresh topic of its own (deleted afterwards) so no side reads another's data. Both
// in-process sides first append --warmup events (producer id, connections, metadata) and then, timed, --events;
// they keep at most --window appends in flight; latency is from the append call to its delivery confirmation.
// The sides alternate for --rounds rounds; each side's round with the median throughput is its result.
// Prints one line per side and round, the medians, and
// `RATIO kafka_append ours=<ev/s> baseline=<ev/s> ratio=<ours/raw>` (baseline: the raw librdkafka producer).
// Not a test: `make bench-kafka` runs it on the local broker (scripts/ensure-kafka).

#include <centaur/core/event_log.hpp>
#include <centaur/log/kafka_event_log.hpp>
#include <centaur/schemas/envelope.hpp>
#include <centaur/schemas/ids.hpp>
#include <centaur/schemas/thread_key.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/string.hpp>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace asio = boost::asio;
using namespace centaur;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto drain_bound = std::chrono::seconds(120);
constexpr auto admin_timeout_ms = 30'000;

struct Options {
    std::string brokers;
    std::size_t events = 200'000;
    std::size_t warmup = 1'000;
    std::size_t rounds = 3;
    std::size_t event_bytes = 512;
    std::size_t window = 10'000;
    std::size_t keys = 1'000;
    int partitions = 8;
    bool run_kcat = true;
    std::string kcat = "kcat";
};

/// One measured side. Latencies are empty where the side cannot time single records (kcat).
struct Measurement {
    std::string name;
    std::size_t events = 0;
    std::size_t failed = 0;
    double seconds = 0;
    std::vector<double> latencies_ms;

    double throughput() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
};

double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto rank = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(rank, values.size() - 1)];
}

void print(const Measurement& m) {
    std::printf("%-5s events=%zu failed=%zu seconds=%.3f throughput=%.0f ev/s", m.name.c_str(), m.events, m.failed,
                m.seconds, m.throughput());
    if (m.latencies_ms.empty()) {
        std::printf(" p50=n/a p99=n/a\n");
    } else {
        std::printf(" p50=%.2f ms p99=%.2f ms\n", percentile(m.latencies_ms, 0.50), percentile(m.latencies_ms, 0.99));
    }
    std::fflush(stdout);
}

[[noreturn]] void die(const std::string& line) {
    std::cerr << "centaur-bench-kafka-append: " << line << std::endl;
    std::exit(1);
}

// ---- the workload: the same events for every side ------------------------------------------------------

/// `count` envelopes of `session.output.line` over `o.keys` thread keys (round robin), each encoding to exactly
/// `bytes` bytes of JSON (the payload string is padded to fit).
std::vector<EventEnvelope> make_events(const Options& o, std::size_t count) {
    std::vector<ThreadKey> keys;
    keys.reserve(o.keys);
    for (std::size_t i = 0; i < o.keys; ++i) keys.push_back(ThreadKey::new_cli_key());
    EventEnvelope probe{EventUuid::random(), keys.front(), std::nullopt, "session.output.line",
                        boost::json::string(""), now_micros(), EventSource::processor};
    const auto overhead = encode_envelope(probe).size();
    if (overhead >= o.event_bytes) die("--event-bytes must exceed the empty envelope's " + std::to_string(overhead));
    const std::string padding(o.event_bytes - overhead, 'x');

    std::vector<EventEnvelope> events;
    events.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        events.push_back(EventEnvelope{EventUuid::random(), keys[i % keys.size()], std::nullopt, "session.output.line",
                                       boost::json::string(padding), probe.occurred_at_us, EventSource::processor});
    }
    return events;
}

/// The records as the raw producer and kcat send them: key, encoded envelope.
struct RawRecord {
    std::string key;
    std::string value;
    std::string event_type;
    std::string event_uuid;
};

std::vector<RawRecord> encode_all(const std::vector<EventEnvelope>& events) {
    std::vector<RawRecord> records;
    records.reserve(events.size());
    for (const auto& e : events) records.push_back({e.thread_key.str(), encode_envelope(e), e.event_type, e.event_uuid.hex()});
    return records;
}

// ---- topics ------------------------------------------------------------------------------------------------

std::string unique_topic(const std::string& side) {
    return "centaur-bench-" + side + "-" + std::to_string(::getpid()) + "-" +
           std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1'000'000'000);
}

/// Runs one admin call (create or delete one topic) on a short-lived client; dies on failure.
class Admin {
public:
    explicit Admin(const std::string& brokers) {
        char err[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
            die(err);
        handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (!handle_) die(std::string("admin client: ") + err);
        queue_ = rd_kafka_queue_new(handle_);
    }
    ~Admin() {
        rd_kafka_queue_destroy(queue_);
        rd_kafka_destroy(handle_);
    }
    Admin(const Admin&) = delete;
    Admin& operator=(const Admin&) = delete;

    void create(const std::string& topic, int partitions) {
        char err[512];
        rd_kafka_NewTopic_t* t = rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, err, sizeof err);
        if (!t) die(err);
        run(RD_KAFKA_ADMIN_OP_CREATETOPICS, "create topic " + topic,
            [&](rd_kafka_AdminOptions_t* o) { rd_kafka_CreateTopics(handle_, &t, 1, o, queue_); },
            [](rd_kafka_event_t* e, size_t* n) {
                return rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(e), n);
            });
        rd_kafka_NewTopic_destroy(t);
    }

    void remove(const std::string& topic) {
        rd_kafka_DeleteTopic_t* t = rd_kafka_DeleteTopic_new(topic.c_str());
        run(RD_KAFKA_ADMIN_OP_DELETETOPICS, "delete topic " + topic,
            [&](rd_kafka_AdminOptions_t* o) { rd_kafka_DeleteTopics(handle_, &t, 1, o, queue_); },
            [](rd_kafka_event_t* e, size_t* n) {
                return rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(e), n);
            });
        rd_kafka_DeleteTopic_destroy(t);
    }

private:
    /// Issues one admin request (`issue` with the options) and dies unless it and every topic in it succeeded.
    template <typename Issue, typename Topics>
    void run(rd_kafka_admin_op_t op, const std::string& what, Issue issue, Topics topics_of) {
        char err[512];
        rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(handle_, op);
        rd_kafka_AdminOptions_set_operation_timeout(options, admin_timeout_ms, err, sizeof err);
        issue(options);
        rd_kafka_event_t* ev = rd_kafka_queue_poll(queue_, admin_timeout_ms + 5'000);
        rd_kafka_AdminOptions_destroy(options);
        check(ev, what, topics_of);
    }

    template <typename Topics>
    static void check(rd_kafka_event_t* ev, const std::string& what, Topics topics_of) {
        if (!ev) die(what + ": no answer from the broker");
        if (rd_kafka_event_error(ev)) {
            const std::string why = rd_kafka_event_error_string(ev);
            rd_kafka_event_destroy(ev);
            die(what + ": " + why);
        }
        size_t n = 0;
        const rd_kafka_topic_result_t** results = topics_of(ev, &n);
        for (size_t i = 0; i < n; ++i) {
            if (rd_kafka_topic_result_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                const std::string why = rd_kafka_topic_result_error_string(results[i]);
                rd_kafka_event_destroy(ev);
                die(what + ": " + why);
            }
        }
        rd_kafka_event_destroy(ev);
    }

    rd_kafka_t* handle_ = nullptr;
    rd_kafka_queue_t* queue_ = nullptr;
};

// ---- baseline: raw librdkafka producer -----------------------------------------------------------------------

/// Delivery reports of the raw producer: latency per record, indexed by the record number in msg_opaque.
class RawDeliveries final : public RdKafka::DeliveryReportCb {
public:
    explicit RawDeliveries(std::size_t count) : sent(count), latencies_ms(count, -1) {}

    void dr_cb(RdKafka::Message& message) override {
        const auto index = reinterpret_cast<std::uintptr_t>(message.msg_opaque());
        last = Clock::now();
        --in_flight;
        if (message.err() != RdKafka::ERR_NO_ERROR || message.status() != RdKafka::Message::MSG_STATUS_PERSISTED) {
            ++failed;
            if (failed == 1) std::cerr << "raw: delivery failed: " << message.errstr() << "\n";
            return;
        }
        latencies_ms[index] = std::chrono::duration<double, std::milli>(last - sent[index]).count();
    }

    std::vector<Clock::time_point> sent;
    std::vector<double> latencies_ms;
    Clock::time_point last;
    std::size_t in_flight = 0;
    std::size_t failed = 0;
};

void set(RdKafka::Conf& conf, const std::string& name, const std::string& value) {
    std::string err;
    if (conf.set(name, value, err) != RdKafka::Conf::CONF_OK) die("producer config " + name + ": " + err);
}

/// Produces `warmup` untimed, then every record of `records` timed.
Measurement measure_raw(const Options& o, const std::vector<RawRecord>& warmup, const std::vector<RawRecord>& records,
                        const std::string& topic) {
    RawDeliveries deliveries(records.size());
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    set(*conf, "bootstrap.servers", o.brokers);
    set(*conf, "enable.idempotence", "true");
    set(*conf, "acks", "all");
    set(*conf, "partitioner", "murmur2_random");
    std::string err;
    if (conf->set("dr_cb", &deliveries, err) != RdKafka::Conf::CONF_OK) die(err);
    std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), err));
    if (!producer) die("raw producer: " + err);

    for (const auto& r : warmup) {
        auto code = producer->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                      const_cast<char*>(r.value.data()), r.value.size(), r.key.data(), r.key.size(),
                                      0, reinterpret_cast<void*>(std::uintptr_t{0}));
        if (code != RdKafka::ERR_NO_ERROR) die("raw warm-up produce: " + RdKafka::err2str(code));
        ++deliveries.in_flight;
    }
    if (producer->flush(static_cast<int>(std::chrono::milliseconds(drain_bound).count())) != RdKafka::ERR_NO_ERROR)
        die("raw: warm-up not delivered");
    if (deliveries.failed > 0) die("raw: warm-up delivery failed");

    Measurement m{"raw", records.size()};
    const auto start = Clock::now();
    for (std::size_t i = 0; i < records.size(); ++i) {
        while (deliveries.in_flight >= o.window) producer->poll(1);
        const auto& r = records[i];
        auto* headers = RdKafka::Headers::create();
        headers->add("event_type", r.event_type);
        headers->add("event_uuid", r.event_uuid);
        deliveries.sent[i] = Clock::now();
        for (;;) {
            const auto code = producer->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                                const_cast<char*>(r.value.data()), r.value.size(), r.key.data(),
                                                r.key.size(), 0, headers, reinterpret_cast<void*>(i));
            if (code == RdKafka::ERR_NO_ERROR) break;
            if (code != RdKafka::ERR__QUEUE_FULL) die("raw produce: " + RdKafka::err2str(code));
            producer->poll(1);  // back-pressure: serve delivery reports, then retry
        }
        ++deliveries.in_flight;
        producer->poll(0);
    }
    const auto deadline = Clock::now() + drain_bound;
    while (deliveries.in_flight > 0 && Clock::now() < deadline) producer->poll(10);
    if (deliveries.in_flight > 0) die("raw: " + std::to_string(deliveries.in_flight) + " deliveries still pending");
    m.seconds = std::chrono::duration<double>(deliveries.last - start).count();
    m.failed = deliveries.failed;
    for (double l : deliveries.latencies_ms)
        if (l >= 0) m.latencies_ms.push_back(l);
    return m;
}

// ---- baseline: kcat ------------------------------------------------------------------------------------------

std::optional<Measurement> measure_kcat(const Options& o, const std::vector<RawRecord>& records, const std::string& topic) {
    char path[] = "/tmp/centaur-bench-kcat-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) die("mkstemp failed");
    ::close(fd);
    {
        std::ofstream out(path, std::ios::binary);
        for (const auto& r : records) out << r.key << '\t' << r.value << '\n';
    }
    std::ostringstream cmd;
    cmd << o.kcat << " -b '" << o.brokers << "' -P -t '" << topic << "' -K '\\t'"
        << " -X enable.idempotence=true -X acks=all -X partitioner=murmur2_random < '" << path << "'";
    const auto start = Clock::now();
    const int rc = std::system(cmd.str().c_str());
    const auto seconds = std::chrono::duration<double>(Clock::now() - start).count();
    ::unlink(path);
    if (rc != 0) {
        std::cerr << "kcat: `" << cmd.str() << "` exited with status " << rc << "; skipped\n";
        return std::nullopt;
    }
    return Measurement{"kcat", records.size(), 0, seconds, {}};
}

// ---- ours: the project's EventLog on Kafka ---------------------------------------------------------------

/// The project's KafkaEventLog on `o.brokers`, appending to `topic` (which its `start` creates with
/// `o.partitions` partitions), its append handlers running on `completions`; started. Returns nullptr and says
/// why when it cannot start.
std::unique_ptr<log::KafkaEventLog> make_kafka_event_log(const Options& o, const std::string& topic,
                                                         asio::any_io_executor completions, std::string* why) {
    log::KafkaLogOptions options;
    options.brokers = o.brokers;
    options.topic = topic;
    options.partitions = o.partitions;
    auto kafka = std::make_unique<log::KafkaEventLog>(std::move(options), std::move(completions));
    try {
        kafka->start();
    } catch (const std::exception& e) {
        *why = std::string("KafkaEventLog did not start: ") + e.what();
        return nullptr;
    }
    return kafka;
}

/// Appends every event through `log.async_append`, at most `window` in flight, from this thread (so per-key
/// order is call order); handlers run on the io_context thread (already running). Blocks until all completed.
Measurement append_all(EventLog& log, std::vector<EventEnvelope> events, std::size_t window) {
    Measurement m{"ours", events.size()};
    std::vector<Clock::time_point> sent(events.size());
    std::vector<double> latencies(events.size(), -1);
    std::mutex mutex;
    std::condition_variable changed;
    std::size_t in_flight = 0;
    std::size_t failed = 0;
    Clock::time_point last;
    std::string first_error;

    const auto start = Clock::now();
    for (std::size_t i = 0; i < events.size(); ++i) {
        {
            std::unique_lock lock(mutex);
            changed.wait(lock, [&] { return in_flight < window; });
            ++in_flight;
        }
        sent[i] = Clock::now();
        log.async_append(std::move(events[i]), [&, i](result<Appended> r) {
            const auto now = Clock::now();
            std::lock_guard lock(mutex);
            --in_flight;
            last = now;
            if (r) {
                latencies[i] = std::chrono::duration<double, std::milli>(now - sent[i]).count();
            } else if (failed++ == 0) {
                first_error = r.error().message();
            }
            changed.notify_all();
        });
    }
    {
        std::unique_lock lock(mutex);
        if (!changed.wait_for(lock, drain_bound, [&] { return in_flight == 0; }))
            die("ours: " + std::to_string(in_flight) + " appends still pending");
    }
    if (failed > 0) std::cerr << "ours: " << failed << " appends failed, first: " << first_error << "\n";
    m.seconds = std::chrono::duration<double>(last - start).count();
    m.failed = failed;
    for (double l : latencies)
        if (l >= 0) m.latencies_ms.push_back(l);
    return m;
}

/// One round of ours on a fresh topic: nullopt (with `why`) when KafkaEventLog does not start.
std::optional<Measurement> measure_ours(const Options& o, const std::vector<EventEnvelope>& warmup,
                                        const std::vector<EventEnvelope>& events, Admin& admin, std::string* why) {
    asio::io_context completions;
    auto work = asio::make_work_guard(completions);
    std::thread runner([&completions] { completions.run(); });
    const auto topic = unique_topic("ours");
    std::optional<Measurement> m;
    if (auto log = make_kafka_event_log(o, topic, completions.get_executor(), why)) {
        if (append_all(*log, warmup, o.window).failed > 0) die("ours: warm-up appends failed");
        m = append_all(*log, events, o.window);
        const auto stats = log->stats();
        std::printf("ours  stats: persisted=%llu queue_full=%llu reproduced=%llu possibly_persisted=%llu "
                    "producer_recreated=%llu\n",
                    static_cast<unsigned long long>(stats.persisted), static_cast<unsigned long long>(stats.queue_full),
                    static_cast<unsigned long long>(stats.reproduced),
                    static_cast<unsigned long long>(stats.possibly_persisted),
                    static_cast<unsigned long long>(stats.producer_recreated));
        log->stop();
        log.reset();
        admin.remove(topic);
        admin.remove(topic + ".dead-letter");  // KafkaEventLog's start creates it beside the log
    }
    work.reset();
    completions.stop();
    runner.join();
    return m;
}

// ---- command line --------------------------------------------------------------------------------------------

constexpr auto usage = R"(usage: centaur-bench-kafka-append [--brokers HOST:PORT] [--events N] [--event-bytes N]
                                   [--warmup N] [--rounds N] [--window N] [--keys N] [--partitions N]
                                   [--no-kcat] [--kcat PATH]
  --brokers      bootstrap servers (default: $CENTAUR_KAFKA_BROKERS; `make bench-kafka` passes the local broker)
  --events       timed events per side and round (200000)   --event-bytes  encoded envelope size (512)
  --warmup       untimed events first (1000)                --rounds       rounds, median reported (3)
  --window       appends in flight per side (10000)         --keys         distinct thread keys (1000)
  --partitions   partitions of each bench topic (8)         --no-kcat      skip the kcat baseline
)";

std::size_t parse_count(const std::string& flag, const char* value) {
    char* end = nullptr;
    const auto v = std::strtoull(value, &end, 10);
    if (!end || *end != '\0' || v == 0) die(flag + " needs a positive integer, got '" + value + "'");
    return static_cast<std::size_t>(v);
}

Options parse(int argc, char** argv) {
    Options o;
    if (const char* env = std::getenv("CENTAUR_KAFKA_BROKERS")) o.brokers = env;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::cout << usage;
            std::exit(0);
        }
        if (flag == "--no-kcat") {
            o.run_kcat = false;
            continue;
        }
        if (i + 1 >= argc) die(flag + " needs a value\n" + usage);
        const char* value = argv[++i];
        if (flag == "--brokers") o.brokers = value;
        else if (flag == "--events") o.events = parse_count(flag, value);
        else if (flag == "--event-bytes") o.event_bytes = parse_count(flag, value);
        else if (flag == "--warmup") o.warmup = parse_count(flag, value);
        else if (flag == "--rounds") o.rounds = parse_count(flag, value);
        else if (flag == "--window") o.window = parse_count(flag, value);
        else if (flag == "--keys") o.keys = parse_count(flag, value);
        else if (flag == "--partitions") o.partitions = static_cast<int>(parse_count(flag, value));
        else if (flag == "--kcat") o.kcat = value;
        else die("unknown flag " + flag + "\n" + usage);
    }
    if (o.brokers.empty()) die("no broker: pass --brokers or set CENTAUR_KAFKA_BROKERS");
    return o;
}

/// The round with the median throughput (rounds sorted by throughput, the middle one).
Measurement median(std::vector<Measurement> rounds) {
    std::sort(rounds.begin(), rounds.end(), [](const auto& a, const auto& b) { return a.throughput() < b.throughput(); });
    auto m = rounds[rounds.size() / 2];
    m.name += "*";
    return m;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    std::printf("kafka_append: brokers=%s events=%zu warmup=%zu rounds=%zu event_bytes=%zu window=%zu keys=%zu "
                "partitions=%d\n",
                o.brokers.c_str(), o.events, o.warmup, o.rounds, o.event_bytes, o.window, o.keys, o.partitions);
    const auto warmup = make_events(o, o.warmup);
    const auto events = make_events(o, o.events);
    const auto raw_warmup = encode_all(warmup);
    const auto records = encode_all(events);
    Admin admin(o.brokers);

    std::vector<Measurement> ours, raw, kcat;
    std::string ours_missing;
    for (std::size_t round = 1; round <= o.rounds; ++round) {
        std::printf("round %zu\n", round);
        // Ours first in every round, so the baselines never leave it a colder broker than they had.
        if (ours_missing.empty()) {
            if (auto m = measure_ours(o, warmup, events, admin, &ours_missing)) {
                print(*m);
                ours.push_back(std::move(*m));
            } else {
                std::printf("ours  not measured: %s\n", ours_missing.c_str());
            }
        }
        const auto raw_topic = unique_topic("raw");
        admin.create(raw_topic, o.partitions);
        raw.push_back(measure_raw(o, raw_warmup, records, raw_topic));
        admin.remove(raw_topic);
        print(raw.back());
        if (o.run_kcat) {
            const auto kcat_topic = unique_topic("kcat");
            admin.create(kcat_topic, o.partitions);
            if (auto m = measure_kcat(o, records, kcat_topic)) {
                print(*m);
                kcat.push_back(std::move(*m));
            }
            admin.remove(kcat_topic);
        }
    }

    std::printf("median of %zu rounds\n", o.rounds);
    const auto raw_median = median(raw);
    if (!ours.empty()) print(median(ours));
    print(raw_median);
    if (!kcat.empty()) print(median(kcat));
    if (ours.empty()) {
        std::printf("RATIO kafka_append not computed: no KafkaEventLog measurement\n");
        return 3;
    }
    const auto ours_median = median(ours);
    std::printf("RATIO kafka_append ours=%.0f baseline=%.0f ratio=%.3f\n", ours_median.throughput(),
                raw_median.throughput(), raw_median.throughput() > 0 ? ours_median.throughput() / raw_median.throughput() : 0.0);
    bool clean = true;
    for (const auto* side : {&ours, &raw})
        for (const auto& m : *side) clean = clean && m.failed == 0;
    return clean ? 0 : 1;
}
