#pragma once
// The session processor: one writer per thread. Consumes the thread's events, runs the execution state machine
// (queue, one active execution, steering, interrupt, idle pause, max duration) and the thread's sandbox, and
// appends what happened (execution_started, sandbox_ready, one output.line per stdout line, first_token, exactly
// one terminal event per execution, …).

#include <centaur/core/drain_board.hpp>
#include <centaur/core/event_log.hpp>
#include <centaur/core/readiness.hpp>
#include <centaur/core/sandbox.hpp>
#include <centaur/processors/sandbox_probe.hpp>
#include <centaur/processors/session_probe.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

namespace centaur::processors {

struct ProcessorOptions {
    std::chrono::milliseconds poll_wait{200};  ///< how long one log poll blocks when caught up
    std::size_t max_batch = 1000;              ///< records handed to the io_context at once
    std::string group = "centaur-processor";   ///< consumer group of the log (processors split partitions)
    /// SESSION_SANDBOX_HOT_IDLE_GRACE_SECS: a sandbox paused for idleness is stopped and destroyed this long
    /// after the pause (session.sandbox_stopped, reason hot_idle_grace); 0 keeps it paused until reused.
    std::chrono::seconds hot_idle_grace{0};
    SessionProbe* session_probe = nullptr;  ///< executions, turns, threads (optional; outlives the processor)
    SandboxProbe* sandbox_probe = nullptr;  ///< sandbox operations (optional; outlives the processor)
};

/// Partitions: the processor is one member of the log's consumer group `group`; it owns the threads of the
/// partitions assigned to it. On assignment it re-reads each partition from its beginning (a thread's state is
/// the fold of its events); on revocation it drops the partition's threads and stops their sandboxes before
/// the revoke returns, so the next owner starts from the log alone.
/// Recovery: per partition, it folds the log without side effects until it has caught up, then fails every
/// execution that was running when the previous process died ("orphaned"), starts queued ones and goes live.
/// Its own events come back from the log and are recognised by uuid; events of an earlier incarnation are
/// folded. Terminal, start and ready events carry uuids derived from the execution id, so a second writer's
/// copy is the same event.
///
/// Threads: a reader thread polls the log and hands each batch to the io_context (waiting until it is
/// handled); all state lives on the io_context thread. Lifecycle: construct, `start()`, `co_await stop()` on the
/// io_context (stops the reader and every sandbox). Reports "processor" readiness once caught up.
class SessionProcessor {
public:
    SessionProcessor(boost::asio::io_context& io, EventLog& log, SandboxBackend& sandboxes, ProcessorOptions options,
                     Readiness* readiness);
    ~SessionProcessor();
    SessionProcessor(const SessionProcessor&) = delete;
    SessionProcessor& operator=(const SessionProcessor&) = delete;

    void start();
    boost::asio::awaitable<void> stop();

    /// Drain `drain_id`: stops every sandbox of this member's threads and the backend's idle ones. A running
    /// execution ends with exactly one session.execution_failed {reason: drained, drain_id}; every stopped
    /// sandbox is a session.sandbox_stopped {reason: drained, detail: "drain <id>"}; queued executions start
    /// afterwards on fresh sandboxes. Completes once the sandboxes are gone. io_context thread.
    boost::asio::awaitable<DrainReport> drain_sandboxes(std::int64_t drain_id);

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

/// Adds `thread_key`, `trace_id` and `traceparent` to a JSON-object input line, keeping keys already present.
/// Other lines come back unchanged.
std::string enrich_input_line(const std::string& line, const std::string& thread_key);

}  // namespace centaur::processors
