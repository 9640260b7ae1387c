#pragma once
// Metrics of the HTTP server, upstream's series names. Owns its prometheus-cpp families.

#include <centaur/core/label_cache.hpp>
#include <centaur/http/types.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <string>
#include <string_view>

namespace centaur::http {

/// Thread-safe: called from every io thread of the server at once (prometheus-cpp metrics are atomic; each label
/// set is resolved once into a LabelCache, lock-free after that). Lives as long as the server that uses it. The
/// server counts a request when its response is written (an SSE stream: when its header is flushed);
/// requests_in_flight covers the same span. Requests answered before routing (400, 413, 431) count with route
/// "__unmatched__".
class HttpProbe {
public:
    explicit HttpProbe(prometheus::Registry& registry);

    /// Counts one finished request: `route` is the matched template, or "__unmatched__"; a non-standard `method`
    /// is recorded as "OTHER".
    void request_finished(const std::string& method, const std::string& route, unsigned status, double seconds);
    void in_flight_add(double delta);
    /// Counts a response that refused the request as malformed (400, 413, 415, 422, 431) in bad_requests by a
    /// reason read from its error body (invalid_json, invalid_thread_key, malformed_request, body_too_large,
    /// headers_too_large, unsupported_media_type, invalid_field); other statuses are ignored.
    void request_refused(unsigned status, std::string_view error_body);

    prometheus::Family<prometheus::Counter>& requests_total;              ///< http_server_requests_total
    prometheus::Family<prometheus::Histogram>& request_duration_seconds;  ///< http_server_request_duration_seconds
    prometheus::Gauge& requests_in_flight;                                ///< http_server_requests_in_flight
    prometheus::Family<prometheus::Counter>& bad_requests;                ///< centaur_http_bad_requests_total{reason}
    /// centaur_slack_webhook_ack_duration_seconds: arrival to acknowledgement written of POST /api/webhooks/slack
    /// (Slack retries a delivery not acknowledged within 3 s).
    prometheus::Histogram& slack_ack_seconds;

private:
    struct RequestSeries {
        prometheus::Counter* total;         ///< requests_total{method,route,status}
        prometheus::Histogram* duration;    ///< request_duration_seconds{method,route,status_class}
    };
    /// Routes are the server's templates (or "__unmatched__"), methods bounded by method_label, statuses those the
    /// server writes: a few hundred sets at most; beyond the capacity a request resolves its series directly.
    static constexpr std::size_t request_series_capacity = 1024;
    LabelCache<RequestSeries, 3> request_children_{request_series_capacity};  ///< {method, route, status}
    LabelCache<prometheus::Counter*, 1> bad_request_children_;                ///< {reason}
};

/// `GET /metrics` (Capability::metrics): the registry in Prometheus text format (`text/plain; version=0.0.4`).
/// `registry` must outlive the server. The server does not count requests to this route in its probe.
/// `refresh`, when given, runs first on the server's thread: it sets gauges sampled at scrape time.
Route metrics_route(prometheus::Registry& registry, std::function<void()> refresh = {});

}  // namespace centaur::http
