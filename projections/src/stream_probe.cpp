#include <centaur/projections/stream_probe.hpp>

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
                        .Register(registry)) {}

void StreamProbe::stream_error(const char* reason) { stream_errors.Add({{"reason", reason}}).Increment(); }

}  // namespace centaur::projections
