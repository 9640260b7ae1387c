#include <centaur/ingest/auth.hpp>
#include <centaur/ingest/stream_tokens.hpp>

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace centaur::ingest {
namespace {
constexpr std::string_view admin_env = "CENTAUR_APIRS_ADMIN_API_KEY";
constexpr std::string_view bearer = "Bearer ";
constexpr std::string_view events_template = "/api/session/{thread_key}/events";
}  // namespace

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
    if (route.capability == http::Capability::none || route.capability == http::Capability::metrics || open())
        return std::nullopt;
    const auto header = req.header("authorization");
    if (!header && stream_tokens_ && route.method == "GET" && route.path_template == events_template) {
        const auto token = req.query.find("token");
        const auto key = params.find("thread_key");
        if (token != req.query.end() && key != params.end()) {
            if (stream_tokens_->verify(token->second, key->second, StreamTokens::Clock::now())) return std::nullopt;
            return http::error_response(401, "invalid or expired stream token");
        }
    }
    if (!header || header->substr(0, bearer.size()) != bearer || header->size() == bearer.size())
        return http::error_response(401, "missing bearer token");
    const auto token = header->substr(bearer.size());
    Digest digest{};
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest.data());
    const Key* caller = nullptr;
    for (const auto& key : keys_) {  // every key compared, in constant time each
        if (CRYPTO_memcmp(key.digest.data(), digest.data(), digest.size()) == 0) caller = &key;
    }
    if (!caller) return http::error_response(401, "invalid bearer token");
    if (caller->admin) return std::nullopt;
    if (route.capability != http::Capability::sessions_read && route.capability != http::Capability::sessions_write)
        return http::error_response(403, "forbidden: this key cannot use " + route.path_template);
    if (auto it = params.find("thread_key"); it != params.end()) {
        for (const auto& prefix : caller->prefixes)
            if (it->second.rfind(prefix, 0) == 0) return std::nullopt;
        return http::error_response(403, "forbidden: thread key outside this key's scope");
    }
    return std::nullopt;
}

}  // namespace centaur::ingest
