#pragma once
// Hexadecimal digits: lower-case encoding of bytes (HMAC digests, random ids, uuids, `\u00XX` escapes) and
// the value of a hex digit of either case. Header-only, no state: callable from any thread.

#include <cstddef>
#include <string>
#include <string_view>

namespace centaur::schemas {

/// The lower-case hex digit of the low four bits of `nibble`.
constexpr char hex_digit(unsigned nibble) noexcept { return "0123456789abcdef"[nibble & 0xfU]; }

/// The value 0..15 of the hex digit `c` ('0'-'9', 'a'-'f', 'A'-'F'); -1 when `c` is not a hex digit.
constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// Appends two lower-case hex digits per byte of `data[0, size)` to `out`, most significant nibble first.
inline void append_hex(std::string& out, const unsigned char* data, std::size_t size) {
    out.reserve(out.size() + 2 * size);
    for (std::size_t i = 0; i < size; ++i) {
        out.push_back(hex_digit(data[i] >> 4U));
        out.push_back(hex_digit(data[i]));
    }
}

/// `bytes` as lower-case hex, two digits per byte.
inline std::string to_hex(std::string_view bytes) {
    std::string out;
    append_hex(out, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    return out;
}

}  // namespace centaur::schemas
