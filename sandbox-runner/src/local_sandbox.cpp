#include "local_sandbox.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <optional>
#include <utility>

namespace asio = boost::asio;

namespace centaur::sandbox {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_utf8_continuation_bytes = 3;
constexpr unsigned char utf8_continuation_mask = 0xC0;
constexpr unsigned char utf8_continuation_bits = 0x80;
constexpr std::streamoff stderr_tail_bytes = 2048;
constexpr int cgroup_removal_attempts = 100;
constexpr std::size_t exec_output_cap = std::size_t{1} << 20;
constexpr std::size_t exec_read_chunk = 16 * 1024;
constexpr int exit_signal_base = 128;

constexpr int workload_poll_attempts = 400;
constexpr auto workload_poll_interval = std::chrono::milliseconds(5);

/// The command name of `pid` (/proc/<pid>/comm), empty when it is gone.
std::string process_name(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(in, name);
    return name;
}

/// The first child of `pid` (from /proc/<pid>/task/<pid>/children), if any.
std::optional<pid_t> first_child(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    pid_t child = 0;
    if (in >> child) return child;
    return std::nullopt;
}
constexpr auto cgroup_removal_interval = std::chrono::milliseconds(10);

bool is_continuation_byte(char c) {
    return (static_cast<unsigned char>(c) & utf8_continuation_mask) == utf8_continuation_bits;
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
    return "wait status " + std::to_string(status);
}

std::string read_tail(const std::filesystem::path& file, std::streamoff max_bytes) {
    std::ifstream in(file, std::ios::binary | std::ios::ate);
    if (!in) return {};
    const std::streamoff size = in.tellg();
    const std::streamoff start = std::max<std::streamoff>(0, size - max_bytes);
    in.seekg(start);
    std::string tail(static_cast<std::size_t>(size - start), '\0');
    in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
    return tail;
}

}  // namespace

std::shared_ptr<LocalSandbox> LocalSandbox::adopt(asio::any_io_executor executor, std::string id,
                                                  std::filesystem::path workspace, ChildProcess child,
                                                  std::size_t max_line_bytes, Extras extras) {
    const auto lifetime = extras.max_lifetime;
    auto sandbox = std::make_shared<LocalSandbox>(std::move(executor), std::move(id), std::move(workspace),
                                                  std::move(child), max_line_bytes, std::move(extras));
    // Armed before the io_context can poll: the reactor is edge-triggered and a wait is not speculative, so
    // an exit reported while no wait is queued would be lost.
    sandbox->watch_exit();
    if (lifetime.count() > 0) sandbox->arm_lifetime(lifetime);
    return sandbox;
}

LocalSandbox::LocalSandbox(asio::any_io_executor executor, std::string id, std::filesystem::path workspace,
                           ChildProcess child, std::size_t max_line_bytes, Extras extras)
    : id_(std::move(id)),
      workspace_(std::move(workspace)),
      pid_(child.pid),
      max_line_bytes_(max_line_bytes),
      stdin_(executor, child.stdin_fd.release()),
      stdout_(executor, child.stdout_fd.release()),
      pidfd_(executor, child.pidfd.release()),
      reaped_event_(executor, asio::steady_timer::time_point::max()),
      stopped_event_(executor, asio::steady_timer::time_point::max()),
      cgroup_(std::move(extras.cgroup)),
      keep_workspace_(extras.keep_workspace),
      lifetime_timer_(executor),
      on_released_(std::move(extras.on_released)),
      egress_(std::move(extras.egress)),
      egress_dir_(std::move(extras.egress_dir)),
      stdin_dir_(std::move(extras.stdin_dir)),
      exec_setup_(std::move(extras.exec)) {
    CENTAUR_ASSERT(max_line_bytes_ > 0, "max_line_bytes must be positive");
}

LocalSandbox::~LocalSandbox() {
    if (!reaped_) {
        kill_tree();
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (stop_state_ != StopState::stopped) remove_workspace();
    if (egress_) egress_->stop();
    for (const auto& dir : {egress_dir_, stdin_dir_}) {
        std::error_code ec;
        if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
    if (auto release = std::exchange(on_released_, nullptr)) release();
}

void LocalSandbox::close_stdin() {
    boost::system::error_code ignored;
    stdin_.close(ignored);
    stdin_closed_ = true;
}

void LocalSandbox::replace_stdin(UniqueFd fd) {
    boost::system::error_code ignored;
    stdin_.close(ignored);
    stdin_.assign(fd.release(), ignored);
}

void LocalSandbox::mark_running() {
    if (status_ == SandboxStatus::created) status_ = SandboxStatus::running;
}

asio::awaitable<result<void>> LocalSandbox::write_line(std::string line) {
    auto self = shared_from_this();
    CENTAUR_ASSERT(!writing_, "at most one write_line may be outstanding");
    if (stop_state_ != StopState::not_stopped || reaped_ || stdin_closed_) co_return errc::sandbox_gone;
    line.push_back('\n');
    writing_ = true;
    auto [ec, written] = co_await asio::async_write(stdin_, asio::buffer(line), use_tuple);
    writing_ = false;
    if (!ec) co_return result<void>{};
    if (stop_state_ != StopState::not_stopped || ec == asio::error::broken_pipe ||
        ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
        co_return errc::sandbox_gone;
    spdlog::warn("sandbox {}: writing stdin failed after {} bytes: {}", id_, written, ec.message());
    co_return errc::sandbox_failed;
}

asio::awaitable<result<std::string>> LocalSandbox::read_line() {
    auto self = shared_from_this();
    CENTAUR_ASSERT(!reading_, "at most one read_line may be outstanding");
    if (stop_state_ != StopState::not_stopped) co_return errc::sandbox_gone;
    if (stdout_eof_) co_return errc::sandbox_eof;
    reading_ = true;
    // One byte over the limit leaves room for the '\n' of a line of exactly max_line_bytes_.
    auto [ec, length] = co_await asio::async_read_until(
        stdout_, asio::dynamic_buffer(read_buffer_, max_line_bytes_ + 1), '\n', use_tuple);
    reading_ = false;
    if (!ec) {
        std::string line = read_buffer_.substr(0, length - 1);
        read_buffer_.erase(0, length);
        co_return line;
    }
    if (ec == asio::error::not_found) co_return take_chunk();
    if (stop_state_ != StopState::not_stopped || ec == asio::error::operation_aborted)
        co_return errc::sandbox_gone;
    if (ec != asio::error::eof) spdlog::warn("sandbox {}: reading stdout failed: {}", id_, ec.message());
    if (!read_buffer_.empty()) co_return std::exchange(read_buffer_, std::string{});  // last line, no '\n'
    stdout_eof_ = true;
    co_return errc::sandbox_eof;
}

std::string LocalSandbox::take_chunk() {
    std::size_t cut = std::min(max_line_bytes_, read_buffer_.size());
    // Prefer not to split a UTF-8 sequence: back up to its lead byte if it starts within the last 3 bytes.
    std::size_t lead = cut;
    for (std::size_t steps = 0; steps < max_utf8_continuation_bytes && lead > 0 &&
                                lead < read_buffer_.size() && is_continuation_byte(read_buffer_[lead]);
         ++steps)
        --lead;
    if (lead > 0 && lead < read_buffer_.size() && !is_continuation_byte(read_buffer_[lead])) cut = lead;
    std::string chunk = read_buffer_.substr(0, cut);
    read_buffer_.erase(0, cut);
    return chunk;
}

void LocalSandbox::kill_tree() {
    ::kill(-pid_, SIGKILL);
    if (cgroup_) cgroup_->kill_all();
}

void LocalSandbox::arm_lifetime(std::chrono::seconds lifetime) {
    lifetime_timer_.expires_after(lifetime);
    lifetime_timer_.async_wait([weak = weak_from_this(), lifetime](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || self->reaped_ || self->stop_state_ != StopState::not_stopped) return;
        self->termination_reason_ = "max lifetime of " + std::to_string(lifetime.count()) + " s exceeded";
        spdlog::warn("sandbox {}: {}: killing it", self->id_, self->termination_reason_);
        if (self->status_ == SandboxStatus::suspended && self->cgroup_) self->cgroup_->thaw();
        self->kill_tree();
    });
}

result<void> LocalSandbox::pause() {
    if (status_ == SandboxStatus::suspended) return {};
    if (status_ != SandboxStatus::running) return errc::sandbox_gone;
    if (cgroup_ && cgroup_->can_freeze()) {
        if (!cgroup_->freeze()) return errc::sandbox_failed;
        status_ = SandboxStatus::suspended;
        return {};
    }
    if (::kill(-pid_, SIGSTOP) != 0) return errno == ESRCH ? errc::sandbox_gone : errc::sandbox_failed;
    status_ = SandboxStatus::suspended;
    return {};
}

result<void> LocalSandbox::resume() {
    if (status_ == SandboxStatus::running) return {};
    if (status_ != SandboxStatus::suspended) return errc::sandbox_gone;
    if (cgroup_ && cgroup_->can_freeze()) {
        if (!cgroup_->thaw()) return errc::sandbox_failed;
        status_ = SandboxStatus::running;
        return {};
    }
    if (::kill(-pid_, SIGCONT) != 0) return errno == ESRCH ? errc::sandbox_gone : errc::sandbox_failed;
    status_ = SandboxStatus::running;
    return {};
}

asio::awaitable<void> LocalSandbox::stop() {
    auto self = shared_from_this();
    if (stop_state_ == StopState::stopped) co_return;
    if (stop_state_ == StopState::stopping) {
        co_await stopped_event_.async_wait(use_tuple);
        co_return;
    }
    stop_state_ = StopState::stopping;
    status_ = SandboxStatus::gone;
    lifetime_timer_.cancel();
    boost::system::error_code ignored;
    stdin_.close(ignored);
    if (!reaped_) {
        // Not reaped yet, so the group id can't have been reused. SIGKILL also ends stopped (paused)
        // processes; the cgroup sweep thaws frozen ones and catches those that left the group.
        kill_tree();
        while (!try_reap()) co_await reaped_event_.async_wait(use_tuple);
    }
    if (cgroup_) {
        // Processes outside the leader's subtree die asynchronously: sweep until the groups can go.
        asio::steady_timer retry(stdin_.get_executor());
        for (int attempt = 0; attempt < cgroup_removal_attempts && !cgroup_->remove(); ++attempt) {
            cgroup_->kill_all();
            retry.expires_after(cgroup_removal_interval);
            co_await retry.async_wait(use_tuple);
        }
        cgroup_.reset();
    }
    stdout_.close(ignored);
    pidfd_.close(ignored);
    remove_workspace();
    if (egress_) egress_->stop();
    for (auto* dir : {&egress_dir_, &stdin_dir_}) {
        std::error_code ec;
        if (!dir->empty()) std::filesystem::remove_all(*dir, ec);
        dir->clear();
    }
    stop_state_ = StopState::stopped;
    stopped_event_.cancel();
    if (auto release = std::exchange(on_released_, nullptr)) release();
    spdlog::info("sandbox {} stopped", id_);
}

asio::awaitable<result<ExecResult>> LocalSandbox::exec(std::vector<std::string> argv,
                                                       std::chrono::milliseconds timeout) {
    auto self = shared_from_this();
    if (argv.empty()) co_return errc::invalid_argument;
    if (status_ != SandboxStatus::running || stop_state_ != StopState::not_stopped || reaped_)
        co_return errc::sandbox_gone;
    SpawnRequest request;
    if (exec_setup_.isolated) {
        // bwrap (leader) -> its pid-namespace init -> the workload: enter the workload's namespaces, once
        // bubblewrap has finished setting them up (the grandchild no longer runs bwrap).
        std::optional<pid_t> workload;
        asio::steady_timer poll(stdout_.get_executor());
        for (int attempt = 0; attempt < workload_poll_attempts && !workload; ++attempt) {
            auto init = first_child(pid_);
            auto candidate = init ? first_child(*init) : std::nullopt;
            if (candidate && process_name(*candidate) != "bwrap") {
                workload = candidate;
                break;
            }
            poll.expires_after(workload_poll_interval);
            co_await poll.async_wait(use_tuple);
            if (status_ != SandboxStatus::running) co_return errc::sandbox_gone;
        }
        if (!workload) co_return errc::sandbox_gone;
        request.argv = {exec_setup_.nsenter, "--target", std::to_string(*workload), "--user", "--mount", "--net",
                        "--ipc", "--uts", "--pid", "--root", "--wd", "-S", std::to_string(exec_setup_.uid), "-G",
                        std::to_string(exec_setup_.gid), "--"};
        request.argv.insert(request.argv.end(), argv.begin(), argv.end());
    } else {
        std::string search_path = "/usr/local/bin:/usr/bin:/bin";
        for (const auto& entry : exec_setup_.env)
            if (entry.rfind("PATH=", 0) == 0) search_path = entry.substr(5);
        auto program = find_program(argv.front(), search_path);
        if (!program) co_return errc::not_found;
        request.argv = std::move(argv);
        request.argv.front() = program->string();
        if (exec_setup_.switch_user) request.run_as = SpawnRequest::Credentials{exec_setup_.uid, exec_setup_.gid};
    }
    request.env = exec_setup_.env;
    request.cwd = workspace_;
    char stderr_template[] = "/tmp/centaur-exec-stderr-XXXXXX";
    const int stderr_fd = ::mkstemp(stderr_template);
    if (stderr_fd < 0) co_return errc::sandbox_failed;
    ::close(stderr_fd);
    request.stderr_path = stderr_template;
    std::vector<UniqueFd> procs_files;
    if (cgroup_) procs_files = cgroup_->open_procs_files();
    for (const auto& fd : procs_files) request.cgroup_procs_fds.push_back(fd.get());
    auto spawned = spawn_process(request);
    procs_files.clear();
    if (!spawned) {
        std::filesystem::remove(request.stderr_path);
        co_return errc::sandbox_failed;
    }
    spawned->child.stdin_fd.reset();
    const pid_t child = spawned->child.pid;
    auto executor = stdout_.get_executor();
    asio::posix::stream_descriptor out(executor, spawned->child.stdout_fd.release());
    asio::posix::stream_descriptor exited(executor, spawned->child.pidfd.release());
    ExecResult collected;
    asio::steady_timer deadline(executor, timeout);
    deadline.async_wait([child, &collected](const boost::system::error_code& ec) {
        if (ec) return;
        collected.timed_out = true;
        ::kill(-child, SIGKILL);
    });
    std::string chunk(exec_read_chunk, '\0');
    for (;;) {
        auto [ec, n] = co_await out.async_read_some(asio::buffer(chunk), use_tuple);
        const std::size_t room = exec_output_cap - std::min(exec_output_cap, collected.output.size());
        collected.output.append(chunk.data(), std::min(n, room));
        collected.truncated = collected.truncated || n > room;
        if (ec) break;
    }
    // waitpid below blocks only if the pidfd wait failed, which leaves the child to the deadline's SIGKILL.
    auto [wait_ec] = co_await exited.async_wait(asio::posix::descriptor_base::wait_read, use_tuple);
    if (wait_ec) ::kill(-child, SIGKILL);
    deadline.cancel();
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    collected.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : exit_signal_base + WTERMSIG(status);
    collected.error_output = read_tail(request.stderr_path, static_cast<std::streamoff>(exec_output_cap));
    std::filesystem::remove(request.stderr_path);
    co_return collected;
}

void LocalSandbox::watch_exit() {
    pidfd_.async_wait(asio::posix::descriptor_base::wait_read,
                      [weak = weak_from_this()](const boost::system::error_code& ec) {
                          if (ec) return;
                          if (auto self = weak.lock()) self->on_pidfd_readable();
                      });
}

void LocalSandbox::on_pidfd_readable() {
    if (reaped_) return;
    siginfo_t info{};
    const int rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    if (rc == 0 && info.si_pid == 0) {
        watch_exit();  // not exited after all
        return;
    }
    // The leader is a zombie, so its pid (the group id) is still reserved: the tree dies with its leader.
    if (rc == 0) kill_tree();
    lifetime_timer_.cancel();
    if (cgroup_ && termination_reason_.empty()) termination_reason_ = cgroup_->limit_report();
    if (!try_reap()) {
        watch_exit();
        return;
    }
    const bool was_live = status_ == SandboxStatus::running || status_ == SandboxStatus::suspended;
    if (status_ != SandboxStatus::gone) status_ = SandboxStatus::stopped;
    if (was_live) log_self_exit();
}

bool LocalSandbox::try_reap() {
    if (reaped_) return true;
    int status = 0;
    const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
    if (reaped == 0) return false;
    if (reaped == pid_)
        wait_status_ = status;  // otherwise ECHILD: SIGCHLD is ignored and the kernel reaped it
    reaped_ = true;
    reaped_event_.cancel();
    return true;
}

void LocalSandbox::remove_workspace() noexcept {
    if (keep_workspace_) return;
    std::error_code ec;
    std::filesystem::remove_all(workspace_, ec);
    if (ec)
        spdlog::warn("sandbox {}: removing workspace {} failed: {}", id_, workspace_.string(), ec.message());
}

void LocalSandbox::log_self_exit() const {
    const std::string how = wait_status_ ? describe_wait_status(*wait_status_) : "status unknown";
    const bool clean = wait_status_ && WIFEXITED(*wait_status_) && WEXITSTATUS(*wait_status_) == 0;
    if (clean && termination_reason_.empty()) {
        spdlog::info("sandbox {}: workload exited ({})", id_, how);
        return;
    }
    spdlog::warn("sandbox {}: workload exited ({}{}{}); stderr tail: {}", id_, how,
                 termination_reason_.empty() ? "" : "; ", termination_reason_,
                 read_tail(workspace_ / stderr_log_name, stderr_tail_bytes));
}

}  // namespace centaur::sandbox
