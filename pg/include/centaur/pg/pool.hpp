#pragma once
// Postgres connections on worker threads, so libpqxx's blocking calls never run on an io_context thread.
// Only adapter areas (log/, projections/) use this header: pqxx types stay behind their ports.

#include <centaur/core/result.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <pqxx/connection>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace centaur::pg {

/// Opens a connection to `url`; throws pqxx::broken_connection with libpq's reason on failure.
std::unique_ptr<pqxx::connection> connect(const std::string& url);

/// Usage of a Pool at one instant (metrics).
struct PoolStats {
    std::size_t size = 0;       ///< worker threads, one connection each
    std::size_t in_use = 0;     ///< workers running a job
    std::size_t queued = 0;     ///< jobs waiting for a worker
    std::uint64_t waits = 0;    ///< jobs since start that found every worker busy and had to queue
};

/// A fixed set of worker threads, each owning one connection (opened lazily, re-opened after a failure).
/// Lifecycle: construct, use, `stop()` (idempotent; also run by the destructor) joins the workers after the
/// queued jobs ran. Thread-safe.
class Pool {
public:
    /// `prepare` runs on every new connection (to register prepared statements).
    Pool(std::string url, std::size_t size, std::function<void(pqxx::connection&)> prepare = {});
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    void stop();
    /// Thread-safe.
    PoolStats stats() const;

    /// Runs `job(connection)` on a worker. An exception from the job (or a failed connect) becomes
    /// errc::store_unavailable, logged with its message; the connection is then re-opened for the next job.
    /// Not a coroutine on purpose: GCC 12 mis-destroys temporaries passed by value to coroutines.
    template <typename R>
    boost::asio::awaitable<result<R>> run(std::function<R(pqxx::connection&)> job) {
        return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(result<R>)>(
            [this](auto handler, std::function<R(pqxx::connection&)> j) {
                // A tracked executor keeps the io_context running until the result is delivered.
                auto ex = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                              boost::asio::execution::outstanding_work.tracked);
                auto shared = std::make_shared<decltype(handler)>(std::move(handler));
                submit([j = std::move(j), shared, ex](pqxx::connection* conn, const std::string* error) mutable {
                    result<R> out{boost::system::in_place_error, make_error_code(errc::store_unavailable)};
                    bool healthy = conn != nullptr;
                    if (conn) {
                        try {
                            out = j(*conn);
                        } catch (const std::exception& e) {
                            log_failure(e.what());
                            healthy = conn->is_open() && !is_connection_error(e);
                        }
                    } else {
                        log_failure(error ? error->c_str() : "no connection");
                    }
                    boost::asio::dispatch(ex, [shared, out = std::move(out)]() mutable {
                        std::move(*shared)(std::move(out));
                    });
                    return healthy;
                });
            },
            boost::asio::use_awaitable, std::move(job));
    }

private:
    /// Runs with the worker's connection (nullptr and the reason when it cannot connect); returns false when
    /// the connection must be re-opened.
    using Job = std::function<bool(pqxx::connection*, const std::string*)>;
    void submit(Job job);
    void worker();
    static void log_failure(const char* what);
    static bool is_connection_error(const std::exception& e);

    std::string url_;
    std::function<void(pqxx::connection&)> prepare_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::size_t size_ = 0;
    std::size_t in_use_ = 0;
    std::uint64_t waits_ = 0;
    std::deque<Job> jobs_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace centaur::pg
