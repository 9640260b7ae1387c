#include <centaur/ingest/stream_tokens.hpp>

#include <centaur/schemas/hex.hpp>
#include <centaur/schemas/thread_key.hpp>

#include <boost/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <stdexcept>

namespace centaur::ingest {
namespace json = boost::json;

namespace {

constexpr std::string_view version_prefix = "v1.";

}  // namespace

StreamTokens::StreamTokens(std::string secret, std::chrono::seconds ttl) : secret_(std::move(secret)), ttl_(ttl) {
    if (secret_.empty()) {
        secret_.resize(32);
        if (RAND_bytes(reinterpret_cast<unsigned char*>(secret_.data()), static_cast<int>(secret_.size())) != 1)
            throw std::runtime_error("stream tokens: no random bytes for the secret");
    }
}

std::string StreamTokens::sign(std::string_view expiry, std::string_view thread_key) const {
    std::string message = "v1|";
    message.append(expiry).append("|").append(thread_key);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &mac_size);
    std::string out;
    schemas::append_hex(out, mac, mac_size);
    return out;
}

std::string StreamTokens::mint(std::string_view thread_key, Clock::time_point now) const {
    const auto expiry = std::to_string(std::chrono::duration_cast<std::chrono::seconds>((now + ttl_).time_since_epoch()).count());
    return std::string(version_prefix) + expiry + "." + sign(expiry, thread_key);
}

bool StreamTokens::verify(std::string_view token, std::string_view thread_key, Clock::time_point now) const {
    if (token.substr(0, version_prefix.size()) != version_prefix) return false;
    token.remove_prefix(version_prefix.size());
    const auto dot = token.find('.');
    if (dot == std::string_view::npos) return false;
    const auto expiry = token.substr(0, dot);
    const auto mac = token.substr(dot + 1);
    long long expiry_s = 0;
    auto [end, ec] = std::from_chars(expiry.data(), expiry.data() + expiry.size(), expiry_s);
    if (ec != std::errc{} || end != expiry.data() + expiry.size() || expiry.empty()) return false;
    const auto expected = sign(expiry, thread_key);
    if (mac.size() != expected.size() || CRYPTO_memcmp(mac.data(), expected.data(), mac.size()) != 0) return false;
    return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() < expiry_s;
}

namespace {

http::Response token_response(const StreamTokens& tokens, const std::string& key) {
    const auto now = StreamTokens::Clock::now();
    const auto token = tokens.mint(key, now);
    const auto expires = std::chrono::duration_cast<std::chrono::seconds>((now + tokens.ttl()).time_since_epoch());
    std::string url = "/api/session/";
    url += http::percent_encode_component(key);
    url += "/events?token=" + token;
    return http::json_response(json::object{{"ok", true},
                                            {"token", token},
                                            {"expires_at", expires.count()},
                                            {"events_url", url}});
}

}  // namespace

http::Route stream_token_route(const StreamTokens& tokens) {
    return {"POST", "/api/session/{thread_key}/events/token", http::Capability::sessions_read,
            [&tokens](const http::Request&, const http::PathParams& params) -> boost::asio::awaitable<http::Response> {
                const auto it = params.find("thread_key");
                std::string why;
                if (it == params.end() || !ThreadKey::parse(it->second, &why))
                    co_return http::error_response(400, "invalid thread key: " + why);
                co_return token_response(tokens, it->second);
            }};
}

}  // namespace centaur::ingest
