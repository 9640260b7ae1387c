#pragma once
// Handing work from a blocking reader thread to the io_context that owns a consumer's state (processor, Slack
// reply streamer): the reader runs `f` there and waits for it, so it never runs ahead of what was handled.

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace centaur {

/// Runs `f` on `io` and blocks the calling (non-io) thread until it ran, or until `stopping` is set (then `f`
/// may still run later: it must own what it touches). Checks `stopping` every `check`.
template <typename F>
void run_on_io_and_wait(boost::asio::io_context& io, const std::atomic<bool>& stopping, F f,
                        std::chrono::milliseconds check = std::chrono::milliseconds(100)) {
    auto done = std::make_shared<std::pair<std::mutex, std::condition_variable>>();
    auto finished = std::make_shared<bool>(false);
    boost::asio::post(io, [f = std::move(f), done, finished]() mutable {
        f();
        std::lock_guard lock(done->first);
        *finished = true;
        done->second.notify_one();
    });
    std::unique_lock lock(done->first);
    while (!*finished && !stopping) done->second.wait_for(lock, check);
}

}  // namespace centaur
