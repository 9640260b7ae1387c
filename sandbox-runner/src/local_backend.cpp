#include <centaur/sandbox/local_backend.hpp>

#include "local_sandbox.hpp"
#include "process_spawn.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <signal.h>
#include <sys/random.h>

#include <array>
#include <cerrno>

namespace asio = boost::asio;

namespace centaur::sandbox {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t sandbox_id_random_bytes = 8;
constexpr char sandbox_id_prefix[] = "local-";
constexpr char default_search_path[] = "/usr/local/bin:/usr/bin:/bin";
constexpr char harness_env_name[] = "CENTAUR_HARNESS_TYPE";
constexpr char thread_key_env_name[] = "CENTAUR_THREAD_KEY";

std::string new_sandbox_id() {
    std::array<unsigned char, sandbox_id_random_bytes> bytes{};
    std::size_t filled = 0;
    while (filled < bytes.size()) {
        const ssize_t n = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
        if (n < 0 && errno == EINTR) continue;
        CENTAUR_ASSERT(n > 0, "getrandom failed");
        filled += static_cast<std::size_t>(n);
    }
    static constexpr char hex_digits[] = "0123456789abcdef";
    std::string id = sandbox_id_prefix;
    for (const unsigned char byte : bytes) {
        id.push_back(hex_digits[byte >> 4]);
        id.push_back(hex_digits[byte & 0x0f]);
    }
    return id;
}

bool valid_env_entry(const std::string& name, const std::string& value) {
    return !name.empty() && name.find_first_of(std::string_view("=\0", 2)) == std::string::npos &&
           value.find('\0') == std::string::npos;
}

}  // namespace

LocalSandboxBackend::LocalSandboxBackend(asio::any_io_executor executor, LocalBackendOptions options)
    : executor_(std::move(executor)), options_(std::move(options)) {
    CENTAUR_ASSERT(options_.max_line_bytes > 0, "max_line_bytes must be positive");
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
        ::signal(SIGPIPE, SIG_IGN);
}

asio::awaitable<result<std::shared_ptr<Sandbox>>> LocalSandboxBackend::create(SandboxSpec spec) {
    if (options_.command.empty()) {
        spdlog::error("sandbox create failed: no workload command configured");
        co_return errc::sandbox_failed;
    }
    std::map<std::string, std::string> env = options_.base_env;
    for (auto& [name, value] : spec.env) env[name] = value;
    env[harness_env_name] = spec.harness_type;
    env[thread_key_env_name] = spec.thread_key;
    std::vector<std::string> env_entries;
    env_entries.reserve(env.size());
    for (const auto& [name, value] : env) {
        if (!valid_env_entry(name, value)) {
            spdlog::warn("sandbox create failed for {}: invalid environment variable '{}'", spec.thread_key,
                         name);
            co_return errc::sandbox_failed;
        }
        env_entries.push_back(name + "=" + value);
    }
    const auto path_entry = env.find("PATH");
    auto program =
        find_program(options_.command.front(),
                     path_entry != env.end() ? path_entry->second : std::string(default_search_path));
    if (!program) {
        spdlog::warn("sandbox create failed: workload program '{}' not found", options_.command.front());
        co_return errc::sandbox_failed;
    }

    const std::string id = new_sandbox_id();
    const auto workspace = options_.workspace_root / id;
    std::error_code fs_error;
    std::filesystem::create_directories(options_.workspace_root, fs_error);
    if (fs_error || !std::filesystem::create_directory(workspace, fs_error)) {
        spdlog::warn("sandbox create failed: cannot create workspace {}: {}", workspace.string(),
                     fs_error ? fs_error.message() : "already exists");
        co_return errc::sandbox_failed;
    }
    std::filesystem::permissions(workspace, std::filesystem::perms::owner_all, fs_error);

    // The argv seam: an isolation prefix (bwrap … --) goes in front of the workload's command here.
    SpawnRequest request{options_.command, std::move(env_entries), workspace, workspace / stderr_log_name};
    request.argv.front() = program->string();
    auto spawned = spawn_process(request);
    if (!spawned) {
        spdlog::warn("sandbox {} create failed: spawning {}: {}", id, request.argv.front(),
                     spawned.error().message());
        std::filesystem::remove_all(workspace, fs_error);
        co_return errc::sandbox_failed;
    }
    asio::posix::stream_descriptor exec_status(executor_, spawned->exec_status_fd.release());
    auto sandbox =
        LocalSandbox::adopt(executor_, id, workspace, std::move(spawned->child), options_.max_line_bytes);

    ExecReport report;
    auto [ec, received] =
        co_await asio::async_read(exec_status, asio::buffer(&report, sizeof report), use_tuple);
    if (ec != asio::error::eof || received != 0) {
        spdlog::warn("sandbox {} create failed: starting {}: {}", id, request.argv.front(),
                     received == sizeof report ? describe(report) : "exec status pipe: " + ec.message());
        co_await sandbox->stop();
        co_return errc::sandbox_failed;
    }
    sandbox->mark_running();
    spdlog::info("sandbox {} started: pid {}, thread {}, harness {}", id, sandbox->pid(), spec.thread_key,
                 spec.harness_type);
    co_return std::shared_ptr<Sandbox>(std::move(sandbox));
}

}  // namespace centaur::sandbox
