#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace centaur::cli {

/// One dispatched Server-Sent Event.
struct SseEvent {
    std::optional<std::string> id;  ///< the `id:` of this frame; nullopt when the frame had none
    std::string event = "message";  ///< `event:` name
    std::string data;               ///< `data:` lines joined with '\n'
};

/// Incremental parser of a `text/event-stream` body (WHATWG rules: lines end in LF, CRLF or CR; a blank
/// line dispatches; `:` lines are comments; one leading space after the colon is dropped; a frame with no
/// data is not dispatched). Bytes may arrive split anywhere, including inside a CRLF pair.
/// Not thread-safe: one owner feeds it.
class SseParser {
public:
    using Handler = std::function<void(const SseEvent&)>;

    explicit SseParser(Handler on_event) : on_event_(std::move(on_event)) {}

    void feed(std::string_view bytes);
    /// The stream's last `retry:` value in milliseconds, if any was sent.
    std::optional<long> retry_ms() const { return retry_ms_; }

private:
    void line(std::string_view text);

    Handler on_event_;
    std::string partial_;
    bool skip_lf_ = false;
    bool has_data_ = false;
    SseEvent frame_;
    std::optional<long> retry_ms_;
};

}  // namespace centaur::cli
