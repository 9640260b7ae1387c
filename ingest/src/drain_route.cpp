#include <centaur/ingest/drain_route.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

namespace centaur::ingest {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr unsigned status_ok = 200;
constexpr unsigned status_accepted = 202;

/// The response body over the reports filed by `ticket`'s members so far.
http::Response drain_response(const DrainTicket& ticket, const std::map<std::string, DrainReport>& reports) {
    json::array stopped;
    json::array failed;
    std::size_t reported = 0;
    for (const auto& member : ticket.members) {
        const auto it = reports.find(member);
        if (it == reports.end()) continue;
        ++reported;
        for (const auto& id : it->second.stopped) stopped.emplace_back(id);
        for (const auto& f : it->second.failed)
            failed.push_back(json::object{{"sandbox_id", f.sandbox_id}, {"error", f.error}});
    }
    const bool complete = reported == ticket.members.size();
    json::object body;
    body["ok"] = failed.empty();
    body["drain_id"] = ticket.drain_id;
    body["stopped_count"] = stopped.size();
    body["stopped"] = std::move(stopped);
    body["failed"] = std::move(failed);
    body["processors"] = reported;
    if (!complete) {
        body["accepted"] = true;
        body["pending_processors"] = ticket.members.size() - reported;
    }
    return http::json_response(body, complete ? status_ok : status_accepted);
}

asio::awaitable<http::Response> drain(DrainBoard& board, DrainRouteOptions options) {
    auto ticket = co_await board.request();
    if (!ticket) co_return http::error_response(503, "drain board unavailable");
    spdlog::info("sandbox drain {} requested; waiting for {} processor(s)", ticket->drain_id, ticket->members.size());
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    const auto deadline = asio::steady_timer::clock_type::now() + options.wait;
    std::map<std::string, DrainReport> reports;
    for (;;) {
        auto read = co_await board.reports(ticket->drain_id);
        if (read) reports = std::move(*read);
        std::size_t reported = 0;
        for (const auto& member : ticket->members) reported += reports.count(member);
        if (reported == ticket->members.size() || asio::steady_timer::clock_type::now() >= deadline) break;
        timer.expires_after(options.poll);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) break;
    }
    co_return drain_response(*ticket, reports);
}

}  // namespace

http::Route drain_route(DrainBoard& board, DrainRouteOptions options) {
    http::Route route;
    route.method = "POST";
    route.path_template = "/api/sandboxes/drain";
    route.capability = http::Capability::sandboxes_drain;
    route.handler = [&board, options](const http::Request&, const http::PathParams&) {
        return drain(board, options);
    };
    return route;
}

}  // namespace centaur::ingest
