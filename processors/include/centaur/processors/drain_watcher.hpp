#pragma once
// The processor's end of the drain channel: polls the DrainBoard for drains this member has not reported,
// drains the processor's sandboxes for each and files the report. Every processor process runs one, so a drain
// requested at any API process reaches the sandboxes of every processor.

#include <centaur/core/drain_board.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace centaur::processors {

class SessionProcessor;

struct DrainWatcherOptions {
    /// One heartbeat and one look for new drains per interval; the API's liveness window must be several of
    /// them.
    std::chrono::milliseconds poll_interval{500};
    /// This member's name on the board; empty = "<hostname>/<pid>/<8 random hex>".
    std::string member;
};

/// Owned by the app next to the processor, both on one io_context. Lifecycle: construct, `start()` (after the
/// schema is migrated; any thread), `co_await stop()` on the io_context before the processor stops (leaves the
/// board, so drains recorded afterwards do not wait for this member). Drains recorded before `start()` are not
/// applied (this member's sandboxes are all newer). A board failure is logged and retried on the next poll.
class DrainWatcher {
public:
    DrainWatcher(boost::asio::io_context& io, DrainBoard& board, SessionProcessor& processor,
                 DrainWatcherOptions options = {});
    ~DrainWatcher();
    DrainWatcher(const DrainWatcher&) = delete;
    DrainWatcher& operator=(const DrainWatcher&) = delete;

    void start();
    boost::asio::awaitable<void> stop();
    const std::string& member() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace centaur::processors
