#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace boost::asio::ssl {
class context;
}

namespace centaur::cli {

/// A non-2xx answer; what() is upstream's `HTTP <status>: <body>`.
class HttpError : public std::runtime_error {
public:
    HttpError(int status, const std::string& body)
        : std::runtime_error("HTTP " + std::to_string(status) + ": " + body), status_(status) {}
    int status() const { return status_; }

private:
    int status_;
};

/// encodeURIComponent: everything but A-Z a-z 0-9 - _ . ! ~ * ' ( ) is percent-encoded.
std::string url_encode_component(std::string_view text);

/// Talks to one Centaur API server over HTTP/1.1, one connection per call. Every call is an awaitable
/// that must run on a single-threaded io_context; connect and plain requests are bounded by
/// `request_timeout`, a stream read by `stream_idle_timeout` (heartbeats keep a healthy stream busy).
class ApiClient {
public:
    /// `base_url` is http[s]://host[:port][/prefix] without a trailing slash; `token` empty = no auth header.
    /// https verifies the server's certificate chain against the system CA store (SSL_CERT_FILE /
    /// SSL_CERT_DIR override it) and its host name.
    ApiClient(std::string base_url, std::string token);

    /// POSTs a JSON body; returns the parsed JSON answer. Throws HttpError on non-2xx, std::exception on
    /// transport or parse failure.
    boost::asio::awaitable<boost::json::value> post(std::string path, boost::json::value body);

    /// GETs a `text/event-stream`, handing body bytes to `on_bytes` until the server closes (returns) or
    /// `on_bytes` returns false (returns). `last_event_id` is sent as Last-Event-ID when set. Throws
    /// HttpError when the answer is not 200, std::exception on transport failure or idle timeout.
    boost::asio::awaitable<void> stream(std::string path, std::optional<std::string> last_event_id,
                                        std::function<bool(std::string_view)> on_bytes);

    std::chrono::milliseconds request_timeout{30000};
    std::chrono::milliseconds stream_idle_timeout{60000};

private:
    /// Host, Accept, User-Agent and (with a token) Authorization.
    template <class Request>
    void set_common_headers(Request& req, const char* accept) const;

    std::string base_url_;
    std::string host_;
    std::string port_;
    std::string prefix_;
    std::string token_;
    bool tls_ = false;
    std::shared_ptr<boost::asio::ssl::context> tls_context_;
};

}  // namespace centaur::cli
