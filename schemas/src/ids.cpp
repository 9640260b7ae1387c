#include <centaur/schemas/ids.hpp>

#include <centaur/schemas/hex.hpp>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <cstdlib>

namespace centaur {
namespace {

std::uint64_t load_be(const unsigned char* p) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
}

EventUuid from_bytes(const unsigned char* bytes, unsigned version) {
    EventUuid u{load_be(bytes), load_be(bytes + 8)};
    u.hi = (u.hi & ~0xF000ULL) | (std::uint64_t{version} << 12);       // version nibble
    u.lo = (u.lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;     // RFC 4122 variant
    return u;
}

}  // namespace

EventUuid EventUuid::random() {
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) std::abort();  // no entropy: cannot go on
    return from_bytes(bytes.data(), 4);
}

EventUuid EventUuid::derived(std::string_view name) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(reinterpret_cast<const unsigned char*>(name.data()), name.size(), digest.data());
    return from_bytes(digest.data(), 5);
}

bool EventUuid::parse(std::string_view text, EventUuid& out) {
    std::uint64_t parts[2] = {0, 0};
    int digits = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '-' && text.size() == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) continue;
        const int v = schemas::hex_value(c);
        if (v < 0 || digits >= 32) return false;
        parts[digits / 16] = (parts[digits / 16] << 4) | static_cast<std::uint64_t>(v);
        ++digits;
    }
    if (digits != 32 || (text.size() != 32 && text.size() != 36)) return false;
    out = EventUuid{parts[0], parts[1]};
    return true;
}

std::string EventUuid::hex() const {
    std::string s(32, '0');
    for (int i = 0; i < 16; ++i) {
        s[15 - i] = schemas::hex_digit(static_cast<unsigned>(hi >> (4 * i)));
        s[31 - i] = schemas::hex_digit(static_cast<unsigned>(lo >> (4 * i)));
    }
    return s;
}

std::string EventUuid::canonical() const {
    const std::string h = hex();
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string message_id_from(const EventUuid& uuid) { return "msg_" + uuid.hex(); }
std::string execution_id_from(const EventUuid& uuid) { return "exe_" + uuid.hex(); }

}  // namespace centaur
