#pragma once
// Metrics of the HTTP server, upstream's series names. Owns its prometheus-cpp families.

#include <centaur/http/types.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace centaur::http {

/// Thread-safe (prometheus-cpp metrics are atomic). Lives as long as the server that uses it. The server counts
/// a request when its response is written (an SSE stream: when its header is flushed); requests_in_flight covers
/// the same span. Requests answered before routing (400, 413, 431) count with route "__unmatched__".
class HttpProbe {
public:
    explicit HttpProbe(prometheus::Registry& registry);

    /// Counts one finished request: `route` is the matched template, or "__unmatched__"; a non-standard `method`
    /// is recorded as "OTHER".
    void request_finished(const std::string& method, const std::string& route, unsigned status, double seconds);
    void in_flight_add(double delta);

    prometheus::Family<prometheus::Counter>& requests_total;              ///< http_server_requests_total
    prometheus::Family<prometheus::Histogram>& request_duration_seconds;  ///< http_server_request_duration_seconds
    prometheus::Gauge& requests_in_flight;                                ///< http_server_requests_in_flight
};

/// `GET /metrics` (Capability::metrics): the registry in Prometheus text format (`text/plain; version=0.0.4`).
/// `registry` must outlive the server. The server does not count requests to this route in its probe.
Route metrics_route(prometheus::Registry& registry);

}  // namespace centaur::http
