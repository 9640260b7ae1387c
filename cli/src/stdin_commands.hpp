#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace centaur::cli {

/// `--stdin-events` commands, one per input line (upstream centaur-session-cli protocol).
struct SendMessage {
    std::string text;  ///< append as a user message, then execute the derived user line
};
struct ExecuteLines {
    std::vector<std::string> lines;  ///< execute these raw input lines, no append
};
struct Quit {};
struct Skip {};  ///< blank line
struct Unknown {
    std::string command;  ///< an unknown `/command`: fatal for the CLI
};
struct Invalid {
    std::string error;  ///< a known command with a malformed argument: fatal for the CLI
};

using StdinCommand = std::variant<SendMessage, ExecuteLines, Quit, Skip, Unknown, Invalid>;

/// Parses one stdin line:
///   blank → Skip; `/quit`, `/exit` → Quit; `/message <text>` → SendMessage; `/input <raw>` → ExecuteLines{raw};
///   `/execute [json array of strings]` or `/execute <raw line>` → ExecuteLines; other `/…` → Unknown;
///   a line starting with `{` → JSON with `type` message{text} | input_line{line} | execute{input_lines} |
///   quit | exit, an unknown or missing type sends the whole line as one raw input line;
///   anything else → SendMessage of the trimmed line.
StdinCommand parse_stdin_command(std::string_view line);

/// The input line a user message becomes: `{"type":"user","message":{"content":[{"type":"text","text":…}]}}`.
std::string user_input_line(std::string_view text);

}  // namespace centaur::cli
