#include <centaur/processors/drain_watcher.hpp>
#include <centaur/processors/session_processor.hpp>
#include <centaur/schemas/ids.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <array>

namespace centaur::processors {
namespace asio = boost::asio;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t member_suffix_hex = 8;

std::string default_member() {
    std::array<char, 256> host{};
    if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
    return std::string(host.data()) + "/" + std::to_string(::getpid()) + "/" +
           EventUuid::random().hex().substr(0, member_suffix_hex);
}

}  // namespace

struct DrainWatcher::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::io_context& io_, DrainBoard& board_, SessionProcessor& processor_, DrainWatcherOptions options_)
        : io(io_), board(board_), processor(processor_), options(std::move(options_)), timer(io_), done(io_) {
        if (options.member.empty()) options.member = default_member();
    }

    asio::io_context& io;
    DrainBoard& board;
    SessionProcessor& processor;
    DrainWatcherOptions options;
    asio::steady_timer timer;
    asio::steady_timer done;  ///< cancelled when the loop has ended
    bool stopping = false;
    bool running = false;

    asio::awaitable<bool> pause() {
        timer.expires_after(options.poll_interval);
        auto [ec] = co_await timer.async_wait(use_tuple);
        (void)ec;  // cancelled by stop(): `stopping` says so
        co_return !stopping;
    }

    asio::awaitable<void> loop() {
        std::int64_t baseline = -1;
        while (!stopping && baseline < 0) {
            auto latest = co_await board.latest();
            if (latest) {
                baseline = *latest;
            } else if (!co_await pause()) {
                break;
            }
        }
        spdlog::info("drain watcher {}: watching drains after {}", options.member, baseline);
        bool board_down = false;
        while (!stopping) {
            auto pending = co_await board.heartbeat(options.member, baseline);
            std::vector<std::int64_t> ids;
            if (pending) {
                ids = std::move(*pending);
                board_down = false;
            } else if (!board_down) {  // once per outage
                board_down = true;
                spdlog::warn("drain watcher: drain board unavailable: {}", pending.error().message());
            }
            for (const auto id : ids) {
                if (stopping) break;
                spdlog::info("drain watcher {}: drain {} requested", options.member, id);
                auto report = co_await processor.drain_sandboxes(id);
                auto filed = co_await board.report(id, options.member, std::move(report));
                if (!filed) spdlog::warn("drain watcher: report of drain {} not filed: {}", id, filed.error().message());
            }
            if (!co_await pause()) break;
        }
        if (baseline >= 0) co_await board.leave(options.member);
        running = false;
        done.cancel();
    }
};

DrainWatcher::DrainWatcher(asio::io_context& io, DrainBoard& board, SessionProcessor& processor,
                           DrainWatcherOptions options)
    : impl_(std::make_shared<Impl>(io, board, processor, std::move(options))) {}

DrainWatcher::~DrainWatcher() = default;

const std::string& DrainWatcher::member() const { return impl_->options.member; }

void DrainWatcher::start() {
    asio::post(impl_->io, [impl = impl_] {
        if (impl->running || impl->stopping) return;
        impl->running = true;
        impl->done.expires_at(asio::steady_timer::time_point::max());
        asio::co_spawn(impl->io, impl->loop(), [impl](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                spdlog::error("drain watcher failed: {}", ex.what());
            }
            impl->running = false;
            impl->done.cancel();
        });
    });
}

asio::awaitable<void> DrainWatcher::stop() {
    auto impl = impl_;
    impl->stopping = true;
    impl->timer.cancel();
    if (impl->running) co_await impl->done.async_wait(use_tuple);
}

}  // namespace centaur::processors
