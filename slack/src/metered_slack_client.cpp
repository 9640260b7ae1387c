#include <centaur/slack/metered_slack_client.hpp>

#include <array>
#include <chrono>
#include <string>
#include <string_view>

namespace centaur::slack {
namespace {

const prometheus::Histogram::BucketBoundaries& call_buckets() {
    static const prometheus::Histogram::BucketBoundaries buckets{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30};
    return buckets;
}

std::string_view method_label(std::string_view method) {
    static constexpr std::array<std::string_view, 7> known{
        slack_method::post_message,  slack_method::update,      slack_method::start_stream,
        slack_method::append_stream, slack_method::stop_stream, slack_method::set_status,
        "conversations.replies"};  // the reply streamer's lookup of a message it may have posted
    for (auto k : known)
        if (k == method) return k;
    return "other";
}

}  // namespace

SlackCallProbe::SlackCallProbe(prometheus::Registry& registry)
    : call_duration(prometheus::BuildHistogram()
                        .Name("centaur_slack_api_call_duration_seconds")
                        .Help("Latency of one Slack Web API call (one attempt), by method and outcome")
                        .Register(registry)) {}

void SlackCallProbe::observe(std::string_view method, std::string_view outcome, double seconds) {
    const std::string_view m = method_label(method);
    const auto make = [&] {
        return &call_duration.Add({{"method", std::string(m)}, {"outcome", std::string(outcome)}}, call_buckets());
    };
    call_children_.get({m, outcome}, make)->Observe(seconds);
}

boost::asio::awaitable<result<SlackResponse>> MeteredSlackClient::call(std::string method, boost::json::object args) {
    const auto started = std::chrono::steady_clock::now();
    const std::string name = method;
    auto r = co_await inner_.call(std::move(method), std::move(args));
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
    const std::string_view outcome = !r ? "failed" : r->ok() ? "ok" : "error";
    probe_.observe(name, outcome, elapsed.count());
    co_return r;
}

}  // namespace centaur::slack
