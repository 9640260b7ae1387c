// Harness-output terminal detection on arbitrary stdout: total; a terminal outcome has a reason, and a failure
// carries no result text.
#include "fuzz_check.hpp"

#include <centaur/processors/turn_tracker.hpp>

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    centaur::processors::TurnTracker tracker;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        if (auto outcome = tracker.observe(line)) {
            FUZZ_CHECK(!outcome->reason.empty());
            if (outcome->kind != centaur::processors::TerminalKind::completed) FUZZ_CHECK(!outcome->result_text);
        }
    }
    if (!tracker.answer().empty()) FUZZ_CHECK(tracker.saw_agent_text());
    return 0;
}
