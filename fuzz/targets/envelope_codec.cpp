// decode_envelope on arbitrary bytes: never throws or crashes; whatever it accepts re-encodes to an envelope that
// decodes to the same encoding (the log round trip), and its timestamp formats.
#include "fuzz_check.hpp"

#include <centaur/schemas/envelope.hpp>

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    auto decoded = centaur::decode_envelope(text, &error);
    if (!decoded) {
        FUZZ_CHECK(!error.empty());
        return 0;
    }
    const std::string once = centaur::encode_envelope(*decoded);
    auto again = centaur::decode_envelope(once, &error);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(centaur::encode_envelope(*again) == once);
    FUZZ_CHECK(again->thread_key == decoded->thread_key);
    const std::string at = centaur::format_timestamp(decoded->occurred_at_us);
    FUZZ_CHECK(!at.empty() && at.back() == 'Z');
    return 0;
}
