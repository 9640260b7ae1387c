// Slack request signature check on arbitrary headers and body: total; never `ok` for a signature other than the
// one computed from the secret; a correctly signed request within the window is always `ok`.
#include "fuzz_check.hpp"

#include "slack_signature.hpp"

#include <cstdint>
#include <string>
#include <string_view>

using centaur::ingest::SlackSignatureCheck;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Layout: secret \0 timestamp \0 signature \0 body (missing parts are absent headers).
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    auto take = [&]() -> std::optional<std::string_view> {
        if (rest.empty()) return std::nullopt;
        const auto z = rest.find('\0');
        const std::string_view part = rest.substr(0, z);
        rest = z == std::string_view::npos ? std::string_view{} : rest.substr(z + 1);
        return part;
    };
    const std::string secret(take().value_or("secret"));
    const auto timestamp = take();
    const auto signature = take();
    const std::string_view body = rest;
    constexpr std::int64_t now = 1'700'000'000;

    const auto check = centaur::ingest::verify_slack_signature(secret, timestamp, signature, body, now);
    FUZZ_CHECK(!centaur::ingest::to_string(check).empty());
    if (check == SlackSignatureCheck::ok)
        FUZZ_CHECK(*signature == centaur::ingest::slack_signature(secret, *timestamp, body));

    const std::string fresh = std::to_string(now - 10);
    const std::string good = centaur::ingest::slack_signature(secret, fresh, body);
    FUZZ_CHECK(centaur::ingest::verify_slack_signature(secret, fresh, good, body, now) == SlackSignatureCheck::ok);
    return 0;
}
