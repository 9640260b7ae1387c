#pragma once
// Metrics of the sandboxes the processor drives: upstream's `centaur_sandbox_*` series plus create latency by
// pool, limit kills and live sandboxes. Owns its prometheus-cpp families.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <centaur/core/label_cache.hpp>

#include <string_view>

namespace centaur::processors {

/// Made by the app from its registry, passed through ProcessorOptions::sandbox_probe; outlives the processor.
/// Called from the processor's io_context thread (and the app's /metrics refresh for the warm gauge); any thread
/// is safe: each label set is resolved once into a LabelCache, lock-free after that.
class SandboxProbe {
public:
    explicit SandboxProbe(prometheus::Registry& registry);

    /// centaur_sandbox_operations_total{backend,operation,status}
    prometheus::Family<prometheus::Counter>& operations;
    prometheus::Histogram& startup_duration;                   ///< centaur_sandbox_startup_duration_seconds
    prometheus::Family<prometheus::Counter>& warm_pool_claims;  ///< centaur_sandbox_warm_pool_claims_total{result}
    prometheus::Family<prometheus::Histogram>& create_duration;  ///< centaur_sandbox_create_duration_seconds{pool}
    prometheus::Family<prometheus::Counter>& limit_kills;      ///< centaur_sandbox_limit_kills_total{limit}
    prometheus::Family<prometheus::Gauge>& sandboxes;          ///< centaur_sandboxes{state}
    prometheus::Gauge& busy;                                   ///< centaur_sandboxes{state="busy"}
    prometheus::Gauge& warm;                                   ///< centaur_sandboxes{state="warm"}

    /// operation: create | resume | pause | stop; ok = the call succeeded.
    void operation(std::string_view backend, std::string_view operation, bool ok);
    /// A successful create: `from_warm_pool` says whether the backend handed over a pre-started sandbox.
    void created(bool from_warm_pool, double seconds);
    /// A sandbox ended by a limit; `termination_reason` is Sandbox::termination_reason() ("memory limit …",
    /// "max lifetime …"): counted as limit="memory" (OOM) or "lifetime" (timeout), else "other".
    void killed_by_limit(std::string_view termination_reason);

private:
    LabelCache<prometheus::Counter*, 3> operation_children_;          ///< {backend, operation, status}
    LabelCache<prometheus::Histogram*, 1> create_duration_children_;  ///< {pool}
    LabelCache<prometheus::Counter*, 1> claim_children_;              ///< {result}
    LabelCache<prometheus::Counter*, 1> limit_kill_children_;         ///< {limit}
};

}  // namespace centaur::processors
