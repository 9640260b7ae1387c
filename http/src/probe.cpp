#include <centaur/http/probe.hpp>

#include <prometheus/text_serializer.h>

#include <array>
#include <charconv>
#include <string_view>

namespace centaur::http {
namespace {

constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4";
constexpr std::string_view slack_webhook_route = "/api/webhooks/slack";
constexpr std::size_t status_digits = 10;  ///< any unsigned

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

const char* refusal_reason(unsigned status, std::string_view body) {
    constexpr unsigned bad_request = 400;
    constexpr unsigned too_large = 413;
    constexpr unsigned unsupported = 415;
    constexpr unsigned headers_too_large = 431;
    if (status == too_large) return "body_too_large";
    if (status == headers_too_large) return "headers_too_large";
    if (status == unsupported) return "unsupported_media_type";
    if (status == bad_request) {
        if (body.find("invalid JSON") != std::string_view::npos) return "invalid_json";
        if (body.find("thread key") != std::string_view::npos) return "invalid_thread_key";
        if (body.find("malformed") != std::string_view::npos) return "malformed_request";
    }
    return "invalid_field";
}

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
                             .Add({})),
      bad_requests(prometheus::BuildCounter()
                       .Name("centaur_http_bad_requests_total")
                       .Help("Requests refused as malformed (400, 413, 415, 422, 431), by reason")
                       .Register(registry)),
      slack_ack_seconds(prometheus::BuildHistogram()
                            .Name("centaur_slack_webhook_ack_duration_seconds")
                            .Help("Time from a Slack webhook delivery's arrival to its acknowledgement being written")
                            .Register(registry)
                            .Add({}, prometheus::Histogram::BucketBoundaries{.0025, .005, .01, .025, .05, .1, .25, .5,
                                                                             1, 2, 3, 5})) {}

void HttpProbe::request_finished(const std::string& method, const std::string& route, unsigned status,
                                 double seconds) {
    const std::string m = method_label(method);
    std::array<char, status_digits> digits{};
    const auto printed = std::to_chars(digits.data(), digits.data() + digits.size(), status);
    const std::string_view status_text(digits.data(), static_cast<std::size_t>(printed.ptr - digits.data()));
    const auto make = [&] {
        return RequestSeries{
            &requests_total.Add({{"method", m}, {"route", route}, {"status", std::string(status_text)}}),
            &request_duration_seconds.Add({{"method", m}, {"route", route}, {"status_class", status_class(status)}},
                                          duration_buckets())};
    };
    const RequestSeries series = request_children_.get({m, route, status_text}, make);
    series.total->Increment();
    series.duration->Observe(seconds);
    if (route == slack_webhook_route) slack_ack_seconds.Observe(seconds);
}

void HttpProbe::request_refused(unsigned status, std::string_view error_body) {
    if (status != 400 && status != 413 && status != 415 && status != 422 && status != 431) return;
    const char* reason = refusal_reason(status, error_body);
    bad_request_children_.get({reason}, [&] { return &bad_requests.Add({{"reason", reason}}); })->Increment();
}

void HttpProbe::in_flight_add(double delta) {
    if (delta >= 0)
        requests_in_flight.Increment(delta);
    else
        requests_in_flight.Decrement(-delta);
}

Route metrics_route(prometheus::Registry& registry, std::function<void()> refresh) {
    return Route{"GET", "/metrics", Capability::metrics,
                 [&registry, refresh = std::move(refresh)](const Request&,
                                                           const PathParams&) -> boost::asio::awaitable<Response> {
                     if (refresh) refresh();
                     Response res;
                     res.content_type = std::string(metrics_content_type);
                     res.body = prometheus::TextSerializer().Serialize(registry.Collect());
                     co_return res;
                 }};
}

}  // namespace centaur::http
