#include <centaur/projections/projector_probe.hpp>
#include <centaur/schemas/envelope.hpp>

#include "latency_buckets.hpp"

#include <algorithm>
#include <string>

namespace centaur::projections {
namespace {

constexpr double micros_per_second = 1e6;

}  // namespace

ProjectorProbe::ProjectorProbe(prometheus::Registry& registry)
    : events_projected(prometheus::BuildCounter()
                           .Name("centaur_projector_events_projected_total")
                           .Help("Events written to the projection tables, by event type and appending role")
                           .Register(registry)),
      duplicates_dropped(prometheus::BuildCounter()
                             .Name("centaur_projector_duplicates_dropped_total")
                             .Help("Log records skipped because their event uuid was already projected")
                             .Register(registry)
                             .Add({})),
      projection_latency(prometheus::BuildHistogram()
                             .Name("centaur_projector_projection_latency_seconds")
                             .Help("Time from an event's append (its occurred_at) to the commit that projected it")
                             .Register(registry)
                             .Add({}, latency_buckets())),
      checkpoint_age(prometheus::BuildGauge()
                         .Name("centaur_projector_checkpoint_age_seconds")
                         .Help("Seconds since the projector last committed a checkpoint (grows while the log is idle)")
                         .Register(registry)
                         .Add({})),
      last_commit_us_(now_micros()) {}

void ProjectorProbe::projected(std::string_view event_type, std::string_view source, std::int64_t occurred_at_us,
                               std::int64_t now_us) {
    const auto make = [&] {
        return &events_projected.Add({{"event_type", std::string(event_type)}, {"source", std::string(source)}});
    };
    projected_children_.get({event_type, source}, make)->Increment();
    projection_latency.Observe(static_cast<double>(std::max<std::int64_t>(0, now_us - occurred_at_us)) /
                               micros_per_second);
}

void ProjectorProbe::refresh(std::int64_t now_us) {
    checkpoint_age.Set(static_cast<double>(std::max<std::int64_t>(0, now_us - last_commit_us_.load())) /
                       micros_per_second);
}

}  // namespace centaur::projections
