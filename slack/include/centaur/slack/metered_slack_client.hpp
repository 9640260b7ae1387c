#pragma once
// A SlackClient decorator that times every Web API call: centaur_slack_api_call_duration_seconds{method,outcome}.

#include <centaur/core/label_cache.hpp>
#include <centaur/core/slack_client.hpp>

#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string_view>

namespace centaur::slack {

/// Made by the app from its registry; outlives the client that uses it. Thread-safe: `observe` from any thread at
/// once; each {method, outcome} is resolved once into a LabelCache, lock-free after that.
class SlackCallProbe {
public:
    explicit SlackCallProbe(prometheus::Registry& registry);
    /// {method: a slack_method name or "other", outcome: ok | error (answered, not ok) | failed (no answer)}
    prometheus::Family<prometheus::Histogram>& call_duration;

    /// One call of Web API `method` (any name; unknown ones count as "other") that ended with `outcome` (ok |
    /// error | failed) after `seconds`.
    void observe(std::string_view method, std::string_view outcome, double seconds);

private:
    LabelCache<prometheus::Histogram*, 2> call_children_;  ///< {method, outcome}
};

/// Wraps the client the app selected; `inner` and `probe` outlive it. Same threading as `inner`.
class MeteredSlackClient final : public SlackClient {
public:
    MeteredSlackClient(SlackClient& inner, SlackCallProbe& probe) : inner_(inner), probe_(probe) {}
    boost::asio::awaitable<result<SlackResponse>> call(std::string method, boost::json::object args) override;

private:
    SlackClient& inner_;
    SlackCallProbe& probe_;
};

}  // namespace centaur::slack
