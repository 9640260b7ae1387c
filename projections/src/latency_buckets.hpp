#pragma once
// Histogram buckets (seconds) of the projections' stage latencies: 1 ms to 10 s.

#include <prometheus/histogram.h>

namespace centaur::projections {

inline const prometheus::Histogram::BucketBoundaries& latency_buckets() {
    static const prometheus::Histogram::BucketBoundaries buckets{.001, .0025, .005, .01, .025, .05, .1,
                                                                 .25,  .5,    1,    2.5, 5,    10};
    return buckets;
}

}  // namespace centaur::projections
