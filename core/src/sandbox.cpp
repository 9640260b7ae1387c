#include <centaur/core/sandbox.hpp>

namespace centaur {

std::string_view to_string(SandboxStatus s) {
    switch (s) {
        case SandboxStatus::created: return "created";
        case SandboxStatus::running: return "running";
        case SandboxStatus::suspended: return "suspended";
        case SandboxStatus::stopped: return "stopped";
        case SandboxStatus::gone: return "gone";
    }
    return "unknown";
}

boost::asio::awaitable<result<ExecResult>> Sandbox::exec(std::vector<std::string>, std::chrono::milliseconds) {
    co_return errc::sandbox_failed;
}

boost::asio::awaitable<std::vector<std::string>> SandboxBackend::drain_idle() {
    std::vector<std::string> none;
    co_return none;
}

}  // namespace centaur
