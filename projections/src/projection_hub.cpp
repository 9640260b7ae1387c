#include <centaur/projections/projection_hub.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace centaur::projections {

ProjectionHub::ProjectionHub(boost::asio::any_io_executor io) : io_(std::move(io)) {}

ProjectionHub::Watch::Watch(ProjectionHub& hub, std::string key) : hub_(hub), key_(std::move(key)), timer_(hub.io_) {}

ProjectionHub::Watch::~Watch() {
    auto range = hub_.watches_.equal_range(key_);
    for (auto it = range.first; it != range.second; ++it) {
        if (it->second == this) {
            hub_.watches_.erase(it);
            break;
        }
    }
}

boost::asio::awaitable<bool> ProjectionHub::Watch::wait_beyond(EventId beyond,
                                                               std::chrono::steady_clock::time_point deadline) {
    while (latest_ <= beyond) {
        if (cancelled_) co_return false;
        if (std::chrono::steady_clock::now() >= deadline) co_return false;
        timer_.expires_at(deadline);
        auto [ec] = co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        if (!ec) co_return latest_ > beyond;  // the deadline passed
    }
    co_return true;
}

void ProjectionHub::Watch::cancel() {
    cancelled_ = true;
    timer_.cancel();
}

std::unique_ptr<ProjectionHub::Watch> ProjectionHub::watch(const std::string& key) {
    std::unique_ptr<Watch> w(new Watch(*this, key));
    watches_.emplace(key, w.get());
    return w;
}

void ProjectionHub::publish(std::vector<std::pair<std::string, EventId>> advanced) {
    publishing_.store(true, std::memory_order_relaxed);
    boost::asio::post(io_, [this, advanced = std::move(advanced)] { deliver(advanced); });
}

EventId ProjectionHub::projected(const std::string& key) const {
    const auto it = projected_.find(key);
    return it == projected_.end() ? EventId(0) : it->second;
}

void ProjectionHub::deliver(const std::vector<std::pair<std::string, EventId>>& advanced) {
    for (const auto& [key, id] : advanced) {
        if (projected_.size() >= remembered_keys && !projected_.count(key)) projected_.clear();
        auto& known = projected_[key];
        known = std::max(known, id);
        auto range = watches_.equal_range(key);
        for (auto it = range.first; it != range.second; ++it) {
            Watch* w = it->second;
            if (id > w->latest_) {
                w->latest_ = id;
                w->timer_.cancel();
            }
        }
    }
}

std::size_t ProjectionHub::watch_count() const { return watches_.size(); }

}  // namespace centaur::projections
