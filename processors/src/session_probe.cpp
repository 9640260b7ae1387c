#include <centaur/processors/session_probe.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/payloads.hpp>

#include <array>

namespace centaur::processors {
namespace {

const prometheus::Histogram::BucketBoundaries& turn_buckets() {
    static const prometheus::Histogram::BucketBoundaries buckets{.01, .025, .05, .1, .25, .5, 1,   2.5,
                                                                 5,   10,   30,  60, 120, 300, 900, 3600};
    return buckets;
}

std::string_view failure_class(std::string_view reason) {
    static constexpr std::array<std::string_view, 7> known{"orphaned",   "sandbox_create_failed", "sandbox_io",
                                                           "sandbox_limit", "harness", "max_duration_exceeded",
                                                           "drained"};
    for (auto k : known)
        if (k == reason) return k;
    return "other";
}

/// harness_label without a copy: a view of `harness` itself or of a literal.
std::string_view harness_view(std::string_view harness) { return is_known_harness(harness) ? harness : "other"; }

std::string_view status_of(std::string_view terminal_type) {
    if (terminal_type == event_type::execution_completed) return "completed";
    if (terminal_type == event_type::execution_failed) return "failed";
    return "cancelled";
}

}  // namespace

SessionProbe::SessionProbe(prometheus::Registry& registry)
    : executions(prometheus::BuildCounter()
                     .Name("centaur_session_executions_total")
                     .Help("Executions ended, by harness and terminal status")
                     .Register(registry)),
      execution_duration(prometheus::BuildHistogram()
                             .Name("centaur_session_execution_duration_seconds")
                             .Help("Time from an execution's start to its terminal event")
                             .Register(registry)
                             .Add({}, turn_buckets())),
      first_token_latency(prometheus::BuildHistogram()
                              .Name("centaur_session_first_token_latency_seconds")
                              .Help("Time from an execution's start to the harness's first agent text")
                              .Register(registry)),
      failures(prometheus::BuildCounter()
                   .Name("centaur_session_failures_total")
                   .Help("Executions that failed, by failure class and harness")
                   .Register(registry)),
      turn_duration(prometheus::BuildHistogram()
                        .Name("centaur_session_turn_duration_seconds")
                        .Help("Time from the execute request being appended to the execution's terminal event")
                        .Register(registry)),
      running_executions(prometheus::BuildGauge()
                             .Name("centaur_session_running_executions")
                             .Help("Executions started by this processor and not yet ended")
                             .Register(registry)
                             .Add({})),
      threads(prometheus::BuildGauge()
                  .Name("centaur_processor_threads")
                  .Help("Threads whose state this processor holds (threads of its assigned partitions)")
                  .Register(registry)
                  .Add({})) {}

std::string SessionProbe::harness_label(std::string_view harness) {
    return is_known_harness(harness) ? std::string(harness) : "other";
}

void SessionProbe::execution_ended(std::string_view harness, std::string_view terminal_type, std::string_view reason,
                                   double started_seconds_ago, double requested_seconds_ago) {
    const std::string_view h = harness_view(harness);
    const std::string_view status = status_of(terminal_type);
    const auto make_execution = [&] {
        return &executions.Add({{"harness", std::string(h)}, {"status", std::string(status)}});
    };
    execution_children_.get({h, status}, make_execution)->Increment();
    if (status == "failed") {
        const std::string_view cls = failure_class(reason);
        const auto make_failure = [&] {
            return &failures.Add({{"failure_class", std::string(cls)}, {"harness", std::string(h)}});
        };
        failure_children_.get({cls, h}, make_failure)->Increment();
    }
    if (started_seconds_ago >= 0) execution_duration.Observe(started_seconds_ago);
    if (requested_seconds_ago >= 0) {
        const auto make_turn = [&] { return &turn_duration.Add({{"harness", std::string(h)}}, turn_buckets()); };
        turn_duration_children_.get({h}, make_turn)->Observe(requested_seconds_ago);
    }
}

void SessionProbe::first_token(std::string_view harness, double seconds_since_start) {
    const std::string_view h = harness_view(harness);
    const auto make = [&] { return &first_token_latency.Add({{"harness", std::string(h)}}, turn_buckets()); };
    first_token_children_.get({h}, make)->Observe(seconds_since_start);
}

}  // namespace centaur::processors
