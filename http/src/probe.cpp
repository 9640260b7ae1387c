#include <centaur/http/probe.hpp>

#include <prometheus/text_serializer.h>

#include <array>
#include <string_view>

namespace centaur::http {
namespace {

constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4";

const prometheus::Histogram::BucketBoundaries& duration_buckets() {
    static const prometheus::Histogram::BucketBoundaries buckets{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
    return buckets;
}

/// Bounded label cardinality: the parser accepts any token as a method.
std::string method_label(const std::string& method) {
    static constexpr std::array<std::string_view, 9> standard{"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                              "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    for (auto m : standard)
        if (method == m) return method;
    return "OTHER";
}

std::string status_class(unsigned status) { return std::to_string(status / 100) + "xx"; }

}  // namespace

HttpProbe::HttpProbe(prometheus::Registry& registry)
    : requests_total(prometheus::BuildCounter()
                         .Name("http_server_requests_total")
                         .Help("HTTP requests answered, by method, matched route and status")
                         .Register(registry)),
      request_duration_seconds(prometheus::BuildHistogram()
                                   .Name("http_server_request_duration_seconds")
                                   .Help("Time from a request's arrival to its response being written")
                                   .Register(registry)),
      requests_in_flight(prometheus::BuildGauge()
                             .Name("http_server_requests_in_flight")
                             .Help("HTTP requests being handled")
                             .Register(registry)
                             .Add({})) {}

void HttpProbe::request_finished(const std::string& method, const std::string& route, unsigned status,
                                 double seconds) {
    const std::string m = method_label(method);
    requests_total.Add({{"method", m}, {"route", route}, {"status", std::to_string(status)}}).Increment();
    request_duration_seconds.Add({{"method", m}, {"route", route}, {"status_class", status_class(status)}},
                                 duration_buckets())
        .Observe(seconds);
}

void HttpProbe::in_flight_add(double delta) {
    if (delta >= 0)
        requests_in_flight.Increment(delta);
    else
        requests_in_flight.Decrement(-delta);
}

Route metrics_route(prometheus::Registry& registry) {
    return Route{"GET", "/metrics", Capability::metrics,
                 [&registry](const Request&, const PathParams&) -> boost::asio::awaitable<Response> {
                     Response res;
                     res.content_type = std::string(metrics_content_type);
                     res.body = prometheus::TextSerializer().Serialize(registry.Collect());
                     co_return res;
                 }};
}

}  // namespace centaur::http
