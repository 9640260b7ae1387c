#include <centaur/ingest/auth.hpp>
#include <centaur/ingest/stream_tokens.hpp>
#include <centaur/schemas/thread_key.hpp>

#include <boost/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cmath>

namespace centaur::ingest {
namespace json = boost::json;
namespace {
constexpr std::string_view admin_env = "CENTAUR_APIRS_ADMIN_API_KEY";
constexpr std::string_view bearer = "Bearer ";
constexpr std::string_view events_template = "/api/session/{thread_key}/events";
constexpr std::string_view console_token_use = "console_service";
constexpr std::string_view console_sub = "centaur-console";
constexpr std::size_t hs256_size = 32;

/// Strict base64url without padding; nullopt on any other character or an impossible length.
std::optional<std::string> base64url_decode(std::string_view in) {
    if (in.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(in.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '-') v = 62;
        else if (c == '_') v = 63;
        else return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical trailing bits
    return out;
}

std::string base64url_encode(std::string_view in) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : in) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(alphabet[(acc >> bits) & 63]);
        }
    }
    if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 63]);
    return out;
}

std::optional<json::object> parse_object(std::string_view text) {
    boost::system::error_code ec;
    auto value = json::parse(text, ec);
    if (ec || !value.is_object()) return std::nullopt;
    return std::move(value.as_object());
}

/// A NumericDate claim as whole seconds; nullopt when absent, false in `ok` when not a number.
std::optional<std::int64_t> numeric_date(const json::object& o, std::string_view name, bool* ok) {
    auto it = o.find(name);
    if (it == o.end()) return std::nullopt;
    if (it->value().is_int64()) return it->value().as_int64();
    if (it->value().is_uint64() && it->value().as_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(it->value().as_uint64());
    if (it->value().is_double() && std::isfinite(it->value().as_double()) &&
        std::abs(it->value().as_double()) < 1e15)
        return static_cast<std::int64_t>(std::floor(it->value().as_double()));
    *ok = false;
    return std::nullopt;
}

std::nullopt_t fail(std::string* why, std::string message) {
    if (why) *why = std::move(message);
    return std::nullopt;
}
}  // namespace

AuthProbe::AuthProbe(prometheus::Registry& registry)
    : authentications_total(prometheus::BuildCounter()
                                .Name("centaur_api_authentications_total")
                                .Help("Checks of protected API routes by caller class and outcome")
                                .Register(registry)) {}

void AuthProbe::count(std::string_view caller_class, std::string_view outcome) {
    auto make = [&] {
        return &authentications_total.Add(
            {{"caller_class", std::string(caller_class)}, {"outcome", std::string(outcome)}});
    };
    children_.get({caller_class, outcome}, make)->Increment();
}

std::string sign_hs256_jwt(std::string_view header_json, std::string_view claims_json, std::string_view secret) {
    const auto signed_part = base64url_encode(header_json) + "." + base64url_encode(claims_json);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac, &size);
    return signed_part + "." + base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), size));
}

std::optional<JwtClaims> verify_jwt(std::string_view token, const JwtOptions& options,
                                    std::chrono::system_clock::time_point now, std::string* why) {
    if (options.secret.empty()) return fail(why, "JWTs are not accepted");
    const auto dot1 = token.find('.');
    const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
        return fail(why, "malformed token");
    const auto header_b64 = token.substr(0, dot1);
    const auto payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const auto sig_b64 = token.substr(dot2 + 1);
    auto header_text = base64url_decode(header_b64);
    auto payload_text = base64url_decode(payload_b64);
    auto signature = base64url_decode(sig_b64);
    if (!header_text || !payload_text || !signature || header_b64.empty() || payload_b64.empty())
        return fail(why, "malformed token");
    auto header = parse_object(*header_text);
    if (!header) return fail(why, "malformed token header");
    auto alg = header->find("alg");
    if (alg == header->end() || !alg->value().is_string() || alg->value().as_string() != "HS256")
        return fail(why, "unsupported token algorithm");
    if (signature->size() != hs256_size) return fail(why, "invalid token signature");
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    const auto signed_part = token.substr(0, dot2);
    if (!HMAC(EVP_sha256(), options.secret.data(), static_cast<int>(options.secret.size()),
              reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac, &mac_size) ||
        mac_size != hs256_size || CRYPTO_memcmp(mac, signature->data(), hs256_size) != 0)
        return fail(why, "invalid token signature");

    auto payload = parse_object(*payload_text);
    if (!payload) return fail(why, "malformed token claims");
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    const auto leeway = options.leeway.count();
    bool ok = true;
    const auto exp = numeric_date(*payload, "exp", &ok);
    const auto nbf = numeric_date(*payload, "nbf", &ok);
    if (!ok) return fail(why, "malformed token claims");
    if (!exp) return fail(why, "token has no expiry");
    if (now_s > *exp + leeway) return fail(why, "token expired");
    if (nbf && now_s + leeway < *nbf) return fail(why, "token not yet valid");
    bool audience_ok = false;
    if (auto aud = payload->find("aud"); aud != payload->end()) {
        if (aud->value().is_string()) audience_ok = aud->value().as_string() == options.audience;
        if (aud->value().is_array())
            for (const auto& a : aud->value().as_array())
                audience_ok = audience_ok || (a.is_string() && a.as_string() == options.audience);
    }
    if (!audience_ok) return fail(why, "token audience mismatch");
    auto iss = payload->find("iss");
    if (iss == payload->end() || !iss->value().is_string() || iss->value().as_string() != options.issuer)
        return fail(why, "token issuer mismatch");
    auto sub = payload->find("sub");
    if (sub == payload->end() || !sub->value().is_string() || sub->value().as_string().empty())
        return fail(why, "token has no subject");
    JwtClaims claims;
    claims.sub = std::string(sub->value().as_string());
    if (auto use = payload->find("token_use"); use != payload->end() && use->value().is_string())
        claims.token_use = std::string(use->value().as_string());
    if (auto caps = payload->find("capabilities"); caps != payload->end() && !caps->value().is_null()) {
        claims.has_capabilities = true;
        if (caps->value().is_array())
            for (const auto& c : caps->value().as_array())
                if (c.is_string()) claims.capabilities.emplace_back(c.as_string());
    }
    return claims;
}

struct Authenticator::Outcome {
    std::string_view caller_class;
    std::optional<http::Response> denied;
};

const std::vector<IngressKeySpec>& ingress_key_specs() {
    static const std::vector<IngressKeySpec> specs = {
        {"SLACKBOT_API_KEY", {"slack:"}},
        {"DISCORDBOT_API_KEY", {"discord:"}},
        {"GITHUBBOT_API_KEY", {"github:", "github-issue:", "github-manage:", "github-review:"}},
        {"LINEARBOT_API_KEY", {"linear:"}},
        {"TEAMSBOT_API_KEY", {"teams:"}},
        {"TELEGRAMBOT_API_KEY", {"telegram:"}},
    };
    return specs;
}

std::optional<Authenticator> Authenticator::from_keys(const std::map<std::string, std::string>& values,
                                                      std::string* error) {
    Authenticator auth;
    auto add = [&](const std::string& name, bool admin, std::vector<std::string> prefixes) {
        auto it = values.find(name);
        if (it == values.end() || it->second.empty()) return true;
        Key key{name, {}, admin, std::move(prefixes)};
        SHA256(reinterpret_cast<const unsigned char*>(it->second.data()), it->second.size(), key.digest.data());
        for (const auto& other : auth.keys_) {
            if (CRYPTO_memcmp(other.digest.data(), key.digest.data(), key.digest.size()) == 0) {
                if (error) *error = other.name + " and " + name + " hold the same key";
                return false;
            }
        }
        auth.keys_.push_back(std::move(key));
        return true;
    };
    if (!add(std::string(admin_env), true, {})) return std::nullopt;
    for (const auto& spec : ingress_key_specs())
        if (!add(spec.env_name, false, spec.prefixes)) return std::nullopt;
    return auth;
}

std::optional<http::Response> Authenticator::check(const http::Request& req, const http::Route& route,
                                                   const http::PathParams& params) const {
    if (route.capability == http::Capability::none || route.capability == http::Capability::metrics)
        return std::nullopt;
    auto outcome = decide(req, route, params);
    if (probe_) {
        const std::string_view result = !outcome.denied                  ? "allowed"
                                        : outcome.denied->status == 401u ? "unauthenticated"
                                                                         : "forbidden";
        probe_->count(outcome.caller_class, result);
    }
    return std::move(outcome.denied);
}

Authenticator::Outcome Authenticator::decide(const http::Request& req, const http::Route& route,
                                             const http::PathParams& params) const {
    if (open()) return {"open", std::nullopt};
    const auto now = clock_ ? clock_() : std::chrono::system_clock::now();
    const auto header = req.header("authorization");
    if (!header && stream_tokens_ && route.method == "GET" && route.path_template == events_template) {
        const auto token = req.query.find("token");
        const auto key = params.find("thread_key");
        if (token != req.query.end() && key != params.end()) {
            if (stream_tokens_->verify(token->second, key->second, now)) return {"stream_token", std::nullopt};
            return {"stream_token", http::error_response(401, "invalid or expired stream token")};
        }
    }
    if (!header || header->substr(0, bearer.size()) != bearer || header->size() == bearer.size())
        return {"unknown", http::error_response(401, "missing bearer token")};
    const auto token = header->substr(bearer.size());
    Digest digest{};
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest.data());
    const Key* caller = nullptr;
    for (const auto& key : keys_) {  // every key compared, in constant time each
        if (CRYPTO_memcmp(key.digest.data(), digest.data(), digest.size()) == 0) caller = &key;
    }
    if (!caller) {
        if (jwt_.secret.empty()) return {"unknown", http::error_response(401, "invalid bearer token")};
        std::string why;
        auto claims = verify_jwt(token, jwt_, now, &why);
        if (!claims) return {"unknown", http::error_response(401, "invalid bearer token: " + why)};
        if (claims->token_use == console_token_use && claims->sub == console_sub) return {"console", std::nullopt};
        const bool reads = !claims->has_capabilities ||
                           std::find(claims->capabilities.begin(), claims->capabilities.end(), "sessions_read") !=
                               claims->capabilities.end();
        if (route.capability != http::Capability::sessions_read || !reads)
            return {"principal", http::error_response(403, "forbidden: this token cannot use " + route.path_template)};
        // A principal reads only sessions whose iron_control_principal == sub: only routes whose handler checks
        // the owner (scope_principal_reads) are open to it.
        if (params.count("thread_key") && !principal_scoped_.count({route.method, route.path_template}))
            return {"principal", http::error_response(403, "forbidden: session not owned by this principal")};
        return {"principal", std::nullopt};
    }
    if (caller->admin) return {"admin", std::nullopt};
    if (route.capability != http::Capability::sessions_read && route.capability != http::Capability::sessions_write)
        return {"ingress", http::error_response(403, "forbidden: this key cannot use " + route.path_template)};
    if (auto it = params.find("thread_key"); it != params.end()) {
        for (const auto& prefix : caller->prefixes)
            if (it->second.rfind(prefix, 0) == 0) return {"ingress", std::nullopt};
        return {"ingress", http::error_response(403, "forbidden: thread key outside this key's scope")};
    }
    return {"ingress", std::nullopt};
}

std::optional<JwtClaims> Authenticator::jwt_of(const http::Request& req) const {
    const auto header = req.header("authorization");
    if (jwt_.secret.empty() || !header || header->substr(0, bearer.size()) != bearer) return std::nullopt;
    const auto token = header->substr(bearer.size());
    Digest digest{};
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest.data());
    bool static_key = false;
    for (const auto& key : keys_)
        static_key = static_key || CRYPTO_memcmp(key.digest.data(), digest.data(), digest.size()) == 0;
    if (static_key) return std::nullopt;
    return verify_jwt(token, jwt_, clock_ ? clock_() : std::chrono::system_clock::now(), nullptr);
}

std::optional<std::string> Authenticator::principal_of(const http::Request& req) const {
    auto claims = jwt_of(req);
    if (!claims || (claims->token_use == console_token_use && claims->sub == console_sub)) return std::nullopt;
    return claims->sub;
}

bool Authenticator::is_console(const http::Request& req) const {
    auto claims = jwt_of(req);
    return claims && claims->token_use == console_token_use && claims->sub == console_sub;
}

std::string without_requester_principal(const std::string& body) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return body;  // the handler refuses it
    auto* metadata = v.as_object().if_contains("metadata");
    if (!metadata || !metadata->is_object() || !metadata->as_object().erase(requester_principal_field)) return body;
    return boost::json::serialize(v);
}

http::Route Authenticator::console_asserts_requester_principal(http::Route route) {
    auto inner = std::move(route.handler);
    route.handler = [inner = std::move(inner), this](
                        const http::Request& req, const http::PathParams& params) -> boost::asio::awaitable<http::Response> {
        if (is_console(req)) co_return co_await inner(req, params);
        http::Request stripped = req;
        stripped.body = without_requester_principal(req.body);
        co_return co_await inner(stripped, params);
    };
    return route;
}

namespace {
/// 403 unless `key`'s session is owned by `principal`; nullopt when it is.
boost::asio::awaitable<std::optional<http::Response>> require_owner(SessionStore& store, std::string key,
                                                                    std::string principal) {
    auto thread = ThreadKey::parse(key);
    if (!thread) co_return http::error_response(400, "invalid thread key");
    auto session = co_await store.get_session(*thread);
    if (!session) co_return http::error_response(503, "session store unavailable");
    if (*session) {
        const auto* owner = (*session)->json.if_contains("iron_control_principal");
        if (owner && owner->is_string() && owner->as_string() == principal) co_return std::nullopt;
    }
    co_return http::error_response(403, "forbidden: session not owned by this principal");
}
}  // namespace

http::Route Authenticator::scope_principal_reads(http::Route route, SessionStore& store) {
    principal_scoped_.insert({route.method, route.path_template});
    auto inner = std::move(route.handler);
    route.handler = [inner = std::move(inner), this, &store](
                        const http::Request& req, const http::PathParams& params) -> boost::asio::awaitable<http::Response> {
        auto principal = principal_of(req);
        auto key = params.find("thread_key");
        if (principal && key != params.end()) {
            auto thread_key = key->second;
            auto denied = co_await require_owner(store, std::move(thread_key), std::move(*principal));
            if (denied) co_return std::move(*denied);
        }
        co_return co_await inner(req, params);
    };
    return route;
}

std::string Authenticator::caller_id(const http::Request& req, const http::PathParams& params) const {
    if (open()) return "open";
    const auto header = req.header("authorization");
    if (!header || header->substr(0, bearer.size()) != bearer) {
        auto key = params.find("thread_key");
        return "token:" + (key == params.end() ? std::string() : key->second);
    }
    const auto token = header->substr(bearer.size());
    Digest digest{};
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest.data());
    std::string name;
    for (const auto& key : keys_)
        if (CRYPTO_memcmp(key.digest.data(), digest.data(), digest.size()) == 0) name = key.name;
    if (!name.empty()) return name;
    // Only called after check() allowed the request, so the token is a verified JWT.
    auto claims = verify_jwt(token, jwt_, clock_ ? clock_() : std::chrono::system_clock::now(), nullptr);
    return claims ? "jwt:" + claims->sub : "unknown";
}

}  // namespace centaur::ingest
