#include <centaur/test_support/paths.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#ifndef CENTAUR_TEST_SUPPORT_SOURCE_DIR
#error "CENTAUR_TEST_SUPPORT_SOURCE_DIR must be defined by the build"
#endif

namespace centaur::test_support {

std::string env_or(const char* name, const std::string& fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

int free_tcp_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("free_tcp_port: socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const int err = errno;
        ::close(fd);
        throw std::runtime_error(std::string("free_tcp_port: bind: ") + std::strerror(err));
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::string bin_path(const std::string& name) {
    namespace fs = std::filesystem;
    std::string dir = env_or("CENTAUR_BIN_DIR", "");
    if (dir.empty()) {
        std::error_code ec;
        const auto self = fs::read_symlink("/proc/self/exe", ec);
        if (!ec) dir = (self.parent_path().parent_path() / "bin").string();
    }
    const auto path = fs::path(dir) / name;
    if (!fs::exists(path))
        throw std::runtime_error("bin_path: " + path.string() + " does not exist (run `make build`; " +
                                 "CENTAUR_BIN_DIR selects the directory)");
    return path.string();
}

std::string source_path(const std::string& rel) {
    return (std::filesystem::path(env_or("CENTAUR_SOURCE_DIR", CENTAUR_TEST_SUPPORT_SOURCE_DIR)) / rel).string();
}

}  // namespace centaur::test_support
