// --tui: the ncurses front end. The model (Transcript, InputEditor) is pure and unit-tested; this file only
// draws it, maps keys, and runs the stream and the requests on one io_context thread (the main thread).
#include "tui.hpp"

#include "event_stream.hpp"
#include "input_editor.hpp"
#include "requests.hpp"
#include "stdin_commands.hpp"
#include "transcript.hpp"

#include <centaur/schemas/ids.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#define NCURSES_NOMACROS 1  // curses macros (clear, move, erase…) would rewrite member calls
#include <curses.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <clocale>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>

namespace centaur::cli {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// ---- terminal restore, also from signal handlers ------------------------------------------------------

/// State the crash path needs, prepared before the first draw so the handler only calls
/// async-signal-safe functions (write, tcsetattr, fcntl, signal, raise).
struct SavedTerminal {
    termios attributes{};
    int stdin_flags = 0;
    char reset[256] = {};  ///< sgr0 + rmkx + rmcup + cnorm of the terminal, then CR LF
    std::size_t reset_length = 0;
};
SavedTerminal g_saved;
volatile std::sig_atomic_t g_terminal_active = 0;

constexpr int kCrashSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

void emergency_restore() {
    if (!g_terminal_active) return;
    g_terminal_active = 0;
    std::size_t done = 0;
    while (done < g_saved.reset_length) {
        const ssize_t n = ::write(STDOUT_FILENO, g_saved.reset + done, g_saved.reset_length - done);
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
    }
    ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved.attributes);
    ::fcntl(STDIN_FILENO, F_SETFL, g_saved.stdin_flags);
}

extern "C" void crash_handler(int signal_number) {
    emergency_restore();
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
}

void append_reset(const char* value) {
    const std::size_t length = std::strlen(value);
    if (g_saved.reset_length + length >= sizeof g_saved.reset) return;
    std::memcpy(g_saved.reset + g_saved.reset_length, value, length);
    g_saved.reset_length += length;
}

void append_capability(const char* name) {
    char* value = tigetstr(const_cast<char*>(name));
    if (value == nullptr || value == reinterpret_cast<char*>(-1)) return;
    append_reset(value);
}

void write_all(const char* text) {
    std::size_t done = 0, length = std::strlen(text);
    while (done < length) {
        const ssize_t n = ::write(STDOUT_FILENO, text + done, length - done);
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
    }
}

constexpr const char* kBracketedPasteOn = "\033[?2004h";
constexpr const char* kBracketedPasteOff = "\033[?2004l";

/// Owns curses mode for the TUI's lifetime: enters it in the constructor, leaves it in restore() / the
/// destructor, and arms the crash handlers, std::terminate and atexit in between.
class TerminalGuard {
public:
    TerminalGuard() {
        ::tcgetattr(STDIN_FILENO, &g_saved.attributes);
        g_saved.stdin_flags = ::fcntl(STDIN_FILENO, F_GETFL);
        std::setlocale(LC_ALL, "");
        // newterm, unlike initscr, returns instead of exiting when the terminal type is unusable.
        screen_ = newterm(nullptr, stdout, stdin);
        if (screen_ == nullptr) {
            const char* term = std::getenv("TERM");
            throw std::runtime_error(std::string("--tui cannot drive terminal type '") + (term ? term : "") +
                                     "' (set TERM)");
        }
        g_saved.reset_length = 0;
        append_reset("\033[?2004l");  // bracketed paste off
        append_capability("sgr0");
        append_capability("rmkx");
        append_capability("rmcup");
        append_capability("cnorm");
        const char crlf[] = "\r\n";
        std::memcpy(g_saved.reset + g_saved.reset_length, crlf, 2);
        g_saved.reset_length += 2;
        g_terminal_active = 1;
        for (int s : kCrashSignals) std::signal(s, crash_handler);
        previous_terminate_ = std::set_terminate([] {
            emergency_restore();
            std::abort();
        });
        static bool at_exit_registered = false;
        if (!at_exit_registered) std::atexit(emergency_restore);
        at_exit_registered = true;

        raw();
        noecho();
        nonl();
        keypad(stdscr, TRUE);
        nodelay(stdscr, TRUE);
        set_escdelay(25);
        write_all(kBracketedPasteOn);
        if (has_colors()) {
            start_color();
            use_default_colors();
            init_pair(1, COLOR_GREEN, -1);
            init_pair(2, COLOR_YELLOW, -1);
            init_pair(3, COLOR_CYAN, -1);
            init_pair(4, COLOR_RED, -1);
            init_pair(5, COLOR_MAGENTA, -1);
        }
    }
    ~TerminalGuard() { restore(); }
    TerminalGuard(const TerminalGuard&) = delete;
    TerminalGuard& operator=(const TerminalGuard&) = delete;

    void restore() {
        if (!g_terminal_active) return;
        write_all(kBracketedPasteOff);
        endwin();
        delscreen(screen_);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved.attributes);
        ::fcntl(STDIN_FILENO, F_SETFL, g_saved.stdin_flags);
        g_terminal_active = 0;
        std::set_terminate(previous_terminate_);
    }

private:
    SCREEN* screen_ = nullptr;
    std::terminate_handler previous_terminate_ = nullptr;
};

// ---- the application -----------------------------------------------------------------------------------

constexpr const char* kInterruptReason = "interrupted from centaur-session-cli";
constexpr const char* kHelp =
    "Enter send | Ctrl-J/Alt-Enter newline | Up/Down history | Ctrl-X interrupt | PgUp/PgDn scroll | "
    "F2 raw events | F3 all events | Ctrl-O output | Ctrl-D quit | /help";
constexpr int kMaxInputRows = 6;
constexpr int kMinRows = 8;
constexpr int kMinColumns = 20;
constexpr std::size_t kMaxEscapeLength = 16;

attr_t style_attr(TranscriptLine::Style style) {
    using S = TranscriptLine::Style;
    const bool color = has_colors();
    switch (style) {
    case S::user: return (color ? COLOR_PAIR(1) : 0) | A_BOLD;
    case S::agent: return A_NORMAL;
    case S::command: return color ? COLOR_PAIR(2) : A_BOLD;
    case S::output: return A_DIM;
    case S::system: return color ? COLOR_PAIR(3) : A_NORMAL;
    case S::error: return (color ? COLOR_PAIR(4) : 0) | A_BOLD;
    case S::detail: return A_DIM;
    }
    return A_NORMAL;
}

/// At most `columns` code points of `text`.
std::string clip(const std::string& text, int columns) {
    std::size_t pos = 0;
    int seen = 0;
    while (pos < text.size()) {
        if ((static_cast<unsigned char>(text[pos]) & 0xC0) != 0x80) {
            if (seen == columns) break;
            ++seen;
        }
        ++pos;
    }
    return text.substr(0, pos);
}

void put_line(int row, const std::string& text, attr_t attr = A_NORMAL) {
    move(row, 0);
    clrtoeol();
    attron(attr);
    const std::string clipped = clip(text, COLS);
    addnstr(clipped.c_str(), static_cast<int>(clipped.size()));
    attroff(attr);
}

std::string encode_utf8(wint_t c) {
    std::string out;
    const auto u = static_cast<std::uint32_t>(c);
    if (u < 0x80) {
        out.push_back(static_cast<char>(u));
    } else if (u < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (u >> 6)));
        out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    } else if (u < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (u >> 12)));
        out.push_back(static_cast<char>(0x80 | ((u >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (u >> 18)));
        out.push_back(static_cast<char>(0x80 | ((u >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((u >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    }
    return out;
}

std::string field(const json::value& v, std::string_view key) {
    const auto* f = v.is_object() ? v.as_object().if_contains(key) : nullptr;
    if (!f) return "";
    return f->is_string() ? std::string(f->as_string()) : json::serialize(*f);
}

class TuiApp {
public:
    TuiApp(asio::io_context& io, const Options& options, std::string key, std::set<std::string> own)
        : io_(io),
          o_(options),
          key_(std::move(key)),
          api_(o_.api_url, o_.api_token),
          own_executions_(std::move(own)),
          show_raw_(o_.debug),
          all_events_(o_.all_events),
          input_(io, ::dup(STDIN_FILENO)),
          signals_(io, SIGWINCH, SIGTERM, SIGHUP) {
        signals_.add(SIGINT);
        status_line_ = "thread " + key_ + " — type a message and press Enter; /help for keys";
    }

    int run() {
        asio::co_spawn(io_, read_keys(), asio::detached);
        asio::co_spawn(io_, stream(), asio::detached);
        wait_signal();
        draw();
        io_.run();
        return exit_code_.value_or(0);
    }

private:
    // -- lifecycle ---------------------------------------------------------------------------------

    void quit(int code) {
        if (exit_code_) return;
        exit_code_ = code;
        boost::system::error_code ignored;
        input_.cancel(ignored);
        signals_.cancel(ignored);
        io_.stop();
    }

    void wait_signal() {
        signals_.async_wait([this](const boost::system::error_code& ec, int signal_number) {
            if (ec) return;
            if (signal_number == SIGWINCH) {
                winsize size{};
                if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0)
                    resize_term(size.ws_row, size.ws_col);
                clear();
                request_draw();
                wait_signal();
                return;
            }
            quit(128 + signal_number);
        });
    }

    void request_draw() {
        if (draw_posted_) return;
        draw_posted_ = true;
        asio::post(io_, [this] {
            draw_posted_ = false;
            if (!exit_code_) draw();
        });
    }

    // -- the event stream --------------------------------------------------------------------------

    asio::awaitable<void> stream() {
        FollowOptions follow{o_.after_event_id, std::chrono::milliseconds(o_.reconnect_timeout_ms)};
        std::function<bool(const SseEvent&)> on_event = [this](const SseEvent& e) { return on_stream_event(e); };
        std::function<void(const std::string&)> on_reconnect = [this](const std::string& why) {
            status_line_ = "stream: " + why;
            request_draw();
        };
        try {
            co_await follow_events(api_, key_, follow, std::move(on_event), std::move(on_reconnect));
        } catch (const std::exception& e) {
            transcript_.add_error(e.what());
            status_line_ = std::string("error: ") + e.what();
            request_draw();
        }
    }

    bool on_stream_event(const SseEvent& e) {
        transcript_.on_event(e);
        request_draw();
        if (e.event == "session.output.line" && o_.exit_on_output_type) {
            json::error_code ec;
            auto line = json::parse(e.data, ec);
            if (!ec && field(line, "type") == *o_.exit_on_output_type) {
                quit(0);
                return false;
            }
        }
        if (o_.exit_on_terminal && is_terminal_event(e.event)) {
            json::error_code ec;
            const std::string exe = field(json::parse(e.data, ec), "execution_id");
            if (o_.attach || own_executions_.contains(exe)) {
                quit(0);
                return false;
            }
            terminal_seen_.insert(exe);
        }
        return true;
    }

    // -- keys ---------------------------------------------------------------------------------------

    asio::awaitable<void> read_keys() {
        for (;;) {
            auto [ec] = co_await input_.async_wait(asio::posix::descriptor_base::wait_read,
                                                   asio::as_tuple(asio::use_awaitable));
            if (ec || exit_code_) co_return;
            wint_t ch = 0;
            for (int kind = get_wch(&ch); kind != ERR; kind = get_wch(&ch)) {
                on_key(ch, kind == KEY_CODE_YES);
                if (exit_code_) co_return;
            }
            request_draw();
        }
    }

    /// Escape sequences ncurses does not know arrive as ESC and then plain characters: Alt-Enter
    /// (ESC CR) adds a line, ESC [200~ … ESC [201~ is a bracketed paste (its line breaks never send),
    /// any other sequence is dropped.
    bool on_escape_sequence(wint_t ch, bool is_key_code) {
        if (!escape_) return false;
        if (is_key_code) {
            escape_.reset();
            return false;
        }
        if (escape_->empty() && ch != '[') {
            escape_.reset();
            if (ch == '\r' || ch == '\n') {
                editor_.newline();
                return true;
            }
            return false;  // Alt-<key>: handle the key itself
        }
        escape_->push_back(static_cast<char>(ch));
        const bool ended = escape_->size() > 1 && !(ch >= '0' && ch <= '9') && ch != ';';
        if (!ended && escape_->size() < kMaxEscapeLength) return true;
        if (*escape_ == "[200~") pasting_ = true;
        else if (*escape_ == "[201~") pasting_ = false;
        escape_.reset();
        return true;
    }

    void on_key(wint_t ch, bool is_key_code) {
        if (on_escape_sequence(ch, is_key_code)) return;
        if (!is_key_code && ch == 27) {
            escape_.emplace();
            return;
        }
        if (pasting_ && !is_key_code) {
            if (ch == '\r' || ch == '\n') editor_.newline();
            else if (ch == '\t' || ch >= 32) editor_.insert(encode_utf8(ch));
            return;
        }
        if (is_key_code) {
            switch (ch) {
            case KEY_ENTER: return submit();
            case KEY_BACKSPACE: return editor_.backspace();
            case KEY_DC: return editor_.delete_forward();
            case KEY_LEFT: return editor_.left();
            case KEY_RIGHT: return editor_.right();
            case KEY_HOME: return editor_.home();
            case KEY_END: return editor_.end();
            case KEY_UP: return editor_.up();
            case KEY_DOWN: return editor_.down();
            case KEY_PPAGE: return scroll_by(std::max(body_rows_ / 2, 1));
            case KEY_NPAGE: return scroll_by(-std::max(body_rows_ / 2, 1));
            case KEY_SR: return scroll_by(1);
            case KEY_SF: return scroll_by(-1);
            case KEY_F(2): return toggle(show_raw_, "raw events");
            case KEY_F(3): return toggle(all_events_, "all events");
            case KEY_RESIZE: clear(); return;
            default: return;
            }
        }
        switch (ch) {
        case '\r': return submit();
        case '\n': return editor_.newline();                     // Ctrl-J
        case 3: return quit(0);                                  // Ctrl-C
        case 4:                                                  // Ctrl-D
            if (editor_.text().empty()) return quit(0);
            return editor_.delete_forward();
        case 1: return editor_.home();                           // Ctrl-A
        case 5: return editor_.end();                            // Ctrl-E
        case 21: return editor_.clear();                         // Ctrl-U
        case 23: return editor_.delete_word();                   // Ctrl-W
        case 24: return interrupt();                             // Ctrl-X
        case 15: return toggle(expand_output_, "command output");  // Ctrl-O
        case 12: clearok(curscr, TRUE); return;                  // Ctrl-L
        case 8:
        case 127: return editor_.backspace();
        default:
            if (ch >= 32) editor_.insert(encode_utf8(ch));
        }
    }

    void toggle(bool& flag, const char* what) {
        flag = !flag;
        status_line_ = std::string(what) + (flag ? " shown" : " hidden");
    }

    void scroll_by(int lines) { scroll_ = std::max(scroll_ + lines, 0); }

    // -- commands -----------------------------------------------------------------------------------

    void submit() {
        auto text = editor_.submit();
        if (!text) return;
        if (*text == "/quit" || *text == "/exit") return quit(0);
        if (*text == "/help") {
            status_line_ = kHelp;
            return;
        }
        if (*text == "/debug") return toggle(show_raw_, "raw events");
        if (*text == "/all") return toggle(all_events_, "all events");
        if (*text == "/clear") {
            transcript_.clear();
            return;
        }
        if (*text == "/interrupt") return interrupt();
        auto command = parse_stdin_command(*text);
        if (auto* u = std::get_if<Unknown>(&command)) {
            status_line_ = "unknown command " + u->command + " (try /help)";
            return;
        }
        if (auto* bad = std::get_if<Invalid>(&command)) {
            status_line_ = "error: " + bad->error;
            return;
        }
        if (std::holds_alternative<Quit>(command)) return quit(0);
        if (auto* m = std::get_if<SendMessage>(&command)) {
            const std::string client_id = "cli-" + EventUuid::random().hex();
            transcript_.add_local_user_message(m->text, client_id);
            scroll_ = 0;
            status_line_ = "sending message";
            enqueue(Outgoing{m->text, client_id, {}});
        } else if (auto* lines = std::get_if<ExecuteLines>(&command)) {
            transcript_.add_system("sending " + std::to_string(lines->lines.size()) + " raw input line(s)");
            status_line_ = "sending input lines";
            enqueue(Outgoing{std::nullopt, {}, lines->lines});
        }
    }

    /// One submitted message (append, then execute its user line) or raw execution.
    struct Outgoing {
        std::optional<std::string> message;
        std::string client_message_id;
        std::vector<std::string> lines;
    };

    /// Requests go out one at a time in submission order, so quick successive messages keep their order.
    void enqueue(Outgoing item) {
        outbox_.push_back(std::move(item));
        if (sending_) return;
        sending_ = true;
        asio::co_spawn(io_, drain_outbox(), asio::detached);
    }

    asio::awaitable<void> drain_outbox() {
        while (!outbox_.empty() && !exit_code_) {
            Outgoing item = std::move(outbox_.front());
            outbox_.pop_front();
            if (item.message) co_await send_message(std::move(*item.message), std::move(item.client_message_id));
            else co_await execute(std::move(item.lines));
        }
        sending_ = false;
    }

    asio::awaitable<void> send_message(std::string text, std::string client_id) {
        try {
            auto body = append_message_body(text, client_id);
            co_await api_.post(session_path(key_) + "/messages", std::move(body));
            std::vector<std::string> lines;
            lines.push_back(user_input_line(text));
            co_await execute(std::move(lines));
        } catch (const std::exception& e) {
            report_error(e.what());
        }
    }

    asio::awaitable<void> execute(std::vector<std::string> lines) {
        try {
            auto body = execute_body(lines, o_.idle_timeout_ms, o_.max_duration_ms);
            auto answer = co_await api_.post(session_path(key_) + "/execute", std::move(body));
            const std::string exe = field(answer, "execution_id");
            own_executions_.insert(exe);
            status_line_ = "execution " + exe + " " + field(answer, "status");
            request_draw();
            if (o_.exit_on_terminal && terminal_seen_.contains(exe)) quit(0);
        } catch (const std::exception& e) {
            report_error(e.what());
        }
    }

    void interrupt() {
        status_line_ = "interrupting";
        asio::co_spawn(io_, send_interrupt(), asio::detached);
    }

    asio::awaitable<void> send_interrupt() {
        try {
            auto body = interrupt_body(kInterruptReason);
            auto answer = co_await api_.post(session_path(key_) + "/interrupt", std::move(body));
            const auto* interrupted = answer.is_object() ? answer.as_object().if_contains("interrupted") : nullptr;
            status_line_ = interrupted && interrupted->is_bool() && interrupted->as_bool()
                               ? "interrupt sent to " + field(answer, "execution_id")
                               : "nothing to interrupt";
            request_draw();
        } catch (const std::exception& e) {
            report_error(e.what());
        }
    }

    void report_error(const std::string& what) {
        transcript_.add_error(what);
        status_line_ = "error: " + what;
        request_draw();
    }

    // -- drawing ------------------------------------------------------------------------------------

    void draw() {
        erase();
        if (LINES < kMinRows || COLS < kMinColumns) {
            put_line(0, "terminal too small");
            refresh();
            return;
        }
        const auto& st = transcript_.status();
        // Status first, so a narrow terminal clips the thread key rather than the state.
        std::string header = " Centaur Session  exec:" + st.execution;
        if (!st.execution_id.empty()) header += " " + st.execution_id.substr(0, std::min<std::size_t>(st.execution_id.size(), 12));
        header += "  sandbox:" + st.sandbox + "  event:" + st.last_event_id.value_or("-");
        if (all_events_) header += "  [all]";
        if (show_raw_) header += "  [raw]";
        header += "  " + key_;
        put_line(0, header, (has_colors() ? COLOR_PAIR(3) : 0) | A_BOLD);
        put_line(1, " " + std::string(kHelp), A_DIM);

        // The input box grows with its lines up to kMaxInputRows.
        const std::string& text = editor_.text();
        const int input_lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
        const int input_rows = std::clamp(input_lines, 1, kMaxInputRows);
        const int status_row = LINES - 1;
        const int input_top = status_row - input_rows;
        const int input_rule = input_top - 1;
        const int body_top = 3;
        const int body_bottom = input_rule;  // exclusive
        mvhline(2, 0, ACS_HLINE, COLS);
        mvhline(input_rule, 0, ACS_HLINE, COLS);
        mvaddstr(input_rule, 2, " input ");

        int transcript_rows = body_bottom - body_top;
        if (show_raw_ && transcript_rows >= 6) {
            const int raw_rows = transcript_rows * 2 / 5;
            transcript_rows -= raw_rows;
            const int raw_rule = body_top + transcript_rows;
            mvhline(raw_rule, 0, ACS_HLINE, COLS);
            mvaddstr(raw_rule, 2, " raw events ");
            const auto& raw = transcript_.raw_events();
            const int rows = raw_rows - 1;
            const auto first = raw.size() > static_cast<std::size_t>(rows) ? raw.size() - static_cast<std::size_t>(rows) : 0;
            for (std::size_t i = first; i < raw.size(); ++i)
                put_line(raw_rule + 1 + static_cast<int>(i - first), raw[i], A_DIM);
        }
        body_rows_ = transcript_rows;
        draw_transcript(body_top, transcript_rows);
        draw_input(input_top, input_rows);
        std::string status = status_line_;
        if (scroll_ > 0) status = "[scrolled up " + std::to_string(scroll_) + " lines, PgDn to follow] " + status;
        put_line(status_row, status, A_DIM);
        place_cursor(input_top, input_rows);
        refresh();
    }

    void draw_transcript(int top, int rows) {
        RenderOptions options{.width = COLS, .all_events = all_events_, .expand_output = expand_output_};
        const auto lines = transcript_.render(options);
        const int total = static_cast<int>(lines.size());
        // Keep a scrolled-back view still while new lines arrive below it.
        if (scroll_ > 0 && total > rendered_total_) scroll_ += total - rendered_total_;
        rendered_total_ = total;
        scroll_ = std::clamp(scroll_, 0, std::max(total - rows, 0));
        const int last = total - scroll_;  // exclusive
        const int first = std::max(last - rows, 0);
        for (int i = first; i < last; ++i)
            put_line(top + (i - first), lines[static_cast<std::size_t>(i)].text, style_attr(lines[static_cast<std::size_t>(i)].style));
    }

    /// Input lines shown with "> " / "  " prefixes, scrolled so the cursor's line and column are visible.
    void draw_input(int top, int rows) {
        const auto [cursor_line, cursor_column] = editor_.cursor_line_column();
        std::vector<std::string> lines;
        std::string_view rest(editor_.text());
        for (;;) {
            auto nl = rest.find('\n');
            lines.emplace_back(rest.substr(0, nl));
            if (nl == std::string_view::npos) break;
            rest.remove_prefix(nl + 1);
        }
        input_first_line_ = cursor_line >= static_cast<std::size_t>(rows) ? cursor_line - static_cast<std::size_t>(rows) + 1 : 0;
        const int room = COLS - 3;
        input_offset_ = cursor_column >= static_cast<std::size_t>(room) ? cursor_column - static_cast<std::size_t>(room) + 1 : 0;
        for (int r = 0; r < rows; ++r) {
            const std::size_t index = input_first_line_ + static_cast<std::size_t>(r);
            if (index >= lines.size()) break;
            std::string shown = lines[index];
            std::size_t skip = 0, pos = 0;
            while (pos < shown.size() && skip < input_offset_) {
                ++pos;
                while (pos < shown.size() && (static_cast<unsigned char>(shown[pos]) & 0xC0) == 0x80) ++pos;
                ++skip;
            }
            put_line(top + r, (index == 0 ? "> " : "  ") + shown.substr(pos));
        }
    }

    void place_cursor(int top, int rows) {
        const auto [line, column] = editor_.cursor_line_column();
        const int row = top + std::clamp(static_cast<int>(line - input_first_line_), 0, rows - 1);
        const int col = 2 + static_cast<int>(column - input_offset_);
        move(row, std::min(col, COLS - 1));
        curs_set(1);
    }

    asio::io_context& io_;
    const Options& o_;
    std::string key_;
    ApiClient api_;
    Transcript transcript_;
    InputEditor editor_;
    std::set<std::string> own_executions_;
    std::set<std::string> terminal_seen_;
    bool show_raw_;
    bool all_events_;
    bool expand_output_ = false;
    std::deque<Outgoing> outbox_;
    bool sending_ = false;
    std::optional<std::string> escape_;  ///< characters after an ESC while a sequence is being read
    bool pasting_ = false;
    bool draw_posted_ = false;
    int scroll_ = 0;
    int rendered_total_ = 0;
    int body_rows_ = 1;
    std::size_t input_first_line_ = 0;
    std::size_t input_offset_ = 0;
    std::string status_line_;
    std::optional<int> exit_code_;
    asio::posix::stream_descriptor input_;
    asio::signal_set signals_;
};

}  // namespace

int run_tui(const Options& options, const std::string& thread_key, std::set<std::string> own_executions) {
    if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO))
        throw std::runtime_error("--tui needs a terminal on stdin and stdout");
    asio::io_context io;
    TerminalGuard terminal;
    int code = 0;
    {
        TuiApp app(io, options, thread_key, std::move(own_executions));
        code = app.run();
    }
    terminal.restore();
    return code;
}

}  // namespace centaur::cli
