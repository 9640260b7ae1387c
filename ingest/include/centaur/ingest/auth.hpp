#pragma once
// Bearer-token authentication with static keys, as upstream: an admin key with every capability, and ingress
// keys limited to session reads/writes on their thread-key prefixes. Digests compared in constant time.

#include <centaur/http/types.hpp>

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace centaur::ingest {

class StreamTokens;

struct IngressKeySpec {
    std::string env_name;               ///< e.g. SLACKBOT_API_KEY
    std::vector<std::string> prefixes;  ///< thread-key prefixes it may touch, e.g. "slack:"
};

/// Upstream's ingress keys: SLACKBOT_API_KEY -> slack:, DISCORDBOT_API_KEY -> discord:, GITHUBBOT_API_KEY ->
/// github:/github-issue:/github-manage:/github-review:, LINEARBOT_API_KEY -> linear:, TEAMSBOT_API_KEY -> teams:,
/// TELEGRAMBOT_API_KEY -> telegram:.
const std::vector<IngressKeySpec>& ingress_key_specs();

/// Immutable after construction; `check` is thread-safe.
class Authenticator {
public:
    /// Builds from a name -> value map of the variables above plus CENTAUR_APIRS_ADMIN_API_KEY (empty values
    /// are ignored). Two variables with the same key are a start-up error: nullopt with `error` naming them.
    static std::optional<Authenticator> from_keys(const std::map<std::string, std::string>& values,
                                                  std::string* error);

    /// True when no key is configured: every route is open (allowed only on loopback; the app enforces it).
    bool open() const { return keys_.empty(); }

    /// Also accept `?token=` stream tokens (stream_tokens.hpp) on `GET /api/session/{thread_key}/events` when the
    /// request has no Authorization header. `tokens` must outlive this authenticator.
    void accept_stream_tokens(const StreamTokens* tokens) { stream_tokens_ = tokens; }

    /// nullopt when the caller may use `route` (with `params`), else the 401/403 JSON response.
    std::optional<http::Response> check(const http::Request& req, const http::Route& route,
                                        const http::PathParams& params) const;

private:
    using Digest = std::array<unsigned char, 32>;
    struct Key {
        std::string name;
        Digest digest;
        bool admin = false;
        std::vector<std::string> prefixes;
    };
    std::vector<Key> keys_;
    const StreamTokens* stream_tokens_ = nullptr;
};

}  // namespace centaur::ingest
