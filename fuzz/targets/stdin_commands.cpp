// The CLI's --stdin-events line parser: total on any line; a message becomes an input line that is valid JSON
// carrying the text verbatim.
#include "fuzz_check.hpp"

#include "stdin_commands.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    const auto command = centaur::cli::parse_stdin_command(line);
    if (const auto* m = std::get_if<centaur::cli::SendMessage>(&command)) {
        const std::string input = centaur::cli::user_input_line(m->text);
        boost::system::error_code ec;
        const auto v = boost::json::parse(input, ec);
        // Text that is not valid UTF-8 cannot round-trip through JSON; everything else must.
        if (!ec) {
            const auto& text = v.at("message").at("content").at(0).at("text").as_string();
            FUZZ_CHECK(std::string_view(text) == m->text);
        }
    }
    if (const auto* e = std::get_if<centaur::cli::ExecuteLines>(&command)) FUZZ_CHECK(!e->lines.empty());
    return 0;
}
