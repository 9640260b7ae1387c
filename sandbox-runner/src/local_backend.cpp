#include <centaur/sandbox/local_backend.hpp>

#include "cgroup.hpp"
#include "egress_proxy.hpp"
#include "isolation_setup.hpp"
#include "local_sandbox.hpp"
#include "process_spawn.hpp"

#include <centaur/schemas/hex.hpp>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace asio = boost::asio;

namespace centaur::sandbox {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t sandbox_id_random_bytes = 8;
constexpr char sandbox_id_prefix[] = "local-";
constexpr char default_search_path[] = "/usr/local/bin:/usr/bin:/bin";
constexpr char harness_env_name[] = "CENTAUR_HARNESS_TYPE";
constexpr char thread_key_env_name[] = "CENTAUR_THREAD_KEY";
// An isolated workload reads its stdin from a FIFO, opened by a shell that then execs it, so that only the
// workload's own processes hold the read end (bwrap's monitor and init keep the fds they were started with):
// when the workload closes its stdin, the runner's writes fail.
constexpr char stdin_dir_inside[] = "/run/centaur-stdin";
constexpr char stdin_fifo_name[] = "stdin";
constexpr char stdin_shell[] = "/bin/sh";
constexpr char stdin_redirect_script[] = "exec 0</run/centaur-stdin/stdin && exec \"$@\"";
constexpr auto stdin_attach_timeout = std::chrono::seconds(30);
constexpr auto stdin_attach_first_poll = std::chrono::milliseconds(1);
constexpr auto stdin_attach_max_poll = std::chrono::milliseconds(10);

std::string new_sandbox_id() {
    std::array<unsigned char, sandbox_id_random_bytes> bytes{};
    std::size_t filled = 0;
    while (filled < bytes.size()) {
        const ssize_t n = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
        if (n < 0 && errno == EINTR) continue;
        CENTAUR_ASSERT(n > 0, "getrandom failed");
        filled += static_cast<std::size_t>(n);
    }
    std::string id = sandbox_id_prefix;
    schemas::append_hex(id, bytes.data(), bytes.size());
    return id;
}

bool valid_env_entry(const std::string& name, const std::string& value) {
    return !name.empty() && name.find_first_of(std::string_view("=\0", 2)) == std::string::npos &&
           value.find('\0') == std::string::npos;
}

/// Opens the write end of an isolated workload's stdin FIFO once the workload's shell holds the read end (its
/// open waits for a writer, and ours fails with ENXIO until it is there). Empty when the sandbox ended first,
/// on another error, or after stdin_attach_timeout.
asio::awaitable<UniqueFd> attach_stdin(const std::filesystem::path& fifo, const LocalSandbox& sandbox) {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    const auto deadline = std::chrono::steady_clock::now() + stdin_attach_timeout;
    std::chrono::milliseconds pause = stdin_attach_first_poll;
    for (;;) {
        UniqueFd fd(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
        if (fd) co_return std::move(fd);
        const int error = errno;
        const bool ended = sandbox.status() == SandboxStatus::stopped || sandbox.status() == SandboxStatus::gone;
        if ((error != ENXIO && error != EINTR) || ended || std::chrono::steady_clock::now() >= deadline) {
            spdlog::warn("sandbox {}: stdin FIFO not attached: {}", sandbox.id(),
                         ended ? std::string("the workload ended first") : std::string(std::strerror(error)));
            co_return std::move(fd);
        }
        timer.expires_after(pause);
        co_await timer.async_wait(use_tuple);
        pause = std::min(pause * 2, stdin_attach_max_poll);
    }
}

}  // namespace

/// FIFO admission to `running_limit` live sandboxes. Lives on the io_context thread; shared with the
/// sandboxes' release callbacks, so it outlives the backend if they do.
struct LocalSandboxBackend::Admission {
    struct Waiter {
        explicit Waiter(asio::any_io_executor ex) : timer(std::move(ex)) {}
        asio::steady_timer timer;
        bool granted = false;
    };
    std::uint32_t limit = 0;
    std::uint32_t active = 0;
    std::deque<std::shared_ptr<Waiter>> waiters;

    void release() {
        CENTAUR_ASSERT(active > 0, "sandbox slot released twice");
        --active;
        while (!waiters.empty()) {
            auto next = std::move(waiters.front());
            waiters.pop_front();
            if (next->timer.expiry() <= asio::steady_timer::clock_type::now()) continue;  // gave up already
            next->granted = true;
            ++active;
            next->timer.cancel();
            return;
        }
    }
};

LocalSandboxBackend::LocalSandboxBackend(asio::any_io_executor executor, LocalBackendOptions options)
    : executor_(std::move(executor)), options_(std::move(options)) {
    CENTAUR_ASSERT(options_.max_line_bytes > 0, "max_line_bytes must be positive");
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
        ::signal(SIGPIPE, SIG_IGN);
    setup_ = std::make_unique<IsolationSetup>(probe_isolation(options_.isolation));
    const auto& report = setup_->report;
    for (const auto& line : report.enforced) spdlog::info("sandbox isolation: enforced: {}", line);
    for (const auto& line : report.not_enforced) spdlog::warn("sandbox isolation: NOT enforced: {}", line);
    if (report.isolated) {
        spdlog::info("sandbox isolation: bubblewrap {}, sandboxes run as uid {}", report.bwrap_path, report.uid);
    } else if (options_.isolation.mode == IsolationMode::required) {
        spdlog::error("sandbox isolation unavailable: {}; refusing to run workloads", report.unavailable);
    } else {
        spdlog::warn("!!! sandbox isolation unavailable: {}; workloads run as PLAIN PROCESSES with host "
                     "filesystem and network access !!!",
                     report.unavailable);
    }
    if (const int reaped = reap_orphans(); reaped > 0)
        spdlog::warn("sandbox reaper: killed {} orphaned sandbox(es) of a runner that died", reaped);
    admission_ = std::make_shared<Admission>();
    admission_->limit = options_.running_limit;
    if (options_.running_limit > 0) spdlog::info("sandboxes: at most {} live, further creates queue", options_.running_limit);
}

LocalSandboxBackend::~LocalSandboxBackend() {
    if (reap_timer_) reap_timer_->cancel();
}

std::uint32_t LocalSandboxBackend::live_sandboxes() const { return admission_->active; }

std::size_t LocalSandboxBackend::queued_creates() const { return admission_->waiters.size(); }

void LocalSandboxBackend::start_background() {
    if (background_started_ || shut_down_) return;
    background_started_ = true;
    if (options_.warm_pool_size > 0 && can_run())
        asio::co_spawn(executor_, fill_warm_pool(), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    if (options_.reap_interval.count() > 0) {
        reap_timer_ = std::make_shared<asio::steady_timer>(executor_);
        asio::co_spawn(executor_, reap_loop(), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    }
}

asio::awaitable<void> LocalSandboxBackend::reap_loop() {
    auto timer = reap_timer_;
    for (;;) {
        timer->expires_after(options_.reap_interval);
        auto [ec] = co_await timer->async_wait(use_tuple);
        if (ec || shut_down_) co_return;
        if (const int reaped = reap_orphans(); reaped > 0)
            spdlog::warn("sandbox reaper: killed {} orphaned sandbox(es)", reaped);
    }
}

asio::awaitable<void> LocalSandboxBackend::fill_warm_pool() {
    if (filling_) co_return;
    filling_ = true;
    while (!shut_down_ && warm_.size() < options_.warm_pool_size) {
        // Warm sandboxes only take free slots: they never queue ahead of real creates.
        if (admission_->limit > 0 && admission_->active >= admission_->limit) break;
        SandboxSpec spec{"", options_.warm_harness, {}};
        auto made = co_await start_sandbox(std::move(spec), true);
        if (!made) break;
        if (shut_down_) {
            co_await (*made)->stop();
            break;
        }
        warm_.push_back(std::move(*made));
        spdlog::info("sandbox warm pool: {} of {} ready", warm_.size(), options_.warm_pool_size);
    }
    filling_ = false;
}

asio::awaitable<void> LocalSandboxBackend::shutdown() {
    if (shut_down_) co_return;
    shut_down_ = true;
    if (reap_timer_) reap_timer_->cancel();
    // A warm-pool fill in flight runs on `this`: let it see shut_down_ and end (it stops what it just made)
    // before the caller may destroy the backend.
    while (filling_) {
        asio::steady_timer tick(executor_, std::chrono::milliseconds(5));
        co_await tick.async_wait(use_tuple);
    }
    while (!warm_.empty()) {
        auto sandbox = std::move(warm_.front());
        warm_.pop_front();
        co_await sandbox->stop();
    }
}

asio::awaitable<std::vector<std::string>> LocalSandboxBackend::drain_idle() {
    std::vector<std::string> stopped;
    while (!warm_.empty()) {
        auto sandbox = std::move(warm_.front());
        warm_.pop_front();
        stopped.push_back(sandbox->id());
        co_await sandbox->stop();
    }
    if (!stopped.empty()) spdlog::info("sandbox warm pool drained: {} stopped", stopped.size());
    if (background_started_ && !shut_down_)
        asio::co_spawn(executor_, fill_warm_pool(), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    co_return stopped;
}

const IsolationReport& LocalSandboxBackend::isolation() const { return setup_->report; }

bool LocalSandboxBackend::can_run() const {
    return setup_->report.isolated || (options_.isolation.mode != IsolationMode::required &&
                                       (setup_->report.uid != 0 || ::geteuid() != 0));
}

int LocalSandboxBackend::reap_orphans() { return reap_orphan_cgroups(setup_->cgroups); }

asio::awaitable<result<std::shared_ptr<Sandbox>>> LocalSandboxBackend::create(SandboxSpec spec) {
    if (!warm_.empty() && spec.env.empty() && spec.harness_type == options_.warm_harness) {
        auto sandbox = std::move(warm_.front());
        warm_.pop_front();
        if (sandbox->status() == SandboxStatus::running) {
            spdlog::info("sandbox {} taken from the warm pool for thread {}", sandbox->id(), spec.thread_key);
            if (background_started_)
                asio::co_spawn(executor_, fill_warm_pool(), [](std::exception_ptr e) {
                    if (e) std::rethrow_exception(e);
                });
            co_return sandbox;
        }
        co_await sandbox->stop();  // died while warm: start a fresh one
    }
    co_return co_await start_sandbox(std::move(spec), false);
}

asio::awaitable<result<std::shared_ptr<Sandbox>>> LocalSandboxBackend::start_sandbox(SandboxSpec spec,
                                                                                      bool prewarmed) {
    const auto& report = setup_->report;
    if (!can_run()) {
        spdlog::warn("sandbox create refused for {}: isolation unavailable ({})", spec.thread_key, report.unavailable);
        co_return errc::sandbox_failed;
    }
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
    if (!program || ::access(program->c_str(), X_OK) != 0) {
        spdlog::warn("sandbox create failed: workload program '{}' not found", options_.command.front());
        co_return errc::sandbox_failed;
    }

    // A slot under the running limit, waiting in FIFO order (bounded) when all are taken.
    auto admission = admission_;
    if (admission->limit > 0 && admission->active >= admission->limit) {
        auto waiter = std::make_shared<Admission::Waiter>(executor_);
        waiter->timer.expires_after(options_.queue_timeout);
        admission->waiters.push_back(waiter);
        spdlog::info("sandbox create for {} queued: {} of {} sandboxes live, {} waiting", spec.thread_key,
                     admission->active, admission->limit, admission->waiters.size());
        if (spec.on_queued) spec.on_queued(admission->waiters.size(), admission->limit, admission->active);
        co_await waiter->timer.async_wait(use_tuple);
        if (!waiter->granted) {
            std::erase(admission->waiters, waiter);
            spdlog::warn("sandbox create for {} failed: no slot within {} ms (SESSION_SANDBOX_RUNNING_LIMIT={})",
                         spec.thread_key, options_.queue_timeout.count(), admission->limit);
            co_return errc::sandbox_failed;
        }
    } else {
        ++admission->active;
    }
    // Given back when the sandbox is stopped, or right away when this create fails.
    bool slot_handed_over = false;
    struct SlotGuard {
        std::shared_ptr<Admission> admission;
        bool* handed_over;
        ~SlotGuard() {
            if (!*handed_over) admission->release();
        }
    } slot_guard{admission, &slot_handed_over};

    const std::string id = new_sandbox_id();
    const bool own_workspace = !options_.fixed_workspace;
    const auto workspace = own_workspace ? options_.workspace_root / id : *options_.fixed_workspace;
    std::error_code fs_error;
    if (own_workspace) {
        std::filesystem::create_directories(options_.workspace_root, fs_error);
        if (fs_error || !std::filesystem::create_directory(workspace, fs_error)) {
            spdlog::warn("sandbox create failed: cannot create workspace {}: {}", workspace.string(),
                         fs_error ? fs_error.message() : "already exists");
            co_return errc::sandbox_failed;
        }
        std::filesystem::permissions(workspace, std::filesystem::perms::owner_all, fs_error);
        if (report.switch_user && ::chown(workspace.c_str(), report.uid, report.gid) != 0) {
            spdlog::warn("sandbox create failed: chown {}: {}", workspace.string(), std::strerror(errno));
            std::filesystem::remove_all(workspace, fs_error);
            co_return errc::sandbox_failed;
        }
    }
    auto remove_workspace = [&] {
        if (own_workspace) std::filesystem::remove_all(workspace, fs_error);
    };

    const auto& limits = options_.isolation.limits;
    std::unique_ptr<SandboxCgroup> cgroup;
    if (setup_->cgroups.any()) {
        auto made = SandboxCgroup::create(setup_->cgroups, id, limits);
        if (!made) {
            remove_workspace();
            co_return errc::sandbox_failed;
        }
        cgroup = std::move(*made);
    }

    SpawnRequest request{options_.command, std::move(env_entries), workspace, workspace / stderr_log_name};
    request.inherit_stderr = options_.inherit_stderr;
    std::shared_ptr<EgressProxy> egress;
    std::filesystem::path egress_dir;
    std::filesystem::path stdin_dir;
    if (report.isolated) {
        BwrapLayout layout{workspace, options_.ro_binds, cgroup && cgroup->can_freeze()};
        const auto inside = program_in_sandbox(*program, layout.ro_binds);
        std::vector<std::string> workload_prefix;
        // The stdin FIFO (0600, the sandbox uid's) in a directory of its own, bound read-only.
        stdin_dir = options_.workspace_root / ".stdin" / id;
        std::filesystem::create_directories(stdin_dir, fs_error);
        for (const auto& dir : {stdin_dir.parent_path(), stdin_dir})
            ::chmod(dir.c_str(), 0711);
        const auto fifo = stdin_dir / stdin_fifo_name;
        if (fs_error || ::mkfifo(fifo.c_str(), 0600) != 0 ||
            (report.switch_user && ::chown(fifo.c_str(), report.uid, report.gid) != 0)) {
            spdlog::warn("sandbox {} create failed: stdin FIFO {}: {}", id, fifo.string(),
                         fs_error ? fs_error.message() : std::strerror(errno));
            std::filesystem::remove_all(stdin_dir, fs_error);
            cgroup.reset();
            remove_workspace();
            co_return errc::sandbox_failed;
        }
        layout.ro_binds.emplace_back(stdin_dir, stdin_dir_inside);
        if (options_.egress.enabled) {
            // The proxy's socket directory (0711, socket 0666) is bound read-only; a forwarder inside relays
            // 127.0.0.1:18999 to it.
            egress_dir = options_.workspace_root / ".egress" / id;
            std::filesystem::create_directories(egress_dir, fs_error);
            for (const auto& dir : {egress_dir.parent_path(), egress_dir})
                ::chmod(dir.c_str(), 0711);
            egress = std::make_shared<EgressProxy>(executor_, options_.egress, id);
            if (fs_error || !egress->start(egress_dir / egress_socket_name)) {
                spdlog::warn("sandbox {} create failed: egress proxy socket in {}", id, egress_dir.string());
                std::filesystem::remove_all(egress_dir, fs_error);
                std::filesystem::remove_all(stdin_dir, fs_error);
                cgroup.reset();
                remove_workspace();
                co_return errc::sandbox_failed;
            }
            layout.ro_binds.emplace_back(egress_dir, sandbox_egress_dir);
            const auto forwarder = program_in_sandbox(options_.forwarder, layout.ro_binds);
            workload_prefix = {forwarder.string(), std::to_string(sandbox_proxy_port),
                               std::string(sandbox_egress_dir) + "/" + egress_socket_name, "--"};
            const std::string proxy_url = "http://127.0.0.1:" + std::to_string(sandbox_proxy_port);
            for (const char* name : {"HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"})
                request.env.push_back(std::string(name) + "=" + proxy_url);
            if (!options_.egress.model_upstream.empty() && !env.count("OPENAI_API_KEY"))
                request.env.push_back(std::string("OPENAI_API_KEY=") + options_.egress.placeholder);
        }
        auto argv = bwrap_prefix(report.bwrap_path, layout);
        argv.insert(argv.end(), workload_prefix.begin(), workload_prefix.end());
        argv.insert(argv.end(), {stdin_shell, "-c", stdin_redirect_script, "centaur-stdin"});
        argv.push_back(inside.string());
        argv.insert(argv.end(), options_.command.begin() + 1, options_.command.end());
        request.argv = std::move(argv);
    } else {
        request.argv.front() = program->string();
    }
    if (report.switch_user) request.run_as = SpawnRequest::Credentials{report.uid, report.gid};
    request.rlimits.emplace_back(RLIMIT_CORE, 0);
    if (limits.open_files > 0) request.rlimits.emplace_back(RLIMIT_NOFILE, limits.open_files);
    if (limits.file_size_bytes > 0) request.rlimits.emplace_back(RLIMIT_FSIZE, limits.file_size_bytes);
    // Per uid, so across all sandboxes: the per-sandbox bound is the pids cgroup. Root ignores it.
    if (limits.pids > 0 && report.switch_user)
        request.rlimits.emplace_back(RLIMIT_NPROC,
                                     static_cast<rlim_t>(limits.pids) * options_.isolation.max_sandboxes);
    if (limits.memory_bytes > 0 && !setup_->cgroups.memory) request.rlimits.emplace_back(RLIMIT_AS, limits.memory_bytes);
    std::vector<UniqueFd> procs_files;
    if (cgroup) procs_files = cgroup->open_procs_files();
    for (const auto& fd : procs_files) request.cgroup_procs_fds.push_back(fd.get());

    auto spawned = spawn_process(request);
    procs_files.clear();
    if (!spawned) {
        spdlog::warn("sandbox {} create failed: spawning {}: {}", id, request.argv.front(),
                     spawned.error().message());
        if (egress) egress->stop();
        if (!egress_dir.empty()) std::filesystem::remove_all(egress_dir, fs_error);
        if (!stdin_dir.empty()) std::filesystem::remove_all(stdin_dir, fs_error);
        cgroup.reset();
        remove_workspace();
        co_return errc::sandbox_failed;
    }
    asio::posix::stream_descriptor exec_status(executor_, spawned->exec_status_fd.release());
    slot_handed_over = true;
    auto sandbox = LocalSandbox::adopt(executor_, id, workspace, std::move(spawned->child), options_.max_line_bytes,
                                       LocalSandbox::Extras{std::move(cgroup), !own_workspace, limits.max_lifetime,
                                                            [admission] { admission->release(); }, egress,
                                                            egress_dir, stdin_dir,
                                                            LocalSandbox::Extras::ExecSetup{
                                                                report.isolated, "/usr/bin/nsenter",
                                                                report.switch_user, report.uid, report.gid,
                                                                request.env}});
    sandbox->set_prewarmed(prewarmed);

    ExecReport exec_report;
    auto [ec, received] =
        co_await asio::async_read(exec_status, asio::buffer(&exec_report, sizeof exec_report), use_tuple);
    if (ec != asio::error::eof || received != 0) {
        spdlog::warn("sandbox {} create failed: starting {}: {}", id, request.argv.front(),
                     received == sizeof exec_report ? describe(exec_report) : "exec status pipe: " + ec.message());
        co_await sandbox->stop();
        co_return errc::sandbox_failed;
    }
    if (!stdin_dir.empty()) {
        auto fd = co_await attach_stdin(stdin_dir / stdin_fifo_name, *sandbox);
        if (!fd) {
            co_await sandbox->stop();
            co_return errc::sandbox_failed;
        }
        sandbox->replace_stdin(std::move(fd));
    }
    sandbox->mark_running();
    spdlog::info("sandbox {} started: pid {}, thread {}, harness {}, {}", id, sandbox->pid(), spec.thread_key,
                 spec.harness_type, report.isolated ? "isolated" : "NOT isolated");
    co_return std::shared_ptr<Sandbox>(std::move(sandbox));
}

}  // namespace centaur::sandbox
