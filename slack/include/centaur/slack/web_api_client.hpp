#pragma once
// The Slack Web API adapter of the SlackClient port: HTTPS (OpenSSL, peer verified against the system CAs) or
// plain HTTP, chosen by the base URL's scheme (tests run a plain-HTTP fake Slack). Beast stays in the .cpp.

#include <centaur/core/slack_client.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace centaur::slack {

struct WebApiOptions {
    std::string base_url = "https://slack.com/api/";  ///< SLACK_API_URL; a method name is appended
    std::string bot_token;                            ///< SLACK_BOT_TOKEN; sent as a bearer token, never logged
    std::chrono::milliseconds timeout{5'000};         ///< whole call: resolve, connect, TLS, request, response
};

/// Parsed base URL. nullopt (with `error`) unless `http://` or `https://` with a host.
struct BaseUrl {
    bool tls = true;
    std::string host;
    std::string port;
    std::string path;  ///< always ends with '/'
    static std::optional<BaseUrl> parse(const std::string& url, std::string* error);
};

/// Read methods (`conversations.*`) take form-encoded arguments; every other method gets a JSON body.
bool takes_form_body(std::string_view method);
/// `key=value&…`, percent-encoded (RFC 3986 unreserved kept); non-string values as their JSON text.
std::string form_encode(const boost::json::object& args);

/// One connection per call (Slack calls are few per second per thread; a call never blocks another).
/// Thread: calls run on the executor given at construction. Lives until every call has completed.
class WebApiSlackClient final : public SlackClient {
public:
    /// Throws std::invalid_argument on a bad base URL (start-up configuration).
    WebApiSlackClient(boost::asio::any_io_executor executor, WebApiOptions options);
    ~WebApiSlackClient() override;

    boost::asio::awaitable<result<SlackResponse>> call(std::string method, boost::json::object args) override;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace centaur::slack
