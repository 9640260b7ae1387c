#include <centaur/projections/stream_probe.hpp>

#include "latency_buckets.hpp"

namespace centaur::projections {

StreamProbe::StreamProbe(prometheus::Registry& registry)
    : clients(prometheus::BuildGauge()
                  .Name("centaur_sse_clients")
                  .Help("Attached event streams")
                  .Register(registry)
                  .Add({})),
      live_feeds(prometheus::BuildGauge()
                     .Name("centaur_sse_live_feeds")
                     .Help("Threads with a live feed shared by their attached streams")
                     .Register(registry)
                     .Add({})),
      events_sent(prometheus::BuildCounter()
                      .Name("centaur_sse_events_sent_total")
                      .Help("Event frames written to attached streams")
                      .Register(registry)
                      .Add({})),
      slow_disconnects(prometheus::BuildCounter()
                           .Name("centaur_sse_slow_client_disconnects_total")
                           .Help("Streams cut off because the client fell too far behind its thread")
                           .Register(registry)
                           .Add({})),
      stream_errors(prometheus::BuildCounter()
                        .Name("centaur_sse_stream_errors_total")
                        .Help("Streams ended with session.stream_error (or cut off), by reason")
                        .Register(registry)),
      delivery_latency(prometheus::BuildHistogram()
                           .Name("centaur_sse_delivery_latency_seconds")
                           .Help("Time from an event's append (its occurred_at) to its frame being written to an "
                                 "attached client from the live feed")
                           .Register(registry)
                           .Add({}, latency_buckets())),
      replay_first_byte(prometheus::BuildHistogram()
                            .Name("centaur_sse_replay_first_byte_seconds")
                            .Help("Time from an events request to its first event frame being written")
                            .Register(registry)
                            .Add({}, latency_buckets())),
      resumes(prometheus::BuildCounter()
                  .Name("centaur_sse_resumes_total")
                  .Help("Event streams opened with a Last-Event-ID header (client reconnects)")
                  .Register(registry)
                  .Add({})),
      resume_failures(prometheus::BuildCounter()
                          .Name("centaur_sse_resume_failures_total")
                          .Help("Resumed streams refused before their first event, by reason")
                          .Register(registry)) {}

void StreamProbe::stream_error(const char* reason) {
    stream_error_children_.get({reason}, [&] { return &stream_errors.Add({{"reason", reason}}); })->Increment();
}

void StreamProbe::resume_failed(const char* reason) {
    resume_failure_children_.get({reason}, [&] { return &resume_failures.Add({{"reason", reason}}); })->Increment();
}

}  // namespace centaur::projections
