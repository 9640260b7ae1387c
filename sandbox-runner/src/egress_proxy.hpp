#pragma once
// The host end of a sandbox's only way out: an HTTP proxy on a unix socket bound into the sandbox. It allows
// configured hosts, refuses CONNECT and everything else, and acts as the model gateway: requests for the model
// host get the real credential in place of the placeholder the sandbox holds.

#include <centaur/sandbox/egress.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

namespace centaur::sandbox {

/// One proxy per sandbox. Owned by LocalSandbox; runs on its io_context thread. Lifecycle: `start` binds the
/// socket (0666, its directory is the sandbox's) and accepts; `stop` closes the acceptor and every open
/// connection. Each connection carries one request (`Connection: close` is forced both ways).
/// Secrets: the real key is only written to the upstream connection, never logged.
class EgressProxy : public std::enable_shared_from_this<EgressProxy> {
public:
    EgressProxy(boost::asio::any_io_executor executor, EgressOptions options, std::string sandbox_id);
    /// Binds `socket_path` and starts accepting. Fails with a system error when the socket cannot be bound.
    result<void> start(const std::filesystem::path& socket_path);
    void stop();

    std::uint64_t allowed() const { return allowed_; }
    std::uint64_t refused() const { return refused_; }

private:
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> serve(boost::asio::local::stream_protocol::socket client);

    boost::asio::any_io_executor executor_;
    EgressOptions options_;
    std::string sandbox_id_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
    bool stopped_ = false;
    std::atomic<std::uint64_t> allowed_{0};
    std::atomic<std::uint64_t> refused_{0};
    boost::asio::ssl::context tls_context_;  ///< https upstreams: peer and host name verified
};

}  // namespace centaur::sandbox
