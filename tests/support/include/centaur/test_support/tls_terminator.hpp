#pragma once

#include <centaur/test_support/child_process.hpp>

#include <memory>
#include <string>

namespace centaur::test_support {

/// A TLS front for a plain-TCP server on 127.0.0.1:`upstream_port`, for tests of our TLS clients: a fresh
/// self-signed certificate for `localhost` (openssl CLI) and a python3 `ssl` terminator that pipes each
/// connection to the upstream. Clients trust it through SSL_CERT_FILE=cert_path(). The constructor returns
/// once it listens (bounded, throws std::runtime_error otherwise); the destructor kills it and removes its
/// directory.
class TlsTerminator {
public:
    explicit TlsTerminator(int upstream_port);
    ~TlsTerminator();
    TlsTerminator(const TlsTerminator&) = delete;
    TlsTerminator& operator=(const TlsTerminator&) = delete;

    int port() const { return port_; }
    /// PEM certificate (its own CA): the value for SSL_CERT_FILE.
    std::string cert_path() const { return dir_ + "/cert.pem"; }

private:
    std::string dir_;
    std::unique_ptr<ChildProcess> proxy_;
    int port_ = 0;
};

}  // namespace centaur::test_support
