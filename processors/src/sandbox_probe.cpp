#include <centaur/processors/sandbox_probe.hpp>

#include <string>

namespace centaur::processors {
namespace {

const prometheus::Histogram::BucketBoundaries& startup_buckets() {
    static const prometheus::Histogram::BucketBoundaries buckets{.001, .0025, .005, .01, .025, .05, .1,
                                                                 .25,  .5,    1,    2.5, 5,    10,  30};
    return buckets;
}

}  // namespace

SandboxProbe::SandboxProbe(prometheus::Registry& registry)
    : operations(prometheus::BuildCounter()
                     .Name("centaur_sandbox_operations_total")
                     .Help("Sandbox operations (create, resume, pause, stop) by backend and outcome")
                     .Register(registry)),
      startup_duration(prometheus::BuildHistogram()
                           .Name("centaur_sandbox_startup_duration_seconds")
                           .Help("Time a successful sandbox create took, warm or cold")
                           .Register(registry)
                           .Add({}, startup_buckets())),
      warm_pool_claims(prometheus::BuildCounter()
                           .Name("centaur_sandbox_warm_pool_claims_total")
                           .Help("Sandbox creates served from the warm pool (hit) or started cold (miss)")
                           .Register(registry)),
      create_duration(prometheus::BuildHistogram()
                          .Name("centaur_sandbox_create_duration_seconds")
                          .Help("Time a successful sandbox create took, by pool (warm: pre-started, cold: new)")
                          .Register(registry)),
      limit_kills(prometheus::BuildCounter()
                      .Name("centaur_sandbox_limit_kills_total")
                      .Help("Sandboxes ended by a limit: memory (OOM) or lifetime (wall-clock timeout)")
                      .Register(registry)),
      sandboxes(prometheus::BuildGauge()
                    .Name("centaur_sandboxes")
                    .Help("Live sandboxes: busy = held by a thread (running or paused), warm = started ahead of demand")
                    .Register(registry)),
      busy(sandboxes.Add({{"state", "busy"}})),
      warm(sandboxes.Add({{"state", "warm"}})) {}

void SandboxProbe::operation(std::string_view backend, std::string_view op, bool ok) {
    const std::string_view status = ok ? "ok" : "error";
    const auto make = [&] {
        return &operations.Add(
            {{"backend", std::string(backend)}, {"operation", std::string(op)}, {"status", std::string(status)}});
    };
    operation_children_.get({backend, op, status}, make)->Increment();
}

void SandboxProbe::created(bool from_warm_pool, double seconds) {
    startup_duration.Observe(seconds);
    const char* pool = from_warm_pool ? "warm" : "cold";
    const char* claim = from_warm_pool ? "hit" : "miss";
    create_duration_children_.get({pool}, [&] { return &create_duration.Add({{"pool", pool}}, startup_buckets()); })
        ->Observe(seconds);
    claim_children_.get({claim}, [&] { return &warm_pool_claims.Add({{"result", claim}}); })->Increment();
}

void SandboxProbe::killed_by_limit(std::string_view reason) {
    const char* limit = reason.find("memory") != std::string_view::npos     ? "memory"
                        : reason.find("lifetime") != std::string_view::npos ? "lifetime"
                                                                            : "other";
    limit_kill_children_.get({limit}, [&] { return &limit_kills.Add({{"limit", limit}}); })->Increment();
}

}  // namespace centaur::processors
