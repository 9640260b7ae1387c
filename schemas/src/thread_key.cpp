#include <centaur/schemas/ids.hpp>
#include <centaur/schemas/thread_key.hpp>

namespace centaur {

std::optional<ThreadKey> ThreadKey::parse(std::string_view text, std::string* error) {
    auto fail = [&](const char* why) -> std::optional<ThreadKey> {
        if (error) *error = why;
        return std::nullopt;
    };
    if (text.empty()) return fail("thread key must not be empty");
    if (text.size() > max_thread_key_bytes) return fail("thread key must be at most 512 bytes");
    if (text.front() == '{' || text.front() == '[') return fail("thread key must not start with '{' or '['");
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) return fail("thread key must not contain control characters");
    }
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return fail("thread key must look like <namespace>:<id>");
    if (colon == 0) return fail("thread key namespace must not be empty");
    if (colon + 1 == text.size()) return fail("thread key id must not be empty");
    return ThreadKey(std::string(text));
}

ThreadKey ThreadKey::new_cli_key() { return ThreadKey("cli:" + EventUuid::random().hex()); }

}  // namespace centaur
