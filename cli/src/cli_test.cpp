#include "api_client.hpp"
#include "options.hpp"
#include "sse_parser.hpp"
#include "stdin_commands.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <map>

namespace centaur::cli {
namespace {

std::vector<SseEvent> parse_all(const std::vector<std::string>& pieces) {
    std::vector<SseEvent> out;
    SseParser p([&](const SseEvent& e) { out.push_back(e); });
    for (const auto& piece : pieces) p.feed(piece);
    return out;
}

TEST(SseParser, FramesSplitAnywhereIncludingInsideCrlf) {
    const std::string stream = "retry: 1000\r\n: keepalive\r\n\r\nid: 7\r\nevent: session.output.line\r\ndata: {\"a\":1}\r\n\r\n"
                               "id: 8\nevent: session.execution_completed\ndata: x\ndata:y\n\n";
    auto whole = parse_all({stream});
    ASSERT_EQ(whole.size(), 2u);
    EXPECT_EQ(whole[0].id, "7");
    EXPECT_EQ(whole[0].event, "session.output.line");
    EXPECT_EQ(whole[0].data, "{\"a\":1}");
    EXPECT_EQ(whole[1].data, "x\ny");
    for (std::size_t cut = 1; cut < stream.size(); ++cut) {
        auto split = parse_all({stream.substr(0, cut), stream.substr(cut)});
        ASSERT_EQ(split.size(), 2u) << "cut at " << cut;
        EXPECT_EQ(split[0].data, whole[0].data);
        EXPECT_EQ(split[1].data, whole[1].data);
        EXPECT_EQ(split[1].id, "8");
    }
}

TEST(SseParser, FrameWithoutDataIsNotDispatchedAndRetryIsKept) {
    std::vector<SseEvent> out;
    SseParser p([&](const SseEvent& e) { out.push_back(e); });
    p.feed("event: ping\n\nretry: 250\n\ndata: only\n\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].event, "message");
    EXPECT_FALSE(out[0].id.has_value());
    EXPECT_EQ(p.retry_ms(), 250);
}

TEST(SseParser, RetryTakesOnlyAsciiDigits) {
    SseParser p([](const SseEvent&) {});
    p.feed("retry: 250\n\nretry: -5\n\nretry: +7\n\nretry:\n\n");
    EXPECT_EQ(p.retry_ms(), 250);
}

TEST(StdinCommands, ParsesTheUpstreamProtocol) {
    EXPECT_TRUE(std::holds_alternative<Skip>(parse_stdin_command("   ")));
    EXPECT_TRUE(std::holds_alternative<Quit>(parse_stdin_command("/quit")));
    EXPECT_TRUE(std::holds_alternative<Quit>(parse_stdin_command(" /exit ")));
    EXPECT_EQ(std::get<SendMessage>(parse_stdin_command("  hello there ")).text, "hello there");
    EXPECT_EQ(std::get<SendMessage>(parse_stdin_command("/message  hi  ")).text, "hi");
    EXPECT_EQ(std::get<ExecuteLines>(parse_stdin_command("/input {\"type\":\"x\"}")).lines,
              std::vector<std::string>{"{\"type\":\"x\"}"});
    EXPECT_EQ(std::get<ExecuteLines>(parse_stdin_command("/execute [\"a\",\"b\"]")).lines,
              (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(std::get<ExecuteLines>(parse_stdin_command("/execute raw line")).lines,
              std::vector<std::string>{"raw line"});
    EXPECT_EQ(std::get<Unknown>(parse_stdin_command("/frobnicate now")).command, "/frobnicate");
    EXPECT_TRUE(std::holds_alternative<Invalid>(parse_stdin_command("/execute [1,2]")));
    EXPECT_TRUE(std::holds_alternative<Invalid>(parse_stdin_command("/message")));
}

TEST(StdinCommands, JsonLines) {
    EXPECT_EQ(std::get<SendMessage>(parse_stdin_command(R"({"type":"message","text":"yo"})")).text, "yo");
    EXPECT_EQ(std::get<ExecuteLines>(parse_stdin_command(R"({"type":"input_line","line":"L"})")).lines,
              std::vector<std::string>{"L"});
    EXPECT_EQ(std::get<ExecuteLines>(parse_stdin_command(R"({"type":"execute","input_lines":["p","q"]})")).lines,
              (std::vector<std::string>{"p", "q"}));
    EXPECT_TRUE(std::holds_alternative<Quit>(parse_stdin_command(R"({"type":"quit"})")));
    const std::string other = R"({"type":"user","message":{}})";
    EXPECT_EQ(std::get<ExecuteLines>(parse_stdin_command(other)).lines, std::vector<std::string>{other});
    EXPECT_EQ(std::get<ExecuteLines>(parse_stdin_command("{not json")).lines, std::vector<std::string>{"{not json"});
}

TEST(StdinCommands, UserLineShape) {
    auto v = boost::json::parse(user_input_line("hi \"you\""));
    EXPECT_EQ(v, boost::json::parse(R"({"type":"user","message":{"content":[{"type":"text","text":"hi \"you\""}]}})"));
}

ParseResult parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    return parse_options(args, [&](const char* name) -> std::optional<std::string> {
        auto it = env.find(name);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
}

TEST(Options, DefaultsAndEnvironment) {
    auto o = std::get<Options>(parse({}, {{"CENTAUR_API_URL", "http://h:9/x/"}}));
    EXPECT_EQ(o.api_url, "http://h:9/x");
    EXPECT_EQ(o.harness_type, "codex");
    EXPECT_EQ(o.idle_timeout_ms, 1000u);
    EXPECT_EQ(o.max_duration_ms, 60000u);
    EXPECT_FALSE(o.attach);
    auto flag_wins = std::get<Options>(parse({"--api-url=http://a:1"}, {{"CENTAUR_API_URL", "http://h:9"}}));
    EXPECT_EQ(flag_wins.api_url, "http://a:1");
}

TEST(Options, AttachRules) {
    const std::string key = "slack:C123:1700000000.000100";
    EXPECT_TRUE(std::get<Options>(parse({"--attach", "--thread-key", key})).attach);
    EXPECT_TRUE(std::get<Options>(parse({"--thread-key", key, "--after-event-id", "5"})).attach);
    EXPECT_FALSE(std::get<Options>(parse({"--thread-key", key, "--after-event-id", "5", "--message", "m"})).attach);
    EXPECT_FALSE(std::get<Options>(parse({"--thread-key", key, "--after-event-id", "0"})).attach);
    EXPECT_NE(std::get<std::string>(parse({"--attach"})).find("requires --thread-key"), std::string::npos);
    EXPECT_TRUE(std::holds_alternative<std::string>(parse({"--attach", "--thread-key", key, "--message", "m"})));
}

TEST(Options, RejectsBadValues) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--harness-type", "claude-code"},
             {"--thread-key", "nope"},
             {"--idle-timeout-ms", "0"},
             {"--idle-timeout-ms", "5000", "--max-duration-ms", "10"},
             {"--after-event-id", "-3"},
             {"--max-duration-ms", "12x"},
             {"--api-url", ""},
             {"--api-token", ""},
             {"--message"},
             {"--bogus"},
             {"--tui", "--stdin-events"},
             {"--all-events=yes"},
         }) {
        auto r = parse(args);
        EXPECT_TRUE(std::holds_alternative<std::string>(r)) << args[0];
    }
    EXPECT_TRUE(std::holds_alternative<ShowHelp>(parse({"--help"})));
}

TEST(Options, FlagTableMatchesTheParserHelpCompletionsAndManPage) {
    const std::map<std::string, std::string> sample{
        {"URL", "http://127.0.0.1:1"}, {"TOKEN", "t"}, {"KEY", "cli:0123456789abcdef0123456789abcdef"},
        {"TYPE", "codex"}, {"TEXT", "hi"}, {"LINE", "{}"}, {"MS", "1000"}, {"ID", "1"}, {"WHAT", "bash"}};
    const auto help = help_text();
    const auto bash = bash_completion();
    const auto zsh = zsh_completion();
    const auto man = man_page();
    for (const auto& f : flag_table()) {
        for (const char* name : {f.name, f.alias}) {
            if (!name) continue;
            std::vector<std::string> args{name};
            if (f.value) args.push_back(sample.at(f.value));
            auto r = parse(args);
            if (auto* e = std::get_if<std::string>(&r)) {
                EXPECT_EQ(e->find("unexpected argument"), std::string::npos) << *e;
            }
            EXPECT_NE(help.find(name), std::string::npos) << name;
            EXPECT_NE(bash.find(name), std::string::npos) << name;
            EXPECT_NE(zsh.find(name), std::string::npos) << name;
        }
        std::string roff_name;
        for (char c : std::string(f.name)) roff_name += c == '-' ? std::string("\\-") : std::string(1, c);
        EXPECT_NE(man.find(roff_name), std::string::npos) << f.name;
        if (f.env) {
            EXPECT_NE(help.find(std::string("[env: ") + f.env + "]"), std::string::npos);
        }
        if (f.default_value) {
            EXPECT_NE(help.find(std::string("[default: ") + f.default_value + "]"), std::string::npos);
        }
    }
    EXPECT_EQ(std::get<Generate>(parse({"--generate", "zsh"})).what, "zsh");
    EXPECT_TRUE(std::holds_alternative<std::string>(parse({"--generate", "fish"})));
    EXPECT_NE(bash.find("--harness-type) COMPREPLY=($(compgen -W \"codex amp"), std::string::npos) << bash;
}

TEST(UrlEncode, MatchesEncodeUriComponent) {
    EXPECT_EQ(url_encode_component("slack:C1:17.5 a/b"), "slack%3AC1%3A17.5%20a%2Fb");
    EXPECT_EQ(url_encode_component("A-z_0.!~*'()"), "A-z_0.!~*'()");
}

}  // namespace
}  // namespace centaur::cli
