#include "process_spawn.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace centaur::sandbox {
namespace {

enum class ExecStage : int { setpgid = 1, pdeathsig, parent_gone, stdio, chdir, exec, cgroup, rlimit, credentials };

constexpr int exit_exec_failed = 127;
constexpr int first_non_stdio_fd = 3;
constexpr mode_t stderr_log_mode = 0600;

boost::system::error_code last_error() {
    return {errno, boost::system::system_category()};
}

/// Moves `fd` above 0..2 so that dup2 onto the stdio slots in the child can't clobber another source.
bool raise_above_stdio(UniqueFd& fd) {
    if (fd.get() >= first_non_stdio_fd) return true;
    const int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, first_non_stdio_fd);
    if (moved < 0) return false;
    fd.reset(moved);
    return true;
}

struct Pipe {
    UniqueFd read_end;
    UniqueFd write_end;
};

result<Pipe> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return last_error();
    Pipe pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
    if (!raise_above_stdio(pipe.read_end) || !raise_above_stdio(pipe.write_end)) return last_error();
    return pipe;
}

/// Everything the child needs, prepared before fork: between fork and exec the child makes only
/// async-signal-safe calls (the server may be multi-threaded; another thread could hold the malloc lock).
struct ChildPlan {
    const char* program;
    char* const* argv;
    char* const* envp;
    const char* cwd;
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    int status_fd;
    pid_t parent_pid;
    const int* cgroup_fds;
    std::size_t cgroup_fd_count;
    const std::pair<int, rlim_t>* rlimits;
    std::size_t rlimit_count;
    bool switch_user;
    uid_t uid;
    gid_t gid;
};

[[noreturn]] void fail_in_child(int status_fd, ExecStage stage) {
    const ExecReport report{static_cast<int>(stage), errno};
    [[maybe_unused]] const auto written = ::write(status_fd, &report, sizeof report);
    ::_exit(exit_exec_failed);
}

[[noreturn]] void run_child(const ChildPlan& plan) {
    // Signals arrive blocked (the parent blocked all around fork): reset handlers, then unblock.
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &default_action, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);

    if (::setpgid(0, 0) != 0) fail_in_child(plan.status_fd, ExecStage::setpgid);
    for (std::size_t i = 0; i < plan.cgroup_fd_count; ++i) {
        if (::write(plan.cgroup_fds[i], "0", 1) != 1) fail_in_child(plan.status_fd, ExecStage::cgroup);
    }
    for (std::size_t i = 0; i < plan.rlimit_count; ++i) {
        const struct rlimit limit {plan.rlimits[i].second, plan.rlimits[i].second};
        if (::setrlimit(static_cast<__rlimit_resource>(plan.rlimits[i].first), &limit) != 0)
            fail_in_child(plan.status_fd, ExecStage::rlimit);
    }
    // The death signal is cleared by a credential change: switch first, then ask for it.
    if (plan.switch_user && (::setgroups(0, nullptr) != 0 || ::setresgid(plan.gid, plan.gid, plan.gid) != 0 ||
                             ::setresuid(plan.uid, plan.uid, plan.uid) != 0))
        fail_in_child(plan.status_fd, ExecStage::credentials);
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail_in_child(plan.status_fd, ExecStage::pdeathsig);
    if (::getppid() != plan.parent_pid) {
        errno = ESRCH;
        fail_in_child(plan.status_fd, ExecStage::parent_gone);
    }
    if (::dup2(plan.stdin_fd, STDIN_FILENO) < 0 || ::dup2(plan.stdout_fd, STDOUT_FILENO) < 0 ||
        ::dup2(plan.stderr_fd, STDERR_FILENO) < 0)
        fail_in_child(plan.status_fd, ExecStage::stdio);
    // Descriptors the server opened without O_CLOEXEC must not leak into the workload.
    ::close_range(first_non_stdio_fd, ~0U, CLOSE_RANGE_CLOEXEC);
    if (::chdir(plan.cwd) != 0) fail_in_child(plan.status_fd, ExecStage::chdir);
    ::execve(plan.program, plan.argv, plan.envp);
    fail_in_child(plan.status_fd, ExecStage::exec);
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
    std::vector<char*> pointers;
    pointers.reserve(strings.size() + 1);
    for (const auto& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
    pointers.push_back(nullptr);
    return pointers;
}

std::string_view stage_name(int stage) {
    switch (static_cast<ExecStage>(stage)) {
        case ExecStage::setpgid:
            return "setpgid";
        case ExecStage::pdeathsig:
            return "prctl(PR_SET_PDEATHSIG)";
        case ExecStage::parent_gone:
            return "parent check";
        case ExecStage::stdio:
            return "dup2 stdio";
        case ExecStage::chdir:
            return "chdir";
        case ExecStage::exec:
            return "execve";
        case ExecStage::cgroup:
            return "joining the cgroups";
        case ExecStage::rlimit:
            return "setrlimit";
        case ExecStage::credentials:
            return "switching to the sandbox uid";
    }
    return "unknown step";
}

}  // namespace

std::string describe(const ExecReport& report) {
    return std::string(stage_name(report.stage)) + ": " + std::strerror(report.error);
}

result<SpawnedProcess> spawn_process(const SpawnRequest& request) {
    CENTAUR_ASSERT(!request.argv.empty(), "spawn_process needs a program");
    auto stdin_pipe = make_pipe();
    if (!stdin_pipe) return stdin_pipe.error();
    auto stdout_pipe = make_pipe();
    if (!stdout_pipe) return stdout_pipe.error();
    auto status_pipe = make_pipe();
    if (!status_pipe) return status_pipe.error();
    UniqueFd stderr_log(request.inherit_stderr
                            ? ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, first_non_stdio_fd)
                            : ::open(request.stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                                     stderr_log_mode));
    if (!stderr_log || !raise_above_stdio(stderr_log)) return last_error();

    const auto argv = c_strings(request.argv);
    const auto envp = c_strings(request.env);
    const std::string cwd = request.cwd.string();
    const ChildPlan plan{argv[0],
                         argv.data(),
                         envp.data(),
                         cwd.c_str(),
                         stdin_pipe->read_end.get(),
                         stdout_pipe->write_end.get(),
                         stderr_log.get(),
                         status_pipe->write_end.get(),
                         ::getpid(),
                         request.cgroup_procs_fds.data(),
                         request.cgroup_procs_fds.size(),
                         request.rlimits.data(),
                         request.rlimits.size(),
                         request.run_as.has_value(),
                         request.run_as ? request.run_as->uid : uid_t{0},
                         request.run_as ? request.run_as->gid : gid_t{0}};

    sigset_t all_signals;
    sigset_t previous_mask;
    sigfillset(&all_signals);
    ::pthread_sigmask(SIG_SETMASK, &all_signals, &previous_mask);
    const pid_t pid = ::fork();
    if (pid == 0) run_child(plan);
    const int fork_errno = errno;
    ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
    if (pid < 0) return boost::system::error_code(fork_errno, boost::system::system_category());

    // The child does the same; whichever runs first wins and the other fails harmlessly. Afterwards the
    // group exists, so kill(-pid) reaches the whole tree.
    ::setpgid(pid, pid);
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) {
        const auto error = last_error();
        ::kill(pid, SIGKILL);
        int wait_status = 0;
        ::waitpid(pid, &wait_status, 0);  // killed right after fork: returns at once
        return error;
    }
    // The child's pipe ends close here, with stdin_pipe / stdout_pipe / status_pipe.
    return SpawnedProcess{ChildProcess{pid, std::move(stdin_pipe->write_end),
                                       std::move(stdout_pipe->read_end), std::move(pidfd)},
                          std::move(status_pipe->read_end)};
}

result<std::filesystem::path> find_program(const std::string& name, const std::string& search_path) {
    if (name.empty()) return errc::invalid_argument;
    if (name.find('/') != std::string::npos) {
        std::error_code ec;
        auto absolute = std::filesystem::absolute(name, ec);
        if (ec) return errc::invalid_argument;
        return absolute;
    }
    std::string_view rest = search_path;
    for (;;) {
        const auto colon = rest.find(':');
        const std::string_view dir = rest.substr(0, colon);
        const std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / name;
        std::error_code ec;
        if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0)
            return std::filesystem::absolute(candidate, ec);
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
    }
    return errc::not_found;
}

}  // namespace centaur::sandbox
