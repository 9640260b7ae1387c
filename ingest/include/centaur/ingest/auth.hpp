#pragma once
// Bearer-token authentication as upstream: static keys first (an admin key with every capability, ingress keys
// limited to session reads/writes on their thread-key prefixes; digests compared in constant time), then HS256
// JWTs when a signing secret is configured (Console and Principal callers).

#include <centaur/core/label_cache.hpp>
#include <centaur/core/session_store.hpp>
#include <centaur/http/types.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace centaur::ingest {

class StreamTokens;

/// The session metadata field naming the principal a new session is bound to (upstream's name).
inline constexpr std::string_view requester_principal_field = "requester_principal_foreign_id";

/// `body` with `metadata.requester_principal_foreign_id` removed (unchanged when it has none or is not a JSON
/// object).
std::string without_requester_principal(const std::string& body);

struct IngressKeySpec {
    std::string env_name;               ///< e.g. SLACKBOT_API_KEY
    std::vector<std::string> prefixes;  ///< thread-key prefixes it may touch, e.g. "slack:"
};

/// Upstream's ingress keys: SLACKBOT_API_KEY -> slack:, DISCORDBOT_API_KEY -> discord:, GITHUBBOT_API_KEY ->
/// github:/github-issue:/github-manage:/github-review:, LINEARBOT_API_KEY -> linear:, TEAMSBOT_API_KEY -> teams:,
/// TELEGRAMBOT_API_KEY -> telegram:.
const std::vector<IngressKeySpec>& ingress_key_specs();

/// `centaur_api_authentications_total{caller_class,outcome}`: one count per check of a protected route.
/// caller_class: admin, ingress, console, principal, stream_token, open, unknown (no credential recognised);
/// outcome: allowed, unauthenticated (401), forbidden (403). Thread-safe (each {caller_class, outcome} is resolved
/// once into a LabelCache, lock-free after that); outlives the authenticator using it.
class AuthProbe {
public:
    explicit AuthProbe(prometheus::Registry& registry);
    void count(std::string_view caller_class, std::string_view outcome);

    prometheus::Family<prometheus::Counter>& authentications_total;

private:
    LabelCache<prometheus::Counter*, 2> children_;  ///< {caller_class, outcome}
};

/// HS256 JWT settings (upstream's CENTAUR_JWT_SIGNING_SECRET, CENTAUR_API_JWT_AUDIENCE, CENTAUR_API_JWT_ISSUER).
struct JwtOptions {
    std::string secret;                 ///< empty: JWTs are not accepted
    std::string audience = "centaur-api";
    std::string issuer = "centaur-console";
    std::chrono::seconds leeway{60};    ///< tolerance on exp / nbf
};

/// Claims of a verified JWT that authorization uses.
struct JwtClaims {
    std::string sub;
    std::string token_use;
    bool has_capabilities = false;          ///< the `capabilities` claim was present
    std::vector<std::string> capabilities;  ///< its string entries
};

/// Verifies a compact HS256 JWT: three base64url (unpadded) segments, header alg exactly "HS256", HMAC-SHA256
/// signature compared in constant time, `exp` required and `nbf` honoured (both with `leeway`), `aud` (string
/// or array) containing the audience, `iss` equal to the issuer, `sub` a non-empty string. nullopt with `why`
/// on any failure.
std::optional<JwtClaims> verify_jwt(std::string_view token, const JwtOptions& options,
                                    std::chrono::system_clock::time_point now, std::string* why);

/// The compact JWT `b64url(header_json).b64url(claims_json).b64url(HMAC-SHA256(secret, first two))`, unpadded;
/// the JSON is taken as given (tests and tools mint tokens with it, including malformed ones).
std::string sign_hs256_jwt(std::string_view header_json, std::string_view claims_json, std::string_view secret);

/// Immutable after construction (set_* are start-up calls); `check` is thread-safe.
class Authenticator {
public:
    /// Builds from a name -> value map of the variables above plus CENTAUR_APIRS_ADMIN_API_KEY (empty values
    /// are ignored). Two variables with the same key are a start-up error: nullopt with `error` naming them.
    static std::optional<Authenticator> from_keys(const std::map<std::string, std::string>& values,
                                                  std::string* error);

    /// True when no key and no JWT secret is configured: every route is open (allowed only on loopback; the app
    /// enforces it).
    bool open() const { return keys_.empty() && jwt_.secret.empty(); }

    /// Accept HS256 JWTs (after the static keys). A token with token_use "console_service" and sub
    /// "centaur-console" is class Console (every capability); any other is class Principal: sessions_read when
    /// its `capabilities` claim lists "sessions_read" or is absent, nothing else on our routes; and a Principal
    /// reads only sessions whose iron_control_principal equals its sub: thread-scoped reads are allowed only on
    /// routes wrapped by `scope_principal_reads` (which checks the owner), and refused (403) on every other.
    void accept_jwt(JwtOptions options) { jwt_ = std::move(options); }

    /// Wraps a sessions_read route with {thread_key} so that a Principal caller gets it only for a session whose
    /// iron_control_principal equals its sub (403 otherwise, also when there is no session; 503 when `store`
    /// fails). Other callers pass straight through. Start-up only (not thread-safe); `store` and this
    /// authenticator outlive the server.
    http::Route scope_principal_reads(http::Route route, SessionStore& store);

    /// The sub of `req`'s bearer when it is a verified Principal JWT, else nullopt.
    std::optional<std::string> principal_of(const http::Request& req) const;

    /// True when `req`'s bearer is a verified Console JWT.
    bool is_console(const http::Request& req) const;

    /// Wraps a session write route so that `metadata.requester_principal_foreign_id` (the principal a new session
    /// is bound to: its iron_control_principal) is Console's assertion alone: removed from every other caller's
    /// body before the handler sees it, as upstream strips it. Start-up only; this authenticator outlives the server.
    http::Route console_asserts_requester_principal(http::Route route);

    /// Counts every check of a protected route in `probe` (must outlive this authenticator).
    void set_probe(AuthProbe* probe) { probe_ = probe; }
    /// Clock for JWT exp/nbf and stream tokens (tests); default system_clock::now.
    void set_clock(std::function<std::chrono::system_clock::time_point()> clock) { clock_ = std::move(clock); }

    /// Who the bearer of `req` is, for per-caller limits: the key name, "jwt:<sub>", "token:<thread key>" for a
    /// stream token, or "open". Only meaningful after `check` allowed the request.
    std::string caller_id(const http::Request& req, const http::PathParams& params) const;

    /// Also accept `?token=` stream tokens (stream_tokens.hpp) on `GET /api/session/{thread_key}/events` when the
    /// request has no Authorization header. `tokens` must outlive this authenticator.
    void accept_stream_tokens(const StreamTokens* tokens) { stream_tokens_ = tokens; }

    /// nullopt when the caller may use `route` (with `params`), else the 401/403 JSON response.
    std::optional<http::Response> check(const http::Request& req, const http::Route& route,
                                        const http::PathParams& params) const;

private:
    struct Outcome;
    /// The claims of `req`'s bearer when it is a verified JWT (not a static key), else nullopt.
    std::optional<JwtClaims> jwt_of(const http::Request& req) const;
    Outcome decide(const http::Request& req, const http::Route& route, const http::PathParams& params) const;

    using Digest = std::array<unsigned char, 32>;
    struct Key {
        std::string name;
        Digest digest;
        bool admin = false;
        std::vector<std::string> prefixes;
    };
    std::vector<Key> keys_;
    const StreamTokens* stream_tokens_ = nullptr;
    JwtOptions jwt_;
    AuthProbe* probe_ = nullptr;
    std::function<std::chrono::system_clock::time_point()> clock_;
    std::set<std::pair<std::string, std::string>> principal_scoped_;  ///< (method, path template) wrapped routes
};

}  // namespace centaur::ingest
