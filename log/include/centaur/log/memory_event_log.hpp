#pragma once
// The in-memory event log: the EventLog fake for unit tests (no durability; same contract otherwise).

#include <centaur/core/event_log.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace centaur::log {

/// Partitions are vectors; offsets are 1-based per partition; `event_id` is a global append counter (ids
/// increase per thread, as the contract needs). Re-appending a uuid returns the original position as
/// `duplicate`. Consumer groups split partitions among the live readers of a group (member i of n owns
/// p % n == i, in join order) and keep stored offsets. Thread-safe; handlers run on `completions`.
/// Lifecycle: construct, use, destroy after every reader it opened.
class InMemoryEventLog final : public EventLog {
public:
    InMemoryEventLog(std::int32_t partitions, boost::asio::any_io_executor completions);
    ~InMemoryEventLog() override;

    void async_append(EventEnvelope event, AppendHandler done) override;
    std::int32_t partitions() const override;
    std::unique_ptr<LogReader> open_reader(ReaderOptions options = {}) override;
    /// Appends raw text that is not an envelope (bad-record tests). Returns its position.
    LogPosition append_raw(std::int32_t partition, std::string text);

    struct State;

private:
    std::shared_ptr<State> state_;
    boost::asio::any_io_executor completions_;
};

}  // namespace centaur::log
