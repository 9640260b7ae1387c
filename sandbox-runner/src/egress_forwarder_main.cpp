// centaur-egress-forwarder PORT SOCKET -- PROGRAM [ARGS...]
// Runs inside an isolated sandbox as the workload's parent: listens on 127.0.0.1:PORT (the sandbox's own
// loopback, exported as HTTP_PROXY) and relays every connection to the unix SOCKET bound in from the runner,
// its only way out. Starts PROGRAM with the same stdin/stdout/stderr (it keeps no copy of stdin or stdout)
// and exits with PROGRAM's status (128 + signal when killed). Exits 125 when it cannot start.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int exit_failed = 125;
constexpr int exit_signal_base = 128;
constexpr int listen_backlog = 64;
constexpr std::size_t relay_chunk = 16 * 1024;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "centaur-egress-forwarder: %s: %s\n", what, std::strerror(errno));
    std::exit(exit_failed);
}

bool write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

/// Relays bytes both ways between `a` and `b` until both directions ended; closes both.
void relay(int a, int b) {
    std::array<pollfd, 2> fds{pollfd{a, POLLIN, 0}, pollfd{b, POLLIN, 0}};
    std::array<bool, 2> open{true, true};
    std::array<char, relay_chunk> buffer{};
    while (open[0] || open[1]) {
        for (int i = 0; i < 2; ++i) fds[i].events = open[i] ? POLLIN : 0;
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (!open[i] || fds[i].revents == 0) continue;
            const int from = fds[i].fd;
            const int to = fds[1 - i].fd;
            const ssize_t n = ::read(from, buffer.data(), buffer.size());
            if (n <= 0 || !write_all(to, buffer.data(), static_cast<std::size_t>(n))) {
                open[i] = false;
                ::shutdown(to, SHUT_WR);
            }
        }
    }
    ::close(a);
    ::close(b);
}

void serve(int client, std::string socket_path) {
    const int upstream = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
    if (upstream < 0 || ::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        static constexpr char answer[] =
            "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        write_all(client, answer, sizeof answer - 1);
        ::close(client);
        if (upstream >= 0) ::close(upstream);
        return;
    }
    relay(client, upstream);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5 || std::string(argv[3]) != "--") {
        std::fprintf(stderr, "usage: centaur-egress-forwarder PORT SOCKET -- PROGRAM [ARGS...]\n");
        return exit_failed;
    }
    const int port = std::atoi(argv[1]);
    const std::string socket_path = argv[2];
    ::signal(SIGPIPE, SIG_IGN);

    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) fail("socket");
    const int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("bind 127.0.0.1");
    if (::listen(listener, listen_backlog) != 0) fail("listen");

    const pid_t child = ::fork();
    if (child < 0) fail("fork");
    if (child == 0) {
        ::signal(SIGPIPE, SIG_DFL);
        ::execvp(argv[4], argv + 4);
        std::fprintf(stderr, "centaur-egress-forwarder: exec %s: %s\n", argv[4], std::strerror(errno));
        ::_exit(127);
    }
    // The workload owns stdin and stdout: keep no copy, so their EOF semantics are the workload's alone.
    const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
        ::dup2(null_fd, STDIN_FILENO);
        ::dup2(null_fd, STDOUT_FILENO);
        ::close(null_fd);
    }
    std::thread([listener, socket_path] {
        for (;;) {
            const int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                return;
            }
            std::thread(serve, client, socket_path).detach();
        }
    }).detach();

    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) std::_Exit(WEXITSTATUS(status));
    std::_Exit(exit_signal_base + (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
}
