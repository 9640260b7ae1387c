// The SSE start cursor (after_event_id query, Last-Event-ID header): total, accepts exactly the non-negative
// decimal int64 values, and an accepted id prints back to the same digits (modulo leading zeros).
#include "fuzz_check.hpp"

#include <centaur/projections/event_cursor.hpp>

#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto id = centaur::projections::parse_event_id(text);
    if (id) {
        FUZZ_CHECK(id->value >= 0);
        FUZZ_CHECK(!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos);
        std::string_view digits = text;
        while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
        FUZZ_CHECK(std::to_string(id->value) == digits);
    }
    // Split the input in two: query value and header value.
    const std::size_t cut = size ? data[0] % (size + 1) : 0;
    const std::string_view after = text.substr(0, cut), last = text.substr(cut);
    const auto c = centaur::projections::stream_cursor(after, last);
    if (!c.error) {
        FUZZ_CHECK(c.after.value >= 0);
        if (!last.empty()) FUZZ_CHECK(c.after == *centaur::projections::parse_event_id(last));
    }
    return 0;
}
