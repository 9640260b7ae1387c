#pragma once

// Latency samples of the bench programs (centaur-bench-load, centaur-bench-pg): nanoseconds in, percentiles
// in milliseconds out as the JSON fields every RESULT line shares. Header-only; one owner thread.

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace centaur::bench {

struct Samples {
    std::vector<std::int64_t> ns;

    /// Percentile p (0..100) by nearest rank, in ms; 0 without samples.
    double pct(double p) {
        constexpr double ns_per_ms = 1e6;
        if (ns.empty()) return 0;
        std::sort(ns.begin(), ns.end());
        const auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(ns.size() - 1) + 0.5);
        return static_cast<double>(ns[std::min(rank, ns.size() - 1)]) / ns_per_ms;
    }

    /// `"<prefix>samples":n,"<prefix>p50_ms":…,p90,p99,p999,max` (no braces).
    std::string json_fields(const std::string& prefix) {
        std::ostringstream s;
        s << "\"" << prefix << "samples\":" << ns.size() << ",\"" << prefix << "p50_ms\":" << pct(50) << ",\"" << prefix
          << "p90_ms\":" << pct(90) << ",\"" << prefix << "p99_ms\":" << pct(99) << ",\"" << prefix
          << "p999_ms\":" << pct(99.9) << ",\"" << prefix << "max_ms\":" << pct(100);
        return s.str();
    }
};

}  // namespace centaur::bench
