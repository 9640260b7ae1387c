#include "slack_signature.hpp"

#include <centaur/schemas/hex.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <charconv>

namespace centaur::ingest {

namespace {
constexpr std::string_view version_prefix = "v0=";
constexpr std::size_t digest_hex_chars = 64;
constexpr std::size_t max_timestamp_chars = 18;
}  // namespace

std::string_view to_string(SlackSignatureCheck check) {
    switch (check) {
        case SlackSignatureCheck::ok: return "ok";
        case SlackSignatureCheck::missing: return "missing Slack signature headers";
        case SlackSignatureCheck::bad_timestamp: return "malformed Slack request timestamp";
        case SlackSignatureCheck::stale: return "Slack request timestamp is outside the 5 minute window";
        case SlackSignatureCheck::mismatch: return "invalid Slack signature";
    }
    return "invalid Slack signature";
}

std::string slack_signature(std::string_view secret, std::string_view timestamp, std::string_view body) {
    std::string base;
    base.reserve(4 + timestamp.size() + body.size());
    base.append("v0:").append(timestamp).append(":").append(body);
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(base.data()), base.size(), mac.data(), &mac_len);
    std::string out(version_prefix);
    schemas::append_hex(out, mac.data(), mac_len);
    return out;
}

SlackSignatureCheck verify_slack_signature(std::string_view secret, std::optional<std::string_view> timestamp,
                                           std::optional<std::string_view> signature, std::string_view body,
                                           std::int64_t now_seconds, std::int64_t window_seconds) {
    if (!timestamp || !signature || timestamp->empty() || signature->empty()) return SlackSignatureCheck::missing;
    std::int64_t ts = 0;
    const char* first = timestamp->data();
    const char* last = first + timestamp->size();
    if (timestamp->size() > max_timestamp_chars) return SlackSignatureCheck::bad_timestamp;
    const auto [end, ec] = std::from_chars(first, last, ts);
    if (ec != std::errc{} || end != last || ts < 0) return SlackSignatureCheck::bad_timestamp;
    const std::int64_t skew = now_seconds > ts ? now_seconds - ts : ts - now_seconds;
    if (skew > window_seconds) return SlackSignatureCheck::stale;
    if (signature->size() != version_prefix.size() + digest_hex_chars) return SlackSignatureCheck::mismatch;
    const std::string expected = slack_signature(secret, *timestamp, body);
    // Lower-case the received hex so an upper-case digest is not refused; compare in constant time.
    std::string received(*signature);
    for (auto& c : received) c = (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
    return CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0 ? SlackSignatureCheck::ok
                                                                                  : SlackSignatureCheck::mismatch;
}

}  // namespace centaur::ingest
