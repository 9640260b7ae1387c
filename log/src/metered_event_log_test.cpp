#include <centaur/log/log_probe.hpp>
#include <centaur/log/memory_event_log.hpp>
#include <centaur/log/metered_event_log.hpp>
#include <centaur/schemas/event_types.hpp>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <string>

namespace centaur::log {
namespace {

constexpr auto completion_deadline = std::chrono::seconds(10);

class MeteredEventLogTest : public ::testing::Test {
protected:
    /// Appends one event and runs the io_context until its completion ran (bounded).
    void append(const std::string& type, EventSource source, EventUuid uuid = EventUuid::random()) {
        EventEnvelope e{uuid, key_, std::nullopt, type, boost::json::object{}, now_micros(), source};
        bool done = false;
        metered_.async_append(std::move(e), [&](result<Appended> r) {
            EXPECT_TRUE(r.has_value());
            done = true;
        });
        io_.restart();
        const auto deadline = std::chrono::steady_clock::now() + completion_deadline;
        while (!done && std::chrono::steady_clock::now() < deadline) io_.run_one_for(std::chrono::milliseconds(100));
        ASSERT_TRUE(done) << "append did not complete within the deadline";
    }

    double appended(const std::string& type, const std::string& source) {
        return probe_.events_appended.Add({{"event_type", type}, {"source", source}}).Value();
    }

    std::size_t series_of(const std::string& family) {
        for (const auto& f : registry_.Collect())
            if (f.name == family) return f.metric.size();
        return 0;
    }

    boost::asio::io_context io_;
    prometheus::Registry registry_;
    LogProbe probe_{registry_};
    InMemoryEventLog inner_{4, io_.get_executor()};
    MeteredEventLog metered_{inner_, probe_};
    ThreadKey key_ = ThreadKey::new_cli_key();
};

TEST_F(MeteredEventLogTest, CountsDurableAppendsByTypeAndSourceOnce) {
    for (int i = 0; i < 3; ++i) append(std::string(event_type::message_appended), EventSource::ingest);
    const auto uuid = EventUuid::random();
    append(std::string(event_type::execution_completed), EventSource::processor, uuid);
    append(std::string(event_type::execution_completed), EventSource::processor, uuid);  // duplicate

    EXPECT_EQ(appended(std::string(event_type::message_appended), "ingest"), 3);
    EXPECT_EQ(appended(std::string(event_type::execution_completed), "processor"), 1);
    EXPECT_EQ(probe_.duplicates_dropped.Value(), 1);
    const auto histogram = probe_.append_seconds.Add({{"source", "ingest"}}, std::vector<double>{1}).Collect();
    EXPECT_EQ(histogram.histogram.sample_count, 3u);
}

TEST_F(MeteredEventLogTest, UnknownEventTypesShareTheOtherSeries) {
    constexpr int unknown_types = 300;
    for (int i = 0; i < unknown_types; ++i) append("client.custom_" + std::to_string(i), EventSource::ingest);

    EXPECT_EQ(appended("other", "ingest"), unknown_types);
    EXPECT_EQ(series_of("centaur_log_events_appended_total"), 1u);
}

TEST_F(MeteredEventLogTest, ProbeCountsEveryLabelSetBeyondItsCacheCapacity) {
    constexpr int types = 2 * LabelCache<int, 1>::default_capacity;
    for (int round = 0; round < 2; ++round)
        for (int i = 0; i < types; ++i) probe_.appended("type_" + std::to_string(i), EventSource::processor, 0.001);

    for (int i = 0; i < types; i += 97) EXPECT_EQ(appended("type_" + std::to_string(i), "processor"), 2) << i;
    EXPECT_EQ(appended("type_" + std::to_string(types - 1), "processor"), 2);
    EXPECT_EQ(series_of("centaur_log_events_appended_total"), static_cast<std::size_t>(types));
}

}  // namespace
}  // namespace centaur::log
