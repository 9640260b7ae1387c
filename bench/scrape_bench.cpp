// centaur-bench-scrape: how long one `GET /metrics` of a running server takes, as Prometheus scrapes it (one
// kept-alive connection, sequential requests). bench/run-bench runs it against a server under ingest and turn load.
//
//   centaur-bench-scrape --port P [--host 127.0.0.1] [--scrapes 200] [--interval-ms 50]
//
// Prints `FIGURE metrics_scrape p50=…ms p99=…ms max=…ms bytes=… series=… (target < 10 ms)` and a RESULT JSON line.

#include "samples.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& why) {
    std::fprintf(stderr, "centaur-bench-scrape: %s\n", why.c_str());
    std::exit(1);
}

int connect_to(const std::string& host, int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail("socket: " + std::string(std::strerror(errno)));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) fail("bad host " + host);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        fail("connect: " + std::string(std::strerror(errno)));
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/// One GET /metrics on the kept-alive connection; returns the body (the server answers with Content-Length).
std::string scrape(int fd, const std::string& host) {
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: " + host + "\r\nAccept: text/plain\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
        fail("send failed");
    std::string in;
    char buf[1 << 16];
    std::size_t header_end = std::string::npos;
    std::size_t length = 0;
    for (;;) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) fail("connection closed mid-response");
        in.append(buf, static_cast<std::size_t>(n));
        if (header_end == std::string::npos) {
            header_end = in.find("\r\n\r\n");
            if (header_end == std::string::npos) continue;
            if (in.compare(0, 12, "HTTP/1.1 200") != 0) fail("status: " + in.substr(0, in.find('\r')));
            const auto at = in.find("Content-Length: ");
            if (at == std::string::npos || at > header_end) fail("no Content-Length");
            length = std::strtoull(in.c_str() + at + 16, nullptr, 10);
        }
        if (in.size() >= header_end + 4 + length) return in.substr(header_end + 4, length);
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    int port = 0;
    int scrapes = 200;
    int interval_ms = 50;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const std::string value = argv[i + 1];
        if (flag == "--host") host = value;
        else if (flag == "--port") port = std::atoi(value.c_str());
        else if (flag == "--scrapes") scrapes = std::atoi(value.c_str());
        else if (flag == "--interval-ms") interval_ms = std::atoi(value.c_str());
        else fail("unknown flag " + flag);
    }
    if (port <= 0 || scrapes <= 0)
        fail("usage: centaur-bench-scrape --port P [--host H] [--scrapes N] [--interval-ms MS]");

    const int fd = connect_to(host, port);
    centaur::bench::Samples samples;
    samples.ns.reserve(static_cast<std::size_t>(scrapes));
    std::size_t bytes = 0;
    std::size_t series = 0;
    for (int i = 0; i < scrapes; ++i) {
        const auto started = Clock::now();
        const auto body = scrape(fd, host);
        samples.ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count());
        bytes = body.size();
        series = 0;
        for (std::size_t at = 0; at < body.size();) {
            const auto end = body.find('\n', at);
            if (body[at] != '#') ++series;
            at = end == std::string::npos ? body.size() : end + 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    }
    ::close(fd);
    std::printf("FIGURE metrics_scrape p50=%.2fms p99=%.2fms max=%.2fms bytes=%zu series=%zu scrapes=%d (target < 10 ms)\n",
                samples.pct(50), samples.pct(99), samples.pct(100), bytes, series, scrapes);
    std::printf("RESULT {%s,\"bytes\":%zu,\"series\":%zu}\n", samples.json_fields("").c_str(), bytes, series);
    return 0;
}
