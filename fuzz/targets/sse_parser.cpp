// The CLI's SSE parser: the bytes fed in any chunks give the same frames as fed at once (differential), the
// `retry:` value is never negative, and a frame's id never holds a NUL.
#include "fuzz_check.hpp"

#include "sse_parser.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace {

struct Seen {
    std::vector<centaur::cli::SseEvent> events;
    std::optional<long> retry;
};

bool same(const Seen& a, const Seen& b) {
    if (a.retry != b.retry || a.events.size() != b.events.size()) return false;
    for (std::size_t i = 0; i < a.events.size(); ++i) {
        const auto &x = a.events[i], &y = b.events[i];
        if (x.id != y.id || x.event != y.event || x.data != y.data) return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const unsigned chunk_seed = data[0];
    const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

    Seen whole, chunked;
    centaur::cli::SseParser a([&](const centaur::cli::SseEvent& e) { whole.events.push_back(e); });
    a.feed(body);
    whole.retry = a.retry_ms();

    centaur::cli::SseParser b([&](const centaur::cli::SseEvent& e) { chunked.events.push_back(e); });
    std::size_t at = 0, step = 0;
    while (at < body.size()) {
        const std::size_t n = 1 + (chunk_seed + step * 7) % 5;
        b.feed(body.substr(at, n));
        at += n;
        ++step;
    }
    chunked.retry = b.retry_ms();

    FUZZ_CHECK(same(whole, chunked));
    if (whole.retry) FUZZ_CHECK(*whole.retry >= 0);
    for (const auto& e : whole.events) {
        FUZZ_CHECK(!e.event.empty());
        if (e.id) FUZZ_CHECK(e.id->find('\0') == std::string::npos);
    }
    return 0;
}
