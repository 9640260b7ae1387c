// End-to-end: centaur-session-cli against the real centaur-api-server (mock workload) on a fresh database:
// the runbook's command lines typed into a shell under tmux (--tui), the --stdin-events protocol through
// pipes and here-docs, reconnecting across a server restart, and exit codes.

#include <centaur/test_support/test_support.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace centaur::e2e {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::ChildProcess;
using test_support::lines_of;
using test_support::ServerProcess;
using test_support::TestDatabase;

constexpr auto kTurnTimeout = 30s;
constexpr auto kScreenTimeout = 20s;
constexpr auto kPoll = 100ms;

// The runbook's "Use centaur-session-cli" command lines, as written upstream. run_line() swaps the cargo
// invocation for our binary, the API URL for the test server's and the placeholders for real values.
const std::string kRunbookTuiNewThread =
    "CENTAUR_API_URL=http://127.0.0.1:8080 \\\n"
    "cargo run -p centaur-session-cli -- --tui --harness-type codex";
const std::string kRunbookAttachTui =
    "CENTAUR_API_URL=http://127.0.0.1:8080 \\\n"
    "cargo run -p centaur-session-cli -- \\\n"
    "  --attach \\\n"
    "  --thread-key 'slack:<CHANNEL_ID>:<THREAD_TS>' \\\n"
    "  --tui";
const std::string kRunbookAttachAllEvents =
    "CENTAUR_API_URL=http://127.0.0.1:8080 \\\n"
    "cargo run -p centaur-session-cli -- \\\n"
    "  --attach \\\n"
    "  --thread-key 'slack:<CHANNEL_ID>:<THREAD_TS>' \\\n"
    "  --all-events";

const std::string kChannel = "C0CLITEST";
const std::string kThreadTs = "1700000000.000100";
const std::string kSlackKey = "slack:" + kChannel + ":" + kThreadTs;

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
        text.replace(pos, from.size(), to);
    return text;
}

std::string run_line(std::string line, const ServerProcess& server) {
    line = replace_all(line, "http://127.0.0.1:8080", server.url());
    line = replace_all(line, "cargo run -p centaur-session-cli --", test_support::bin_path("centaur-session-cli"));
    line = replace_all(line, "<CHANNEL_ID>", kChannel);
    return replace_all(line, "<THREAD_TS>", kThreadTs);
}

std::string sh_quote(const std::string& s) { return "'" + replace_all(s, "'", "'\\''") + "'"; }

/// `--all-events` output -> (id, event type, data) per line; output lines are `<id>\t<raw>`.
struct Printed {
    long long id;
    std::string type;
    json::value data;
};
std::vector<Printed> printed_events(const std::string& out) {
    std::vector<Printed> v;
    for (const auto& line : lines_of(out)) {
        if (line.front() == '{') {
            auto j = json::parse(line);
            v.push_back({j.at("id").is_int64() ? j.at("id").as_int64() : std::stoll(std::string(j.at("id").as_string())),
                         std::string(j.at("sse_event").as_string()), j.at("data")});
        } else {
            const auto tab = line.find('\t');
            json::error_code ec;
            auto data = json::parse(line.substr(tab + 1), ec);
            v.push_back({std::stoll(line.substr(0, tab)), "session.output.line", ec ? json::value(line.substr(tab + 1)) : data});
        }
    }
    return v;
}

std::size_t count_type(const std::vector<Printed>& events, const std::string& type) {
    return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [&](const auto& e) { return e.type == type; }));
}

bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (done()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(kPoll);
    }
}

/// Runs `script` with /bin/sh (pipes, here-docs) and waits for it, bounded.
std::unique_ptr<ChildProcess> run_sh(const std::string& script, std::chrono::milliseconds timeout = kTurnTimeout) {
    auto child = std::make_unique<ChildProcess>(std::vector<std::string>{"/bin/sh", "-c", script});
    EXPECT_TRUE(child->wait_for_exit(timeout).has_value()) << "did not finish: " << script << "\n"
                                                           << child->stderr_text();
    return child;
}

/// A private tmux server (own socket) with one 120x32 window running a plain bash; killed in the destructor.
class Tmux {
public:
    Tmux() : socket_("centaur-cli-test-" + std::to_string(::getpid()) + "-" + std::to_string(next_id_++)) {
        tmux({"-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "32", "-s", "t", "bash --norc --noprofile"});
        EXPECT_TRUE(wait_screen([](const std::string& s) { return s.find('$') != std::string::npos || s.find('#') != std::string::npos; }))
            << "no shell prompt";
    }
    ~Tmux() { tmux({"kill-server"}); }

    /// Types `text` literally, then presses Enter.
    void type_line(const std::string& text) {
        tmux({"send-keys", "-t", "t", "-l", text});
        keys({"Enter"});
    }
    void keys(std::vector<std::string> names) {
        names.insert(names.begin(), {"send-keys", "-t", "t"});
        tmux(std::move(names));
    }
    /// Pastes `text` as a terminal paste (bracketed when the application asked for it).
    void paste(const std::string& text) {
        tmux({"set-buffer", "-b", "clip", text});
        tmux({"paste-buffer", "-p", "-b", "clip", "-t", "t"});
    }
    void resize(int columns, int rows) {
        tmux({"resize-window", "-t", "t", "-x", std::to_string(columns), "-y", std::to_string(rows)});
    }
    std::string screen() { return tmux({"capture-pane", "-p", "-t", "t"}); }
    std::string format(const std::string& f) {
        auto out = tmux({"display-message", "-p", "-t", "t", f});
        while (!out.empty() && out.back() == '\n') out.pop_back();
        return out;
    }
    bool wait_screen(const std::function<bool(const std::string&)>& predicate, std::chrono::milliseconds timeout = kScreenTimeout) {
        return poll_until([&] { return predicate(screen()); }, timeout);
    }
    bool wait_text(const std::string& needle, std::chrono::milliseconds timeout = kScreenTimeout) {
        return wait_screen([&](const std::string& s) { return s.find(needle) != std::string::npos; }, timeout);
    }
    /// Pid of the shell's foreground child (the CLI), 0 if none.
    pid_t child_of_shell() {
        const std::string shell = format("#{pane_pid}");
        const std::string children = test_support::read_file("/proc/" + shell + "/task/" + shell + "/children");
        return children.empty() ? 0 : static_cast<pid_t>(std::stol(children));
    }

private:
    std::string tmux(std::vector<std::string> args) {
        args.insert(args.begin(), {"tmux", "-L", socket_});
        ChildProcess p(args, {{"TERM", "xterm-256color"}});
        const auto code = p.wait_for_exit(10s);
        EXPECT_TRUE(code.has_value()) << "tmux hung";
        return p.stdout_text();
    }
    static inline std::atomic<int> next_id_{0};
    std::string socket_;
};

/// The shell wrapper the TUI tests type: terminal settings before and after, and the exit code.
std::string framed(const std::string& command, const std::string& dir) {
    return "stty -g > " + dir + "/before; " + command + "; echo EXIT=$?; stty -g > " + dir + "/after";
}

class SessionCli : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/centaur-cli-e2e-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string cli() const { return test_support::bin_path("centaur-session-cli"); }

    /// The terminal is as it was before the TUI: same stty settings, main screen, cursor shown.
    void expect_terminal_restored(Tmux& tmux) {
        ASSERT_TRUE(poll_until([&] { return !test_support::read_file(dir_ + "/after").empty(); }, kScreenTimeout))
            << tmux.screen();
        EXPECT_EQ(test_support::read_file(dir_ + "/before"), test_support::read_file(dir_ + "/after"));
        EXPECT_EQ(tmux.format("#{alternate_on}"), "0");
        EXPECT_EQ(tmux.format("#{cursor_flag}"), "1");
        EXPECT_EQ(tmux.format("#{keypad_cursor_flag}"), "0");
    }

    TestDatabase db_;
    std::string dir_;
};

TEST_F(SessionCli, RunbookTuiNewThreadTypesAMessageSeesPongAndQuitsCleanly) {
    ServerProcess server(db_.url());
    Tmux tmux;
    tmux.type_line(framed(run_line(kRunbookTuiNewThread, server), dir_));
    ASSERT_TRUE(tmux.wait_text("Centaur Session")) << tmux.screen();
    EXPECT_EQ(tmux.format("#{alternate_on}"), "1");

    // A bracketed paste keeps its line breaks in the input box instead of sending each line.
    tmux.paste("pasted one\npasted two");
    ASSERT_TRUE(tmux.wait_text("  pasted two")) << tmux.screen();
    EXPECT_NE(tmux.screen().find("> pasted one"), std::string::npos) << tmux.screen();
    EXPECT_EQ(tmux.screen().find("you: pasted"), std::string::npos) << tmux.screen();
    tmux.keys({"C-u"});
    ASSERT_TRUE(tmux.wait_screen([](const std::string& s) { return s.find("pasted one") == std::string::npos; }))
        << tmux.screen();

    // Multi-line input (Ctrl-J) and history: the first message, recalled with Up, is sent again.
    tmux.keys({"-l", "Reply with exactly PONG"});
    tmux.keys({"C-j"});
    tmux.keys({"-l", "and nothing else."});
    ASSERT_TRUE(tmux.wait_text("  and nothing else.")) << tmux.screen();
    tmux.keys({"Enter"});
    ASSERT_TRUE(tmux.wait_text("agent: PONG model=unknown harness=codex")) << tmux.screen() << server.logs();
    ASSERT_TRUE(tmux.wait_text("-- execution completed")) << tmux.screen();
    const auto screen = tmux.screen();
    EXPECT_NE(screen.find("you: Reply with exactly PONG"), std::string::npos) << screen;
    EXPECT_NE(screen.find("     and nothing else."), std::string::npos) << screen;
    EXPECT_NE(screen.find("exec:completed"), std::string::npos) << screen;
    EXPECT_NE(screen.find("sandbox ready"), std::string::npos) << screen;

    tmux.keys({"Up"});
    ASSERT_TRUE(tmux.wait_text("> Reply with exactly PONG")) << tmux.screen();
    tmux.keys({"Enter"});
    ASSERT_TRUE(tmux.wait_screen([](const std::string& s) {
        std::size_t n = 0;
        for (auto p = s.find("-- execution completed"); p != std::string::npos; p = s.find("-- execution completed", p + 1)) ++n;
        return n == 2;
    })) << tmux.screen();

    // F2 opens the raw events pane; F3 adds every event to the transcript; PgUp/PgDn scroll it.
    tmux.keys({"F2"});
    ASSERT_TRUE(tmux.wait_text(" raw events ")) << tmux.screen();
    EXPECT_NE(tmux.screen().find("session.execution_completed {"), std::string::npos) << tmux.screen();
    tmux.keys({"F3"});
    ASSERT_TRUE(tmux.wait_text("[all]")) << tmux.screen();
    ASSERT_TRUE(tmux.wait_text("   turn started mock-turn-")) << tmux.screen();
    tmux.keys({"PPage"});
    ASSERT_TRUE(tmux.wait_text("[scrolled up ")) << tmux.screen();
    EXPECT_TRUE(tmux.wait_text("you: Reply with exactly PONG")) << "the first turn is back in view\n" << tmux.screen();
    tmux.keys({"NPage"});
    tmux.keys({"NPage"});
    ASSERT_TRUE(tmux.wait_screen([](const std::string& s) { return s.find("[scrolled up ") == std::string::npos; }))
        << tmux.screen();

    tmux.keys({"C-d"});
    ASSERT_TRUE(tmux.wait_text("EXIT=0")) << tmux.screen();
    expect_terminal_restored(tmux);
    const auto after = tmux.screen();
    std::smatch key;
    EXPECT_TRUE(std::regex_search(after, key, std::regex("thread_key=cli:[0-9a-f]{32}"))) << after;
}

TEST_F(SessionCli, RunbookAttachTuiReplaysAFollowsAndInterrupts) {
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_MODE", "hang"}});
    // A Slack thread with one turn that hangs until interrupted, started as Slackbot would: over HTTP.
    const std::string base = server.url() + "/api/session/" + replace_all(kSlackKey, ":", "%3A");
    ASSERT_EQ(test_support::http_request("POST", base, R"({"harness_type":"codex"})").status, 200);
    ASSERT_EQ(test_support::http_request("POST", base + "/messages",
                                         R"({"messages":[{"role":"user","parts":[{"type":"text","text":"hello from slack"}]}]})")
                  .status,
              200);
    auto exe = test_support::http_request("POST", base + "/execute",
                                          R"({"input_lines":["{\"type\":\"user\",\"model\":\"slack-turn\"}"],"max_duration_ms":60000})");
    ASSERT_EQ(exe.status, 200) << exe.body;

    Tmux tmux;
    tmux.type_line(framed(run_line(kRunbookAttachTui, server), dir_));
    ASSERT_TRUE(tmux.wait_text("you: hello from slack")) << tmux.screen();
    ASSERT_TRUE(tmux.wait_text("-- execution started")) << tmux.screen();
    EXPECT_NE(tmux.screen().find(kSlackKey), std::string::npos);
    ASSERT_TRUE(tmux.wait_text("exec:running")) << tmux.screen();

    // Ctrl-X interrupts the running execution; the hung mock turn ends as interrupted, then cancelled.
    tmux.keys({"C-x"});
    ASSERT_TRUE(tmux.wait_text("-- turn interrupted")) << tmux.screen() << server.logs();
    ASSERT_TRUE(tmux.wait_text("-- execution cancelled")) << tmux.screen();
    EXPECT_TRUE(tmux.wait_text("exec:cancelled")) << tmux.screen();

    // /help shows the keys on the status line; a resize redraws the layout at the new size.
    tmux.keys({"-l", "/help"});
    tmux.keys({"Enter"});
    ASSERT_TRUE(tmux.wait_text("Enter send | Ctrl-J/Alt-Enter newline")) << tmux.screen();
    tmux.resize(80, 24);
    ASSERT_TRUE(tmux.wait_screen([](const std::string& s) {
        const auto rows = lines_of(s);
        return rows.size() >= 3 && rows.front().find("Centaur Session") != std::string::npos &&
               rows.back().rfind("Enter send", 0) == 0 && rows.back().size() <= 80 + 40 /* UTF-8 slack */ &&
               s.find("── input ───") != std::string::npos && s.find("-- execution cancelled") != std::string::npos;
    })) << tmux.screen();
    EXPECT_EQ(tmux.format("#{pane_width}x#{pane_height}"), "80x24");

    // A crash (SIGSEGV) still restores the terminal.
    const pid_t pid = tmux.child_of_shell();
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGSEGV), 0);
    ASSERT_TRUE(tmux.wait_text("EXIT=139")) << tmux.screen();
    expect_terminal_restored(tmux);
}

TEST_F(SessionCli, TuiSigtermLeavesTheTerminalAsItWas) {
    ServerProcess server(db_.url());
    Tmux tmux;
    tmux.type_line(framed(cli() + " --api-url " + server.url() + " --tui --debug", dir_));
    ASSERT_TRUE(tmux.wait_text(" raw events ")) << tmux.screen();
    // Two commands submitted back to back run in submission order.
    tmux.keys({"-l", R"(/input {"type":"user","model":"first-in"})"});
    tmux.keys({"Enter"});
    tmux.keys({"-l", R"(/input {"type":"user","model":"second-in"})"});
    tmux.keys({"Enter"});
    ASSERT_TRUE(tmux.wait_text("agent: PONG model=second-in")) << tmux.screen();
    const auto screen = tmux.screen();
    EXPECT_LT(screen.find("agent: PONG model=first-in"), screen.find("agent: PONG model=second-in")) << screen;
    const pid_t pid = tmux.child_of_shell();
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    ASSERT_TRUE(tmux.wait_text("EXIT=143")) << tmux.screen();
    expect_terminal_restored(tmux);
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
    return n;
}

TEST_F(SessionCli, TuiFollowsAcrossAServerRestartWithoutRepeatingAnything) {
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_DELAY_MS", "5"}});
    Tmux tmux;
    tmux.type_line(framed(cli() + " --api-url " + server.url() + " --tui", dir_));
    ASSERT_TRUE(tmux.wait_text("Centaur Session")) << tmux.screen();
    tmux.type_line("first");
    ASSERT_TRUE(tmux.wait_text("-- execution completed")) << tmux.screen();

    server.restart();
    tmux.type_line("second");
    ASSERT_TRUE(tmux.wait_screen([](const std::string& s) { return occurrences(s, "-- execution completed") == 2; }))
        << tmux.screen() << server.logs();
    const auto screen = tmux.screen();
    EXPECT_EQ(occurrences(screen, "you: first"), 1u) << screen;
    EXPECT_EQ(occurrences(screen, "you: second"), 1u) << screen;
    EXPECT_EQ(occurrences(screen, "agent: PONG model=unknown harness=codex"), 2u) << screen;
    EXPECT_EQ(occurrences(screen, "-- execution started"), 2u) << screen;
    tmux.keys({"C-c"});
    ASSERT_TRUE(tmux.wait_text("EXIT=0")) << tmux.screen();
    expect_terminal_restored(tmux);
}

const std::string kRunbookSmokeTurn =
    "CENTAUR_API_URL=http://127.0.0.1:8080 \\\n"
    "cargo run -p centaur-session-cli -- \\\n"
    "  --harness-type codex \\\n"
    "  --message \"Reply with exactly PONG and nothing else.\" \\\n"
    "  --exit-on-terminal \\\n"
    "  --max-duration-ms 120000";
const std::string kRunbookResume =
    "cargo run -p centaur-session-cli -- \\\n"
    "  --thread-key 'slack:<CHANNEL_ID>:<THREAD_TS>' \\\n"
    "  --after-event-id <LAST_EVENT_ID> \\\n"
    "  --all-events";

TEST_F(SessionCli, RunbookLineModeLinesVerbatim) {
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_DELAY_MS", "5"}});
    auto smoke = run_sh(run_line(kRunbookSmokeTurn, server));
    ASSERT_EQ(smoke->exit_code(), 0) << smoke->stderr_text();
    EXPECT_NE(smoke->stdout_text().find("PONG model=unknown harness=codex"), std::string::npos);
    EXPECT_TRUE(std::regex_search(smoke->stderr_text(), std::regex("^thread_key=cli:[0-9a-f]{32}\n$")))
        << smoke->stderr_text();

    // A Slack thread with one turn; the runbook's resume line (CENTAUR_API_URL from the shell's
    // environment, as the runbook's shell has it) prints only the events after the given id, then follows.
    auto turn = run_sh("CENTAUR_API_URL=" + server.url() + " " + cli() + " --thread-key " + sh_quote(kSlackKey) +
                       " --message one --exit-on-terminal --all-events");
    ASSERT_EQ(turn->exit_code(), 0) << turn->stderr_text();
    const auto events = printed_events(turn->stdout_text());
    ASSERT_GE(events.size(), 4u);
    const long long after = events[2].id;
    const std::string resume_line =
        replace_all(run_line(kRunbookResume, server), "<LAST_EVENT_ID>", std::to_string(after));
    ChildProcess resume({"/bin/sh", "-c", "export CENTAUR_API_URL=" + server.url() + "; " + resume_line});
    ASSERT_TRUE(resume.wait_for_stdout("session.execution_completed", kTurnTimeout)) << resume.stderr_text();
    std::vector<long long> expected, got;
    for (std::size_t i = 3; i < events.size(); ++i) expected.push_back(events[i].id);
    for (const auto& e : printed_events(resume.stdout_text())) got.push_back(e.id);
    EXPECT_EQ(got, expected);
    EXPECT_TRUE(resume.running()) << "resume attaches: it follows until Ctrl-C";
    resume.kill_group(SIGINT);
    EXPECT_EQ(resume.wait_for_exit(5s), 128 + SIGINT);
}

TEST_F(SessionCli, ExitOnTerminalCoversFailedAndExitOnOutputTypeMatches) {
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_DELAY_MS", "5"}, {"CENTAUR_MOCK_MODE", "fail"}});
    auto failed = run_sh("CENTAUR_API_URL=" + server.url() + " " + cli() + " --message x --exit-on-terminal --all-events");
    EXPECT_EQ(failed->exit_code(), 0) << failed->stderr_text();
    const auto events = printed_events(failed->stdout_text());
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().type, "session.execution_failed");
    const auto err = lines_of(failed->stderr_text());
    ASSERT_EQ(err.size(), 2u) << failed->stderr_text();  // thread_key=… and the reason
    EXPECT_TRUE(std::regex_match(err[1], std::regex("centaur-session-cli: execution exe_[0-9a-f]{32} failed: .+"))) << err[1];

    // A max-duration timeout: exit 0 on the terminal event, the reason on one stderr line.
    {
        TestDatabase own_db;  // a server of its own: servers on one database share the work
        ServerProcess hanging(own_db.url(), {{"CENTAUR_MOCK_MODE", "hang"}});
        auto timed_out = run_sh("CENTAUR_API_URL=" + hanging.url() + " " + cli() +
                                " --message x --exit-on-terminal --idle-timeout-ms 100 --max-duration-ms 700");
        EXPECT_EQ(timed_out->exit_code(), 0) << timed_out->stderr_text();
        const auto lines = lines_of(timed_out->stderr_text());
        ASSERT_EQ(lines.size(), 2u) << timed_out->stderr_text();
        EXPECT_NE(lines[1].find(" failed: "), std::string::npos) << lines[1];
        EXPECT_NE(lines[1].find("max_duration_exceeded"), std::string::npos) << lines[1];
    }

    auto typed = run_sh("CENTAUR_API_URL=" + server.url() + " " + cli() + " --message x --exit-on-output-type turn.started");
    EXPECT_EQ(typed->exit_code(), 0) << typed->stderr_text();
    const auto lines = lines_of(typed->stdout_text());
    ASSERT_FALSE(lines.empty());
    EXPECT_NE(lines.back().find("\t{\"type\":\"turn.started\""), std::string::npos) << typed->stdout_text();
}

TEST_F(SessionCli, StdinEventsEveryCommandThroughAHereDocThenQuitKeepsStreaming) {
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_DELAY_MS", "5"}});
    const std::string key = "cli:0123456789abcdef0123456789abcdef";
    // Nine commands, one execution each; /quit stops reading, the stream keeps going.
    const std::string script = "export CENTAUR_API_URL=" + server.url() + "; exec " + cli() + " --thread-key " + key +
                               " --stdin-events --all-events <<'EOF'\n"
                               "plain text message\n"
                               "\n"
                               "   /message  slash message  \n"
                               "/input {\"type\":\"user\",\"model\":\"input-cmd\"}\n"
                               "/execute [\"{\\\"type\\\":\\\"user\\\",\\\"model\\\":\\\"execute-array\\\"}\"]\n"
                               "/execute {\"type\":\"user\",\"model\":\"execute-raw\"}\n"
                               "{\"type\":\"message\",\"text\":\"json message\"}\n"
                               "{\"type\":\"input_line\",\"line\":\"{\\\"type\\\":\\\"user\\\",\\\"model\\\":\\\"json-input\\\"}\"}\n"
                               "{\"type\":\"execute\",\"input_lines\":[\"{\\\"type\\\":\\\"user\\\",\\\"model\\\":\\\"json-execute\\\"}\"]}\n"
                               "{\"type\":\"user\",\"model\":\"unknown-type\"}\n"
                               "/quit\n"
                               "never sent\n"
                               "EOF\n";
    ChildProcess child({"/bin/sh", "-c", script});
    ASSERT_TRUE(child.wait_for_stdout(
        [](const std::string& out) { return count_type(printed_events(out), "session.execution_completed") == 9; }, kTurnTimeout))
        << child.stdout_text() << child.stderr_text() << server.logs();
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(child.running()) << "/quit stops reading stdin, not the stream";
    const auto events = printed_events(child.stdout_text());

    std::vector<std::string> messages;
    std::vector<std::vector<std::string>> executions;
    for (const auto& e : events) {
        if (e.type == "session.message_appended")
            messages.emplace_back(e.data.at("parts").at(0).at("text").as_string());
        if (e.type == "session.execution_requested") {
            std::vector<std::string> lines;
            for (const auto& l : e.data.at("input_lines").as_array()) lines.emplace_back(l.as_string());
            executions.push_back(lines);
            EXPECT_EQ(e.data.at("idle_timeout_ms").to_number<long long>(), 1000);
            EXPECT_EQ(e.data.at("max_duration_ms").to_number<long long>(), 60000);
            EXPECT_EQ(e.data.at("metadata").at("source").as_string(), "centaur-session-cli");
        }
    }
    EXPECT_EQ(messages, (std::vector<std::string>{"plain text message", "slash message", "json message"}));
    auto user_line = [](const std::string& text) {
        return R"({"type":"user","message":{"content":[{"type":"text","text":")" + text + R"("}]}})";
    };
    auto raw = [](const std::string& model) { return R"({"type":"user","model":")" + model + R"("})"; };
    EXPECT_EQ(executions, (std::vector<std::vector<std::string>>{
                              {user_line("plain text message")}, {user_line("slash message")}, {raw("input-cmd")},
                              {raw("execute-array")}, {raw("execute-raw")}, {user_line("json message")},
                              {raw("json-input")}, {raw("json-execute")}, {raw("unknown-type")}}));
    std::set<std::string> models;
    for (const auto& e : events) {
        if (e.type != "session.output.line" || !e.data.is_object()) continue;
        if (const auto* d = e.data.as_object().if_contains("delta")) models.insert(std::string(d->as_string()));
    }
    for (const char* m : {"input-cmd", "execute-array", "execute-raw", "json-input", "json-execute", "unknown-type"})
        EXPECT_TRUE(models.contains(std::string("PONG model=") + m + " harness=codex")) << m;
    child.kill(SIGINT);
    EXPECT_TRUE(child.wait_for_exit(5s).has_value());
}

TEST_F(SessionCli, StdinEventsFromAPipeWithExitOnTerminalAndFatalUnknownCommand) {
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_DELAY_MS", "5"}});
    // README's pipe example: a message then /quit; --exit-on-terminal ends at the end of its own turn.
    auto ok = run_sh("printf 'first question\\n/quit\\n' | CENTAUR_API_URL=" + server.url() + " " + cli() +
                     " --stdin-events --exit-on-terminal");
    EXPECT_EQ(ok->exit_code(), 0) << ok->stderr_text();
    EXPECT_NE(ok->stdout_text().find("PONG model=unknown harness=codex"), std::string::npos) << ok->stdout_text();
    EXPECT_NE(ok->stdout_text().find("turn.completed"), std::string::npos);

    // An unknown /command is fatal at once: one line on stderr, exit 1, nothing executed.
    const std::string key = "cli:fedcba9876543210fedcba9876543210";
    auto bad = run_sh("printf '/bogus do it\\nnever sent\\n' | CENTAUR_API_URL=" + server.url() + " " + cli() +
                      " --thread-key " + key + " --stdin-events --all-events");
    EXPECT_EQ(bad->exit_code(), 1);
    EXPECT_EQ(lines_of(bad->stderr_text()), std::vector<std::string>{"Error: unknown stdin command: /bogus"});
    EXPECT_EQ(count_type(printed_events(bad->stdout_text()), "session.execution_requested"), 0u) << bad->stdout_text();

    // A malformed known command is fatal too.
    auto malformed = run_sh("echo '/execute [1,2]' | CENTAUR_API_URL=" + server.url() + " " + cli() + " --stdin-events");
    EXPECT_EQ(malformed->exit_code(), 1);
    EXPECT_NE(malformed->stderr_text().find("/execute: not a JSON array of strings"), std::string::npos)
        << malformed->stderr_text();
}

TEST_F(SessionCli, AttachReconnectsAcrossAServerRestartWithoutDuplicates) {
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_DELAY_MS", "5"}});
    // First turn on the Slack thread, then the runbook's attach line follows it.
    auto first = run_sh("CENTAUR_API_URL=" + server.url() + " " + cli() + " --thread-key " + sh_quote(kSlackKey) +
                        " --message one --exit-on-terminal");
    ASSERT_EQ(first->exit_code(), 0) << first->stderr_text();
    ChildProcess attach({"/bin/sh", "-c", run_line(kRunbookAttachAllEvents, server)});
    ASSERT_TRUE(attach.wait_for_stdout("session.execution_completed", kTurnTimeout)) << attach.stderr_text();

    server.restart();
    ASSERT_TRUE(attach.wait_for_stderr("reconnecting after event", kTurnTimeout)) << attach.stderr_text();
    auto second = run_sh("CENTAUR_API_URL=" + server.url() + " " + cli() + " --thread-key " + sh_quote(kSlackKey) +
                         " --message two --exit-on-terminal");
    ASSERT_EQ(second->exit_code(), 0) << second->stderr_text();
    ASSERT_TRUE(attach.wait_for_stdout(
        [](const std::string& out) { return count_type(printed_events(out), "session.execution_completed") == 2; }, kTurnTimeout))
        << attach.stdout_text() << attach.stderr_text();
    EXPECT_TRUE(attach.running());

    // Every event of the thread once, in order: the same ids a fresh replay prints.
    auto replay = run_sh("CENTAUR_API_URL=" + server.url() + " " + cli() + " --attach --thread-key " + sh_quote(kSlackKey) +
                         " --all-events --exit-on-output-type never & pid=$!; sleep 2; kill $pid");
    std::vector<long long> followed, replayed;
    for (const auto& e : printed_events(attach.stdout_text())) followed.push_back(e.id);
    for (const auto& e : printed_events(replay->stdout_text())) replayed.push_back(e.id);
    EXPECT_EQ(followed, replayed);
    EXPECT_TRUE(std::is_sorted(followed.begin(), followed.end()));
    EXPECT_EQ(std::set<long long>(followed.begin(), followed.end()).size(), followed.size()) << "no duplicates";
    attach.kill_group(SIGINT);  // Ctrl-C
    EXPECT_EQ(attach.wait_for_exit(5s), 128 + SIGINT);
}

TEST_F(SessionCli, HttpsApiUrlVerifiesTheCertificateAndItsHostName) {
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_DELAY_MS", "5"}});
    test_support::TlsTerminator tls(server.port());
    const std::string port = std::to_string(tls.port());
    const std::string cert = tls.cert_path();

    // Trusted (SSL_CERT_FILE names the CA store) and the right host name: a whole turn over TLS.
    auto ok = run_sh("SSL_CERT_FILE=" + cert + " " + cli() + " --api-url https://localhost:" + port +
                     "/ --message hi --exit-on-terminal");
    EXPECT_EQ(ok->exit_code(), 0) << ok->stderr_text();
    EXPECT_NE(ok->stdout_text().find("PONG model=unknown harness=codex"), std::string::npos) << ok->stdout_text();

    // The system store does not know this certificate: refused before any request, one line naming the URL.
    auto untrusted = run_sh("SSL_CERT_FILE=/dev/null " + cli() + " --api-url https://localhost:" + port + " --message hi");
    EXPECT_EQ(untrusted->exit_code(), 1);
    const auto err = lines_of(untrusted->stderr_text());
    ASSERT_FALSE(err.empty());
    EXPECT_EQ(err.back().rfind("Error: cannot reach https://localhost:" + port + ": TLS handshake failed", 0), 0u) << err.back();

    // Trusted certificate, wrong host name (the certificate is for localhost only).
    auto wrong_host = run_sh("SSL_CERT_FILE=" + cert + " " + cli() + " --api-url https://127.0.0.1:" + port +
                             " --message hi");
    EXPECT_EQ(wrong_host->exit_code(), 1);
    EXPECT_NE(wrong_host->stderr_text().find("TLS handshake failed"), std::string::npos) << wrong_host->stderr_text();
}

TEST_F(SessionCli, ExitCodesAndOneLineErrors) {
    const int port = test_support::free_tcp_port();
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    auto missing = run_sh("CENTAUR_API_URL=" + url + " " + cli() + " --message hi");
    EXPECT_EQ(missing->exit_code(), 1);
    const auto err = lines_of(missing->stderr_text());
    ASSERT_EQ(err.size(), 2u) << missing->stderr_text();  // thread_key=… then the error
    EXPECT_NE(err[1].find(url), std::string::npos) << err[1];

    auto both = run_sh(cli() + " --tui --stdin-events");
    EXPECT_EQ(both->exit_code(), 2);
    EXPECT_EQ(lines_of(both->stderr_text()).front(), "Error: --tui cannot be used with --stdin-events");
    auto attach_message = run_sh(cli() + " --attach --thread-key cli:0123456789abcdef0123456789abcdef --message hi");
    EXPECT_EQ(attach_message->exit_code(), 2);
    EXPECT_EQ(lines_of(attach_message->stderr_text()).front(), "Error: --attach cannot be used with --message or --input-line");
    auto no_tty = run_sh(cli() + " --tui --attach --thread-key cli:0123456789abcdef0123456789abcdef </dev/null");
    EXPECT_EQ(no_tty->exit_code(), 1);
    EXPECT_EQ(lines_of(no_tty->stderr_text()), std::vector<std::string>{"Error: --tui needs a terminal on stdin and stdout"});
}

}  // namespace
}  // namespace centaur::e2e
