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
    const auto h = harness_label(harness);
    const std::string status(status_of(terminal_type));
    executions.Add({{"harness", h}, {"status", status}}).Increment();
    if (status == "failed")
        failures.Add({{"failure_class", std::string(failure_class(reason))}, {"harness", h}}).Increment();
    if (started_seconds_ago >= 0) execution_duration.Observe(started_seconds_ago);
    if (requested_seconds_ago >= 0) turn_duration.Add({{"harness", h}}, turn_buckets()).Observe(requested_seconds_ago);
}

void SessionProbe::first_token(std::string_view harness, double seconds_since_start) {
    first_token_latency.Add({{"harness", harness_label(harness)}}, turn_buckets()).Observe(seconds_since_start);
}

}  // namespace centaur::processors
