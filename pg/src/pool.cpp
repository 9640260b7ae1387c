#include <centaur/pg/pool.hpp>

#include <pqxx/except>
#include <spdlog/spdlog.h>

namespace centaur::pg {

std::unique_ptr<pqxx::connection> connect(const std::string& url) { return std::make_unique<pqxx::connection>(url); }

Pool::Pool(std::string url, std::size_t size, std::function<void(pqxx::connection&)> prepare)
    : url_(std::move(url)), prepare_(std::move(prepare)), size_(size) {
    for (std::size_t i = 0; i < size; ++i) threads_.emplace_back([this] { worker(); });
}

Pool::~Pool() { stop(); }

void Pool::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && threads_.empty()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
}

void Pool::submit(Job job) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            if (in_use_ + jobs_.size() >= size_) ++waits_;
            jobs_.push_back(std::move(job));
            cv_.notify_one();
            return;
        }
    }
    const std::string reason = "pool stopped";
    job(nullptr, &reason);
}

void Pool::worker() {
    std::unique_ptr<pqxx::connection> conn;
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
            ++in_use_;
        }
        std::string error;
        if (!conn) {
            try {
                conn = connect(url_);
                if (prepare_) prepare_(*conn);
            } catch (const std::exception& e) {
                conn.reset();
                error = e.what();
            }
        }
        if (!job(conn.get(), conn ? nullptr : &error)) conn.reset();
        std::lock_guard lock(mutex_);
        --in_use_;
    }
}

PoolStats Pool::stats() const {
    std::lock_guard lock(mutex_);
    return PoolStats{size_, in_use_, jobs_.size(), waits_};
}

void Pool::log_failure(const char* what) { spdlog::warn("postgres: {}", what); }

bool Pool::is_connection_error(const std::exception& e) {
    return dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
           dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr;
}

}  // namespace centaur::pg
