#pragma once

#include <chrono>
#include <map>
#include <string>

namespace centaur::test_support {

struct HttpResponse {
    int status = 0;
    std::string body;
    /// Header names in lower case; repeated headers joined with ", ".
    std::map<std::string, std::string> headers;
};

/// One blocking HTTP/1.1 request over plain TCP (`http://host:port/path?query`), one connection per
/// call, for tests. Sends `headers` as given, plus Host, Content-Length and, when the body is non-empty
/// and no Content-Type is given, `Content-Type: application/json`. Returns any status, including 4xx and
/// 5xx. Throws std::runtime_error naming the method and URL on a bad URL, connection failure, or when
/// the whole exchange takes longer than `timeout`.
HttpResponse http_request(const std::string& method, const std::string& url, const std::string& body = "",
                          const std::map<std::string, std::string>& headers = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// Polls GET `url` until it answers 200 or `timeout` passes (connection errors count as "not yet").
/// Returns whether it answered 200.
bool wait_http_ok(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace centaur::test_support
