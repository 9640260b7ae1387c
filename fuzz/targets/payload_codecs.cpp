// The typed payload decoders and thread-key validation on arbitrary JSON: total (no throw, no crash), and what a
// decoder accepts survives to_json -> decoder -> to_json unchanged.
#include "fuzz_check.hpp"

#include <centaur/schemas/payloads.hpp>
#include <centaur/schemas/thread_key.hpp>

#include <boost/json.hpp>

#include <cstdint>
#include <string_view>

namespace {

template <class Decode>
void round_trip(const boost::json::value& v, Decode decode) {
    auto first = decode(v);
    if (!first) return;
    const boost::json::value encoded = centaur::to_json(*first);
    auto second = decode(encoded);
    FUZZ_CHECK(second.has_value());
    FUZZ_CHECK(centaur::to_json(*second) == encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string why;
    if (auto key = centaur::ThreadKey::parse(text, &why)) {
        FUZZ_CHECK(key->str() == text && !key->ns().empty());
        FUZZ_CHECK(centaur::ThreadKey::parse(key->str()).has_value());
    } else {
        FUZZ_CHECK(!why.empty());
    }
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(text, ec);
    if (ec) return 0;
    round_trip(v, [](const boost::json::value& x) { return centaur::session_created_from(x); });
    round_trip(v, [](const boost::json::value& x) { return centaur::message_appended_from(x); });
    round_trip(v, [](const boost::json::value& x) { return centaur::execution_requested_from(x); });
    round_trip(v, [](const boost::json::value& x) { return centaur::interrupt_requested_from(x); });
    (void)centaur::json_get::string(v, "text");
    (void)centaur::json_get::int64(v, "n");
    return 0;
}
