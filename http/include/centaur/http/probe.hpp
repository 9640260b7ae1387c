#pragma once
// Metrics of the HTTP server, upstream's series names. Owns its prometheus-cpp families.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace centaur::http {

/// Thread-safe (prometheus-cpp metrics are atomic). Lives as long as the server that uses it.
class HttpProbe {
public:
    explicit HttpProbe(prometheus::Registry& registry);

    /// Counts one finished request: `route` is the matched template, or "__unmatched__".
    void request_finished(const std::string& method, const std::string& route, unsigned status, double seconds);
    void in_flight_add(double delta);

    prometheus::Family<prometheus::Counter>& requests_total;              ///< http_server_requests_total
    prometheus::Family<prometheus::Histogram>& request_duration_seconds;  ///< http_server_request_duration_seconds
    prometheus::Gauge& requests_in_flight;                                ///< http_server_requests_in_flight
};

/// `GET /metrics`: the registry in Prometheus text format (`text/plain; version=0.0.4`).
struct Route;
Route metrics_route(prometheus::Registry& registry);

}  // namespace centaur::http
