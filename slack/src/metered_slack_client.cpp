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

std::string method_label(std::string_view method) {
    static constexpr std::array<std::string_view, 7> known{
        slack_method::post_message,  slack_method::update,      slack_method::start_stream,
        slack_method::append_stream, slack_method::stop_stream, slack_method::set_status,
        "conversations.replies"};  // the reply streamer's lookup of a message it may have posted
    for (auto k : known)
        if (k == method) return std::string(k);
    return "other";
}

void observe(SlackCallProbe& probe, const std::string& method, const result<SlackResponse>& r, double seconds) {
    const char* outcome = !r ? "failed" : r->ok() ? "ok" : "error";
    probe.call_duration.Add({{"method", method_label(method)}, {"outcome", outcome}}, call_buckets()).Observe(seconds);
}

}  // namespace

SlackCallProbe::SlackCallProbe(prometheus::Registry& registry)
    : call_duration(prometheus::BuildHistogram()
                        .Name("centaur_slack_api_call_duration_seconds")
                        .Help("Latency of one Slack Web API call (one attempt), by method and outcome")
                        .Register(registry)) {}

boost::asio::awaitable<result<SlackResponse>> MeteredSlackClient::call(std::string method, boost::json::object args) {
    const auto started = std::chrono::steady_clock::now();
    const std::string name = method;
    auto r = co_await inner_.call(std::move(method), std::move(args));
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
    observe(probe_, name, r, elapsed.count());
    co_return r;
}

}  // namespace centaur::slack
