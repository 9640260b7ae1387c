#include <centaur/core/fault_point.hpp>
#include <centaur/core/logging.hpp>
#include <centaur/core/metric_labels.hpp>
#include <centaur/processors/redaction.hpp>
#include <centaur/processors/session_processor.hpp>
#include <centaur/processors/thread_state.hpp>
#include <centaur/processors/turn_tracker.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/partitioner.hpp>
#include <centaur/schemas/payloads.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace centaur::processors {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto component = "processor";
constexpr auto handoff_check = 100ms;

std::int64_t millis_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

void log_exception(std::exception_ptr e, const char* what) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        spdlog::error("processor: {} failed: {}", what, ex.what());
    }
}

}  // namespace

std::string enrich_input_line(const std::string& line, const std::string& thread_key) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) return line;
    auto& o = v.as_object();
    const std::string trace_id = EventUuid::derived("centaur:thread:" + thread_key).hex();
    if (!o.contains("thread_key")) o["thread_key"] = thread_key;
    if (!o.contains("trace_id")) o["trace_id"] = trace_id;
    if (!o.contains("traceparent")) o["traceparent"] = "00-" + trace_id + "-" + EventUuid::random().hex().substr(0, 16) + "-01";
    return json::serialize(v);
}

/// Per thread: the folded state plus what only lives while this process runs (sandbox, timers, stdin queue).
struct Thread {
    Thread(asio::io_context& io, ThreadKey k, std::int32_t p)
        : key(std::move(k)), partition(p), max_timer(io), idle_timer(io), hot_idle_timer(io) {}
    ThreadKey key;
    std::int32_t partition;
    ThreadState state;
    std::shared_ptr<Sandbox> sandbox;
    bool sandbox_ready = false;          ///< stdin may be written
    std::deque<std::string> outbox;      ///< lines waiting for stdin, in order
    bool writer_running = false;
    std::unique_ptr<TurnTracker> tracker;
    bool first_token_sent = false;
    Clock::time_point started_at;
    std::optional<Clock::time_point> metered_start;  ///< start of the active execution, when this process started it
    std::string turn_execution_id;                ///< the execution this process started (for its turn log line)
    std::optional<std::int64_t> turn_first_event_id;  ///< event id of its session.execution_started
    std::uint64_t generation = 0;        ///< bumped per execution start; stale coroutines compare it
    /// The active execution while it runs on a sandbox kept from an earlier turn and nothing of it has reached
    /// that sandbox (no line written) or come back (no output): if the sandbox turns out gone meanwhile, the
    /// execution starts over once in a new sandbox with `turn_lines` instead of failing (start_over).
    std::optional<ExecutionPlan> second_chance;
    std::deque<std::string> turn_lines;  ///< every stdin line of that execution so far, in order
    asio::steady_timer max_timer;
    asio::steady_timer idle_timer;
    asio::steady_timer hot_idle_timer;  ///< paused sandbox -> stopped after the hot idle grace
};

struct SessionProcessor::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::io_context& io_, EventLog& log_, SandboxBackend& sandboxes_, ProcessorOptions options_,
         Readiness* readiness_)
        : io(io_), log(log_), sandboxes(sandboxes_), options(options_), readiness(readiness_) {}

    asio::io_context& io;
    EventLog& log;
    SandboxBackend& sandboxes;
    ProcessorOptions options;
    Readiness* readiness;

    // Reader thread state.
    std::unique_ptr<LogReader> reader;
    std::thread reader_thread;
    std::atomic<bool> stopping{false};

    // io_context state.
    std::unordered_set<std::int32_t> assigned;  ///< partitions this member owns
    std::unordered_set<std::int32_t> live;      ///< owned partitions folded up to their end: side effects on
    bool assignment_seen = false;
    std::unordered_map<std::string, std::shared_ptr<Thread>> threads;
    std::unordered_set<EventUuid> pending_own;  ///< uuids appended by us whose echo has not come back

    template <typename F>
    void spawn(F&& make_awaitable, const char* what) {
        asio::co_spawn(io, std::forward<F>(make_awaitable), [what](std::exception_ptr e) { log_exception(e, what); });
    }

    // ---- reader thread ------------------------------------------------------------------------------------

    void read_loop() {
        while (!stopping) {
            auto polled = reader->poll(options.poll_wait, options.max_batch);
            if (!polled || polled->empty()) continue;  // on error the reader logged and backed off
            hand_over(std::move(*polled));
        }
    }

    ReaderOptions reader_options() {
        ReaderOptions o;
        o.group = options.group;
        // Reader thread. A thread's state is the fold of all its events: re-read assigned partitions from the start.
        o.on_assigned = [this](const PartitionList& partitions) {
            for (auto p : partitions) reader->seek(p, LogOffset(0));
            run_on_io([self = shared_from_this(), partitions] {
                self->assignment_seen = true;
                for (auto p : partitions) self->assigned.insert(p);
                self->update_readiness();
            });
        };
        o.on_revoked = [this](const PartitionList& partitions) {
            run_on_io([self = shared_from_this(), partitions] { self->on_revoked(partitions); });
        };
        o.on_caught_up = [this](std::int32_t partition) {
            run_on_io([self = shared_from_this(), partition] { self->on_caught_up(partition); });
        };
        return o;
    }

    /// Runs `f` on the io_context and waits until it ran (or the processor stops). Reader thread.
    template <typename F>
    void run_on_io(F f) {
        auto done = std::make_shared<std::pair<std::mutex, std::condition_variable>>();
        auto finished = std::make_shared<bool>(false);
        asio::post(io, [f = std::move(f), done, finished]() mutable {
            f();
            std::lock_guard lock(done->first);
            *finished = true;
            done->second.notify_one();
        });
        std::unique_lock lock(done->first);
        while (!*finished && !stopping) done->second.wait_for(lock, handoff_check);
    }

    /// Hands the batch to the io_context and waits until it was handled, so the reader never runs ahead.
    void hand_over(std::vector<LogRecord> batch) {
        run_on_io([self = shared_from_this(), batch = std::move(batch)] {
            for (const auto& r : batch) self->handle(r);
            if (auto* probe = self->options.session_probe) probe->threads.Set(static_cast<double>(self->threads.size()));
        });
    }

    // ---- io_context: consuming -------------------------------------------------------------------------------

    std::shared_ptr<Thread> thread_for(const ThreadKey& key) {
        auto& t = threads[key.str()];
        if (!t) t = std::make_shared<Thread>(io, key, partition_for_key(key.str(), log.partitions()));
        return t;
    }

    void handle(const LogRecord& record) {
        const auto& e = record.envelope;
        auto t = thread_for(e.thread_key);
        if (e.source == EventSource::processor) {
            if (pending_own.erase(e.event_uuid)) return;  // our own event: applied when we decided it
            t->state.apply(e);                             // an earlier incarnation's: fold it
            return;
        }
        const std::string harness_before = t->state.harness_type;
        const bool fresh = t->state.apply(e);
        if (!live.count(t->partition) || !fresh) return;

        if (e.event_type == event_type::session_created) {
            if (t->state.harness_type != harness_before && t->sandbox) {
                spdlog::info("thread {}: harness switched {} -> {}, stopping its sandbox", t->key.str(),
                             harness_before, t->state.harness_type);
                drop_sandbox(t, "harness_switched");
            }
        } else if (e.event_type == event_type::message_appended) {
            on_message(t, e);
        } else if (e.event_type == event_type::execution_requested) {
            start_next(t);
        } else if (e.event_type == event_type::interrupt_requested) {
            on_interrupt(t, e);
        }
    }

    /// `partition` is folded up to its end: fail what was running when its previous owner stopped, go live.
    void on_caught_up(std::int32_t partition) {
        if (!assigned.count(partition) || !live.insert(partition).second) return;
        std::size_t count = 0;
        for (auto& [key, t] : threads) {
            if (t->partition != partition) continue;
            ++count;
            if (t->state.active) {
                const auto id = t->state.active->execution_id;
                spdlog::warn("thread {}: execution {} was running when the previous process stopped", key, id);
                finish(t, id, TerminalKind::failed, "execution orphaned: the processor restarted mid-turn",
                       json::object{{"reason", "orphaned"}});
            }
            start_next(t);
        }
        spdlog::info("processor: caught up with partition {} ({} threads)", partition, count);
        update_readiness();
    }

    /// Drops the threads of revoked partitions: timers cancelled, sandboxes stopped; the next owner refolds.
    void on_revoked(const PartitionList& partitions) {
        for (auto p : partitions) {
            assigned.erase(p);
            live.erase(p);
        }
        for (auto it = threads.begin(); it != threads.end();) {
            auto& t = it->second;
            if (std::find(partitions.begin(), partitions.end(), t->partition) == partitions.end()) {
                ++it;
                continue;
            }
            t->max_timer.cancel();
            t->idle_timer.cancel();
            t->hot_idle_timer.cancel();
            ++t->generation;
            // Its execution goes on with the partition's next owner: no longer running here.
            if (t->metered_start && options.session_probe) options.session_probe->running_executions.Decrement();
            drop_sandbox(t);
            it = threads.erase(it);
        }
        if (options.session_probe) options.session_probe->threads.Set(static_cast<double>(threads.size()));
        spdlog::info("processor: partitions revoked ({})", partitions.size());
    }

    void update_readiness() {
        if (!readiness || !assignment_seen) return;
        for (auto p : assigned)
            if (!live.count(p)) return;
        readiness->set_ready(component);
    }

    // ---- io_context: appending ------------------------------------------------------------------------------

    /// Applies the event to the thread's state now, then appends it. `done` sees the append result.
    void emit(const std::shared_ptr<Thread>& t, std::string_view type, std::optional<std::string> execution_id,
              json::object payload, EventUuid uuid, AppendHandler done = {}) {
        EventEnvelope e{uuid, t->key, std::move(execution_id), std::string(type), json::value(std::move(payload)),
                        now_micros(), EventSource::processor};
        emit_envelope(t, std::move(e), std::move(done));
    }

    /// Metrics of an event the processor is about to apply and append (state before the event).
    void observe(const std::shared_ptr<Thread>& t, const EventEnvelope& e) {
        auto* probe = options.session_probe;
        if (!probe) return;
        const auto seconds_since = [](Clock::time_point at) {
            return std::chrono::duration<double>(Clock::now() - at).count();
        };
        if (e.event_type == event_type::execution_started) {
            t->metered_start = Clock::now();
            probe->running_executions.Increment();
        } else if (e.event_type == event_type::first_token && t->metered_start) {
            probe->first_token(t->state.harness_type, seconds_since(*t->metered_start));
        } else if (event_type::is_terminal(e.event_type)) {
            const bool active = t->state.active && e.execution_id && t->state.active->execution_id == *e.execution_id;
            double started = -1;
            double requested = -1;
            if (active && t->metered_start) {
                started = seconds_since(*t->metered_start);
                probe->running_executions.Decrement();
                if (t->state.active->requested_at_us > 0)
                    requested = static_cast<double>(now_micros() - t->state.active->requested_at_us) / 1e6;
            }
            if (active) t->metered_start.reset();
            const auto reason = json_get::string(e.payload, "reason").value_or("");
            probe->execution_ended(t->state.harness_type, e.event_type, reason, started, requested);
        }
    }

    void emit_envelope(const std::shared_ptr<Thread>& t, EventEnvelope e, AppendHandler done = {}) {
        observe(t, e);
        t->state.apply(e);
        pending_own.insert(e.event_uuid);
        const auto uuid = e.event_uuid;
        const std::string type = e.event_type;
        log.async_append(std::move(e), [self = shared_from_this(), uuid, type, done = std::move(done)](
                                           result<Appended> r) {
            if (!r) {
                spdlog::error("processor: append of {} failed: {}", type, r.error().message());
                self->pending_own.erase(uuid);
            } else if (r->duplicate) {
                self->pending_own.erase(uuid);  // the log already held it: no echo will come
            } else {
                // Durable, not yet read back: the processor's position is the log itself (a restart refolds
                // every owned partition from its start), so a death here must neither lose nor repeat the event.
                fault_point("after_append_before_checkpoint");
            }
            if (done) done(std::move(r));
        });
    }

    json::object base_payload(const std::shared_ptr<Thread>& t, const std::string& execution_id) {
        return json::object{{"execution_id", execution_id}, {"thread_key", t->key.str()}};
    }

    // ---- io_context: executions -----------------------------------------------------------------------------

    void start_next(const std::shared_ptr<Thread>& t) {
        if (!live.count(t->partition) || t->state.active || t->state.queue.empty()) return;
        const ExecutionPlan plan = t->state.queue.front();
        auto payload = base_payload(t, plan.execution_id);
        payload["input_line_count"] = plan.input_lines.size();
        payload["idle_timeout_ms"] = plan.idle_timeout_ms;
        payload["max_duration_ms"] = plan.max_duration_ms;
        t->turn_execution_id = plan.execution_id;
        t->turn_first_event_id.reset();
        emit(t, event_type::execution_started, plan.execution_id, std::move(payload),
             EventUuid::derived(plan.execution_id + "/started"), [t, id = plan.execution_id](result<Appended> r) {
                 if (r && t->turn_execution_id == id) t->turn_first_event_id = r->event_id.value;
             });
        const auto generation = ++t->generation;
        t->tracker = std::make_unique<TurnTracker>();
        t->first_token_sent = false;
        t->started_at = Clock::now();
        t->idle_timer.cancel();
        t->hot_idle_timer.cancel();
        if (plan.max_duration_ms > 0) arm_max_timer(t, plan, generation);
        spawn(run_execution(t, plan, generation), "execution start");
    }

    /// The spec of `t`'s sandbox; a create that waits on the running limit appends session.sandbox_queued
    /// {execution_id, thread_key, position, limit, running} while the execution is still current.
    SandboxSpec sandbox_spec(const std::shared_ptr<Thread>& t, const std::string& execution_id,
                             std::uint64_t generation) {
        SandboxSpec spec;
        spec.thread_key = t->key.str();
        spec.harness_type = t->state.harness_type;
        spec.on_queued = [self = shared_from_this(), t, execution_id, generation](
                             std::size_t position, std::uint32_t limit, std::uint32_t running) {
            if (!self->is_current(t, execution_id, generation)) return;
            auto payload = self->base_payload(t, execution_id);
            payload["position"] = position;
            payload["limit"] = limit;
            payload["running"] = running;
            self->emit(t, event_type::sandbox_queued, execution_id, std::move(payload),
                       EventUuid::derived(execution_id + "/sandbox_queued"));
        };
        return spec;
    }

    bool is_current(const std::shared_ptr<Thread>& t, const std::string& execution_id, std::uint64_t generation) {
        return t->state.active && t->state.active->execution_id == execution_id && t->generation == generation;
    }

    /// Brings up the execution's sandbox and queues its input. `replay`: the lines of an execution starting over
    /// (start_over) in place of its input lines.
    asio::awaitable<void> run_execution(std::shared_ptr<Thread> t, ExecutionPlan plan, std::uint64_t generation,
                                        std::optional<std::deque<std::string>> replay = std::nullopt) {
        const auto ready_started = Clock::now();
        std::string source;
        std::int64_t startup_ms = 0;
        if (t->sandbox && t->sandbox->status() == SandboxStatus::running) {
            source = "reused";
        } else if (t->sandbox && t->sandbox->status() == SandboxStatus::suspended) {
            auto r = t->sandbox->resume();
            if (options.sandbox_probe) options.sandbox_probe->operation(sandboxes.name(), "resume", r.has_value());
            if (r) {
                source = "resumed";
                auto payload = base_payload(t, plan.execution_id);
                payload["sandbox_id"] = t->sandbox->id();
                emit(t, event_type::sandbox_resumed, plan.execution_id, std::move(payload), EventUuid::random());
            } else {
                auto payload = base_payload(t, plan.execution_id);
                payload["sandbox_id"] = t->sandbox->id();
                payload["error"] = r.error().message();
                emit(t, event_type::sandbox_resume_failed, plan.execution_id, std::move(payload), EventUuid::random());
                drop_sandbox(t, "resume_failed", plan.execution_id);
            }
        } else if (t->sandbox) {
            drop_sandbox(t);
        }
        if (!t->sandbox) {
            const auto created_at = Clock::now();
            SandboxSpec spec = sandbox_spec(t, plan.execution_id, generation);
            auto created = co_await sandboxes.create(std::move(spec));
            if (options.sandbox_probe) {
                options.sandbox_probe->operation(sandboxes.name(), "create", created.has_value());
                if (created)
                    options.sandbox_probe->created((*created)->prewarmed(),
                                                   std::chrono::duration<double>(Clock::now() - created_at).count());
            }
            if (!created) {
                if (is_current(t, plan.execution_id, generation))
                    finish(t, plan.execution_id, TerminalKind::failed,
                           "sandbox create failed: " + created.error().message(),
                           json::object{{"reason", "sandbox_create_failed"}});
                co_return;
            }
            if (!is_current(t, plan.execution_id, generation)) {
                // The execution ended while its sandbox was starting (drain, max duration): nobody uses it.
                auto unused = *created;
                spawn([unused]() -> asio::awaitable<void> { co_await unused->stop(); }, "sandbox stop");
                co_return;
            }
            t->sandbox = *created;
            t->sandbox_ready = false;
            source = t->sandbox->prewarmed() ? "warm_pool" : "cold_create";
            startup_ms = millis_since(created_at);
            spawn(pump(t, t->sandbox), "stdout pump");
        }
        if (!is_current(t, plan.execution_id, generation)) co_return;

        auto payload = base_payload(t, plan.execution_id);
        payload["sandbox_id"] = t->sandbox->id();
        payload["harness_type"] = t->state.harness_type;
        payload["sandbox_ready_source"] = source;
        payload["sandbox_ready_duration_ms"] = millis_since(ready_started);
        payload["sandbox_startup_duration_ms"] = startup_ms;
        payload["sandbox_started_for_request"] = source == "cold_create" || source == "warm_pool";
        emit(t, event_type::sandbox_ready, plan.execution_id, std::move(payload),
             EventUuid::derived(plan.execution_id + (replay ? "/sandbox_ready/again" : "/sandbox_ready")));

        // Input lines go before anything steered or interrupted while the sandbox was starting.
        if (replay) {
            for (auto it = replay->rbegin(); it != replay->rend(); ++it) t->outbox.push_front(std::move(*it));
        } else {
            for (auto it = plan.input_lines.rbegin(); it != plan.input_lines.rend(); ++it)
                t->outbox.push_front(enrich_input_line(*it, t->key.str()));
        }
        t->turn_lines.clear();
        t->second_chance.reset();
        if (!replay && (source == "reused" || source == "resumed")) {
            t->second_chance = plan;
            t->turn_lines.assign(t->outbox.begin(), t->outbox.end());
        }
        t->sandbox_ready = true;
        kick_writer(t);
    }

    void send_line(const std::shared_ptr<Thread>& t, std::string line) {
        if (t->second_chance) t->turn_lines.push_back(line);
        t->outbox.push_back(std::move(line));
        kick_writer(t);
    }

    void kick_writer(const std::shared_ptr<Thread>& t) {
        if (t->writer_running || !t->sandbox || !t->sandbox_ready || t->outbox.empty()) return;
        t->writer_running = true;
        spawn(write_outbox(t, t->sandbox), "stdin writer");
    }

    asio::awaitable<void> write_outbox(std::shared_ptr<Thread> t, std::shared_ptr<Sandbox> sandbox) {
        while (t->sandbox == sandbox && !t->outbox.empty()) {
            std::string line = std::move(t->outbox.front());
            t->outbox.pop_front();
            auto r = co_await sandbox->write_line(std::move(line));
            if (!r) {
                spdlog::warn("thread {}: writing to sandbox {} failed: {}", t->key.str(), sandbox->id(),
                             r.error().message());
                if (t->sandbox == sandbox && r.error() == errc::sandbox_gone && can_start_over(t)) {
                    start_over(t);
                } else if (t->sandbox == sandbox && t->state.active) {
                    finish(t, t->state.active->execution_id, TerminalKind::failed,
                           "sandbox stdin closed: " + r.error().message(), json::object{{"reason", "sandbox_io"}});
                }
                break;
            }
            if (t->sandbox == sandbox) {
                t->second_chance.reset();  // the sandbox took a line of the execution: it is committed to it
                t->turn_lines.clear();
            }
        }
        t->writer_running = false;
        kick_writer(t);
    }

    asio::awaitable<void> pump(std::shared_ptr<Thread> t, std::shared_ptr<Sandbox> sandbox) {
        for (;;) {
            auto line = co_await sandbox->read_line();
            if (!line) break;
            if (t->sandbox != sandbox) continue;  // replaced: drain what is left, record nothing
            co_await on_output(t, std::move(*line));
        }
        if (t->sandbox != sandbox) co_return;
        emit(t, event_type::stdout_eof, std::nullopt, json::object{{"sandbox_id", sandbox->id()}}, EventUuid::random());
        // A limit that ended the sandbox (memory, wall clock) is named in the terminal event.
        const std::string limit = sandbox->termination_reason();
        if (limit.empty() && !t->writer_running && can_start_over(t)) {
            start_over(t);
            co_return;
        }
        if (!limit.empty() && options.sandbox_probe) options.sandbox_probe->killed_by_limit(limit);
        std::optional<std::string> active_id;
        if (t->state.active) active_id = t->state.active->execution_id;
        if (active_id)
            finish(t, *active_id, TerminalKind::failed,
                   limit.empty() ? "sandbox stdout closed before terminal output" : "sandbox killed: " + limit,
                   json::object{{"reason", limit.empty() ? "sandbox_io" : "sandbox_limit"}});
        drop_sandbox(t, limit.empty() ? "exited" : "limit_exceeded", active_id, limit);
    }

    asio::awaitable<void> on_output(std::shared_ptr<Thread> t, std::string raw_line) {
        // Secrets never reach the log, the tracker's terminal payloads or anything logged from them.
        std::string line = redact_secrets(raw_line);
        std::optional<std::string> execution_id;
        std::optional<TerminalOutcome> outcome;
        bool first_token = false;
        t->second_chance.reset();  // the sandbox answers: whatever happens next is the execution's own
        t->turn_lines.clear();
        if (t->state.active && t->tracker) {
            execution_id = t->state.active->execution_id;
            outcome = t->tracker->observe(line);
            first_token = !t->first_token_sent && t->tracker->saw_agent_text();
        }
        EventEnvelope e{EventUuid::random(), t->key, execution_id, std::string(event_type::output_line),
                        json::value(std::move(line)), now_micros(), EventSource::processor};
        if (!first_token) {
            emit_envelope(t, std::move(e));
        } else {
            // first_token names the output event: wait for its id (once per execution).
            t->first_token_sent = true;
            const auto latency = millis_since(t->started_at);
            auto appended = co_await append_awaitable(t, std::move(e));
            auto payload = base_payload(t, *execution_id);
            payload["harness_type"] = t->state.harness_type;
            payload["latency_ms"] = latency;
            payload["output_event_id"] = appended ? json::value(appended->event_id.value) : json::value(nullptr);
            emit(t, event_type::first_token, execution_id, std::move(payload),
                 EventUuid::derived(*execution_id + "/first_token"));
        }
        if (outcome && execution_id && t->state.active && t->state.active->execution_id == *execution_id) {
            json::object extra;
            if (outcome->kind == TerminalKind::completed) {
                extra["completion_reason"] = outcome->reason;
                if (outcome->result_text) extra["result_text"] = *outcome->result_text;
                finish(t, *execution_id, outcome->kind, "", std::move(extra));
            } else if (outcome->kind == TerminalKind::cancelled) {
                finish(t, *execution_id, outcome->kind, "", json::object{{"reason", outcome->reason}});
            } else {
                finish(t, *execution_id, outcome->kind, outcome->reason, json::object{{"reason", "harness"}});
            }
        }
    }

    asio::awaitable<result<Appended>> append_awaitable(const std::shared_ptr<Thread>& t, EventEnvelope e) {
        return asio::async_initiate<decltype(asio::use_awaitable), void(result<Appended>)>(
            [this, t](auto handler, EventEnvelope env) {
                auto shared = std::make_shared<decltype(handler)>(std::move(handler));
                emit_envelope(t, std::move(env), [shared](result<Appended> r) { std::move(*shared)(std::move(r)); });
            },
            asio::use_awaitable, std::move(e));
    }

    /// Ends the active execution `execution_id` with exactly one terminal event, then schedules the idle pause
    /// and starts the next queued execution. `error` is the failure text (failed only); `extra` adds keys.
    void finish(const std::shared_ptr<Thread>& t, const std::string& execution_id, TerminalKind kind,
                const std::string& error, json::object extra) {
        if (finish_without_next(t, execution_id, kind, error, std::move(extra))) start_next(t);
    }

    /// finish without starting the next queued execution; false when `execution_id` was not the active one.
    bool finish_without_next(const std::shared_ptr<Thread>& t, const std::string& execution_id, TerminalKind kind,
                             const std::string& error, json::object extra) {
        if (!t->state.active || t->state.active->execution_id != execution_id) return false;
        const ExecutionPlan plan = *t->state.active;
        auto payload = base_payload(t, execution_id);
        if (kind == TerminalKind::failed) payload["error"] = error;
        for (auto& [k, v] : extra) payload[k] = v;
        const std::string_view type = kind == TerminalKind::completed ? event_type::execution_completed
                                      : kind == TerminalKind::failed  ? event_type::execution_failed
                                                                      : event_type::execution_cancelled;
        emit(t, type, execution_id, std::move(payload), EventUuid::derived(execution_id + "/terminal"),
             [t, execution_id, type, started = t->started_at,
              ours = t->turn_execution_id == execution_id](result<Appended> r) { log_turn(*t, execution_id, type, ours, started, r); });
        t->max_timer.cancel();
        t->tracker.reset();
        if (plan.idle_timeout_ms > 0 && t->sandbox) arm_idle_timer(t, plan);
        return true;
    }

    /// One log line per finished turn: thread key, execution id, first/last event ids, status, duration. The
    /// first id and the duration are null for an execution this process did not start (orphaned ones).
    static void log_turn(const Thread& t, const std::string& execution_id, std::string_view terminal_type, bool ours,
                         Clock::time_point started, const result<Appended>& appended) {
        logging::Event line(appended ? logging::Level::info : logging::Level::warn, "centaur::processors",
                            "turn finished");
        line.str("thread_key", t.key.str()).str("execution_id", execution_id);
        line.str("status", terminal_type.substr(terminal_type.rfind('_') + 1));
        if (ours && t.turn_first_event_id) line.num("first_event_id", *t.turn_first_event_id);
        else line.null("first_event_id");
        if (appended) line.num("last_event_id", static_cast<std::int64_t>(appended->event_id.value));
        else line.null("last_event_id").str("append_error", appended.error().message());
        if (ours) line.num("duration_ms", millis_since(started));
        else line.null("duration_ms");
        line.str("harness", t.state.harness_type).emit();
    }

    void arm_max_timer(const std::shared_ptr<Thread>& t, const ExecutionPlan& plan, std::uint64_t generation) {
        t->max_timer.expires_after(std::chrono::milliseconds(plan.max_duration_ms));
        t->max_timer.async_wait([self = shared_from_this(), t, plan, generation](boost::system::error_code ec) {
            if (ec || !self->is_current(t, plan.execution_id, generation)) return;
            self->finish(t, plan.execution_id, TerminalKind::failed,
                         "execution exceeded max_duration_ms of " + std::to_string(plan.max_duration_ms),
                         json::object{{"reason", "max_duration_exceeded"}, {"max_duration_ms", plan.max_duration_ms}});
            self->drop_sandbox(t, "max_duration_exceeded", plan.execution_id);  // no late output into the next one
        });
    }

    void arm_idle_timer(const std::shared_ptr<Thread>& t, const ExecutionPlan& plan) {
        t->idle_timer.expires_after(std::chrono::milliseconds(plan.idle_timeout_ms));
        t->idle_timer.async_wait([self = shared_from_this(), t, plan, sandbox = t->sandbox](boost::system::error_code ec) {
            if (ec || t->state.active || t->sandbox != sandbox || sandbox->status() != SandboxStatus::running) return;
            auto payload = self->base_payload(t, plan.execution_id);
            payload["sandbox_id"] = sandbox->id();
            payload["reason"] = "idle_timeout";
            payload["idle_timeout_ms"] = plan.idle_timeout_ms;
            auto r = sandbox->pause();
            if (auto* probe = self->options.sandbox_probe) probe->operation(self->sandboxes.name(), "pause", r.has_value());
            if (r) {
                self->emit(t, event_type::sandbox_paused, plan.execution_id, std::move(payload),
                           EventUuid::derived(plan.execution_id + "/paused"));
                self->arm_hot_idle_timer(t, plan.execution_id);
            } else {
                payload["error"] = r.error().message();
                self->emit(t, event_type::sandbox_pause_failed, plan.execution_id, std::move(payload),
                           EventUuid::random());
            }
        });
    }

    /// SESSION_SANDBOX_HOT_IDLE_GRACE_SECS after a pause: stop and destroy the paused sandbox (the next
    /// execution creates a new one).
    void arm_hot_idle_timer(const std::shared_ptr<Thread>& t, const std::string& execution_id) {
        if (options.hot_idle_grace.count() <= 0) return;
        t->hot_idle_timer.expires_after(options.hot_idle_grace);
        t->hot_idle_timer.async_wait(
            [self = shared_from_this(), t, execution_id, sandbox = t->sandbox](boost::system::error_code ec) {
                if (ec || t->state.active || t->sandbox != sandbox || sandbox->status() != SandboxStatus::suspended)
                    return;
                self->drop_sandbox(t, "hot_idle_grace", execution_id);
            });
    }

    /// The active execution runs on a sandbox kept from an earlier turn that took none of its lines and gave no
    /// output yet: when that sandbox is found gone for sure (a write refused with sandbox_gone, or stdout ended
    /// with no write in flight), the execution may start over in a new one. A write whose fate is unknown
    /// (sandbox_failed: cut after it was sent) fails the execution instead: it may have reached the agent.
    bool can_start_over(const std::shared_ptr<Thread>& t) const {
        return t->second_chance && t->state.active &&
               t->state.active->execution_id == t->second_chance->execution_id;
    }

    /// Drops the thread's lost sandbox (session.sandbox_stopped reason "lost") and brings the active execution up
    /// again in a new one with every line it was sent so far; at most once per execution (the new sandbox is
    /// fresh, so no second chance is armed for it).
    void start_over(const std::shared_ptr<Thread>& t) {
        ExecutionPlan plan = std::move(*t->second_chance);
        t->second_chance.reset();
        std::optional<std::deque<std::string>> lines(std::move(t->turn_lines));
        t->turn_lines.clear();
        spdlog::warn("thread {}: sandbox {} kept from an earlier turn is gone before execution {} reached it; "
                     "starting the execution over in a new sandbox",
                     t->key.str(), t->sandbox ? t->sandbox->id() : "-", plan.execution_id);
        drop_sandbox(t, "lost", plan.execution_id);
        spawn(run_execution(t, std::move(plan), t->generation, std::move(lines)), "execution start over");
    }

    /// Stops the thread's sandbox. With a `reason`, the transition is an event: session.sandbox_stopped
    /// {thread_key, sandbox_id, reason[, execution_id][, detail]}.
    void drop_sandbox(const std::shared_ptr<Thread>& t, std::string_view reason = {},
                      std::optional<std::string> execution_id = std::nullopt, const std::string& detail = {}) {
        auto sandbox = take_sandbox(t, reason, std::move(execution_id), detail);
        if (sandbox && options.sandbox_probe) options.sandbox_probe->operation(sandboxes.name(), "stop", true);
        if (sandbox) spawn([sandbox]() -> asio::awaitable<void> { co_await sandbox->stop(); }, "sandbox stop");
    }

    /// drop_sandbox without the stop: the caller stops the returned sandbox (null when the thread had none).
    std::shared_ptr<Sandbox> take_sandbox(const std::shared_ptr<Thread>& t, std::string_view reason,
                                          std::optional<std::string> execution_id, const std::string& detail) {
        if (!t->sandbox) return nullptr;
        t->hot_idle_timer.cancel();
        if (!reason.empty()) {
            json::object payload{{"thread_key", t->key.str()}, {"sandbox_id", t->sandbox->id()}, {"reason", reason}};
            if (execution_id) payload["execution_id"] = *execution_id;
            if (!detail.empty()) payload["detail"] = detail;
            emit(t, event_type::sandbox_stopped, execution_id, std::move(payload), EventUuid::random());
        }
        auto sandbox = std::move(t->sandbox);
        t->sandbox.reset();
        t->sandbox_ready = false;
        t->outbox.clear();
        return sandbox;
    }

    // ---- io_context: drains ---------------------------------------------------------------------------------

    /// The synchronous part of `drain`: events appended, sandboxes taken from their threads (returned).
    std::vector<std::shared_ptr<Sandbox>> drain_threads(std::int64_t drain_id,
                                                        std::vector<std::shared_ptr<Thread>>& drained) {
        const std::string detail = "drain " + std::to_string(drain_id);
        std::vector<std::shared_ptr<Sandbox>> taken;
        for (auto& [key, t] : threads) {
            if (!live.count(t->partition) || (!t->sandbox && !t->state.active)) continue;
            std::optional<std::string> execution_id;
            if (t->state.active) execution_id = t->state.active->execution_id;
            if (auto sandbox = take_sandbox(t, "drained", execution_id, detail)) taken.push_back(std::move(sandbox));
            if (execution_id) {
                ++t->generation;  // its coroutines (a create waiting in the queue) see they are stale
                finish_without_next(t, *execution_id, TerminalKind::failed,
                                    "sandbox drained (POST /api/sandboxes/drain)",
                                    json::object{{"reason", "drained"}, {"drain_id", drain_id}});
            }
            drained.push_back(t);
        }
        return taken;
    }

    /// Stops every sandbox of the live threads: a running execution ends with one session.execution_failed
    /// {reason: drained, drain_id}; each sandbox gets session.sandbox_stopped {reason: drained}; queued
    /// executions then start on fresh sandboxes. The backend's idle (warm) sandboxes are destroyed too.
    asio::awaitable<DrainReport> drain(std::int64_t drain_id) {
        std::vector<std::shared_ptr<Thread>> drained;
        auto taken = drain_threads(drain_id, drained);
        DrainReport report;
        for (auto& sandbox : taken) {
            co_await sandbox->stop();
            report.stopped.push_back(sandbox->id());
        }
        auto idle = co_await sandboxes.drain_idle();
        for (auto& id : idle) report.stopped.push_back(std::move(id));
        for (auto& t : drained) start_next(t);
        spdlog::info("processor: drain {}: {} sandbox(es) stopped", drain_id, report.stopped.size());
        co_return report;
    }

    // ---- io_context: steering and interrupts ---------------------------------------------------------------

    void on_message(const std::shared_ptr<Thread>& t, const EventEnvelope& e) {
        auto p = message_appended_from(e.payload);
        if (!p || p->role != "user" || !t->state.active) return;
        const auto execution_id = t->state.active->execution_id;
        json::object line{{"type", "user"},
                          {"thread_key", t->key.str()},
                          {"trace_metadata", json::object{{"source", "session.append_messages"},
                                                          {"action", "steer_active_execution"},
                                                          {"message_id", p->message_id},
                                                          {"metadata", p->metadata}}},
                          {"message", json::object{{"role", "user"}, {"content", p->parts}}}};
        send_line(t, enrich_input_line(json::serialize(line), t->key.str()));
        auto payload = base_payload(t, execution_id);
        payload["message_ids"] = json::array{json::value(p->message_id)};
        payload["input_line_count"] = 1;
        emit(t, event_type::steering_delivered, execution_id, std::move(payload),
             EventUuid::derived(e.event_uuid.hex() + "/steered"));
    }

    void on_interrupt(const std::shared_ptr<Thread>& t, const EventEnvelope& e) {
        auto p = interrupt_requested_from(e.payload);
        if (!p) return;
        if (t->state.active && t->state.active->execution_id == p->execution_id) {
            json::object line{{"type", "interrupt"},
                              {"thread_key", t->key.str()},
                              {"trace_metadata", json::object{{"source", "session.interrupt_active_execution"},
                                                              {"action", "interrupt_active_execution"},
                                                              {"reason", p->reason}}}};
            send_line(t, json::serialize(line));
            auto payload = base_payload(t, p->execution_id);
            payload["reason"] = p->reason;
            emit(t, event_type::interrupt_delivered, p->execution_id, std::move(payload),
                 EventUuid::derived(e.event_uuid.hex() + "/delivered"));
            return;
        }
        for (const auto& queued : t->state.queue) {
            if (queued.execution_id != p->execution_id) continue;
            emit(t, event_type::execution_cancelled, p->execution_id,
                 json::object{{"execution_id", p->execution_id},
                              {"thread_key", t->key.str()},
                              {"reason", "interrupted_before_start"}},
                 EventUuid::derived(p->execution_id + "/terminal"));
            return;
        }
    }

    // ---- lifecycle ------------------------------------------------------------------------------------------

    asio::awaitable<void> shutdown() {
        stopping = true;
        if (reader) reader->wake();
        if (reader_thread.joinable()) reader_thread.join();
        for (auto& [key, t] : threads) {
            t->max_timer.cancel();
            t->idle_timer.cancel();
            t->hot_idle_timer.cancel();
            if (auto sandbox = std::move(t->sandbox)) {
                t->sandbox.reset();
                co_await sandbox->stop();
            }
        }
    }
};

SessionProcessor::SessionProcessor(asio::io_context& io, EventLog& log, SandboxBackend& sandboxes,
                                   ProcessorOptions options, Readiness* readiness)
    : impl_(std::make_shared<Impl>(io, log, sandboxes, options, readiness)) {
    if (readiness) readiness->expect(component, "consumer not assigned yet");
}

SessionProcessor::~SessionProcessor() {
    impl_->stopping = true;
    if (impl_->reader) impl_->reader->wake();
    if (impl_->reader_thread.joinable()) impl_->reader_thread.join();
}

void SessionProcessor::start() {
    if (impl_->reader_thread.joinable()) return;
    impl_->reader = impl_->log.open_reader(impl_->reader_options());
    impl_->reader_thread = std::thread([impl = impl_] { impl->read_loop(); });
}

asio::awaitable<void> SessionProcessor::stop() { co_await impl_->shutdown(); }

asio::awaitable<DrainReport> SessionProcessor::drain_sandboxes(std::int64_t drain_id) {
    return impl_->drain(drain_id);
}

}  // namespace centaur::processors
