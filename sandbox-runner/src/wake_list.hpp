#pragma once
// A condition for coroutines on one io_context thread: waiters sleep until notify() or their timeout.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <memory>
#include <set>

namespace centaur::sandbox {

/// Waiters re-check their condition after every wake (notify, timeout, spurious). Not thread-safe: the
/// owner's io_context thread only. Must outlive its waiters (keep it in the shared state they hold).
class WakeList {
public:
    boost::asio::awaitable<void> wait(boost::asio::any_io_executor executor, std::chrono::milliseconds timeout) {
        auto timer = std::make_shared<boost::asio::steady_timer>(executor);
        timer->expires_after(timeout);
        timers_.insert(timer.get());
        constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
        auto [ec] = co_await timer->async_wait(use_tuple);
        (void)ec;
        timers_.erase(timer.get());
    }

    void notify() {
        for (auto* timer : timers_) timer->cancel();
    }

private:
    std::set<boost::asio::steady_timer*> timers_;
};

}  // namespace centaur::sandbox
