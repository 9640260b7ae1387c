#include <centaur/test_support/child_process.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace centaur::test_support {
namespace {

constexpr int exec_failed_code = 127;
constexpr int signal_exit_base = 128;
constexpr auto poll_interval = std::chrono::milliseconds(5);

std::runtime_error sys_error(const std::string& what, int err) {
    return std::runtime_error("ChildProcess: " + what + ": " + std::strerror(err));
}

/// Full path of `program`: as given when it has a '/', else the first executable match in `path_var`.
std::string resolve_program(const std::string& program, const std::string& path_var) {
    if (program.find('/') != std::string::npos) return program;
    std::stringstream dirs(path_var);
    for (std::string dir; std::getline(dirs, dir, ':');) {
        const auto candidate = (dir.empty() ? std::string(".") : dir) + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    throw std::runtime_error("ChildProcess: program '" + program + "' not found in PATH=" + path_var);
}

std::string temp_capture_path(const char* suffix) {
    const auto dir = std::filesystem::temp_directory_path().string();
    std::string templ = dir + "/centaur-child-" + std::to_string(::getpid()) + "-XXXXXX" + suffix;
    const int fd = ::mkstemps(templ.data(), static_cast<int>(std::strlen(suffix)));
    if (fd < 0) throw sys_error("mkstemps " + templ, errno);
    ::close(fd);
    return templ;
}

int open_capture(const std::string& path, bool append) {
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    const int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) throw sys_error("open " + path, errno);
    return fd;
}

/// In the forked child: reports `err` to the parent through the report pipe and exits.
[[noreturn]] void child_fail(int report_fd, int err) {
    (void)!::write(report_fd, &err, sizeof err);
    ::_exit(exec_failed_code);
}

/// Runs in the forked child: only async-signal-safe calls until execve. Never returns.
[[noreturn]] void exec_child(const char* program, char* const* argv, char* const* envp, int in_fd, int out_fd,
                             int err_fd, int report_fd, const char* working_dir, pid_t parent) {
    auto fail = [report_fd](int err) { child_fail(report_fd, err); };
    ::setpgid(0, 0);
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(errno);
    if (::getppid() != parent) ::_exit(exec_failed_code);  // the test died between fork and prctl
    // Exec keeps ignored dispositions and the blocked mask: give the program a clean slate.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (working_dir != nullptr && ::chdir(working_dir) != 0) fail(errno);
    if (::dup2(in_fd, STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 || ::dup2(err_fd, STDERR_FILENO) < 0)
        fail(errno);
    ::execve(program, argv, envp);
    child_fail(report_fd, errno);
}

}  // namespace

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(line);
    return out;
}

ChildProcess::ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env,
                           ChildOptions options) {
    if (argv.empty()) throw std::runtime_error("ChildProcess: empty argv");

    // Environment: inherited (unless clean) with `env` on top.
    std::map<std::string, std::string> merged;
    if (options.inherit_env) {
        for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
            const std::string entry(*e);
            const auto eq = entry.find('=');
            if (eq != std::string::npos) merged[entry.substr(0, eq)] = entry.substr(eq + 1);
        }
    }
    for (auto& [k, v] : env) merged[k] = v;
    const auto path_it = merged.find("PATH");
    const std::string program =
        resolve_program(argv[0], path_it != merged.end() ? path_it->second : "/usr/local/bin:/usr/bin:/bin");

    // Capture files.
    stdout_path_ = options.stdout_path;
    stderr_path_ = options.stderr_path;
    if (stdout_path_.empty()) owned_files_.push_back(stdout_path_ = temp_capture_path(".out"));
    if (stderr_path_.empty()) owned_files_.push_back(stderr_path_ = temp_capture_path(".err"));
    const int out_fd = open_capture(stdout_path_, options.append);
    const int err_fd = stderr_path_ == stdout_path_ ? out_fd : open_capture(stderr_path_, options.append);
    const int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int report[2];
    if (in_fd < 0 || ::pipe2(report, O_CLOEXEC) != 0) throw sys_error("pipe", errno);

    // Everything the child needs is built before fork: it may only call async-signal-safe functions.
    std::vector<std::string> env_strings;
    for (auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
    std::vector<char*> argv_ptrs, env_ptrs;
    for (auto& a : argv) argv_ptrs.push_back(a.data());
    argv_ptrs.push_back(nullptr);
    for (auto& e : env_strings) env_ptrs.push_back(e.data());
    env_ptrs.push_back(nullptr);
    const char* working_dir = options.working_dir.empty() ? nullptr : options.working_dir.c_str();
    const pid_t parent = ::getpid();

    pid_ = ::fork();
    if (pid_ == 0)
        exec_child(program.c_str(), argv_ptrs.data(), env_ptrs.data(), in_fd, out_fd, err_fd, report[1],
                   working_dir, parent);
    const int fork_errno = errno;
    ::close(report[1]);
    ::close(in_fd);
    ::close(out_fd);
    if (err_fd != out_fd) ::close(err_fd);
    if (pid_ < 0) {
        ::close(report[0]);
        for (auto& f : owned_files_) std::filesystem::remove(f);
        throw sys_error("fork", fork_errno);
    }
    ::setpgid(pid_, pid_);  // also done in the child; whichever runs first wins the race for kill_group

    // The report pipe closes on a successful exec (CLOEXEC) or carries errno if the exec failed.
    int child_errno = 0;
    ssize_t n;
    do n = ::read(report[0], &child_errno, sizeof child_errno);
    while (n < 0 && errno == EINTR);
    ::close(report[0]);
    if (n == sizeof child_errno) {
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
        for (auto& f : owned_files_) std::filesystem::remove(f);
        throw sys_error("cannot execute " + program, child_errno);
    }
}

ChildProcess::~ChildProcess() {
    if (pid_ <= 0) return;
    // Until waitpid below the (possibly zombie) child holds its pid and group id, so this cannot hit
    // an unrelated process.
    ::killpg(pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    for (auto& f : owned_files_) {
        std::error_code ec;
        std::filesystem::remove(f, ec);
    }
}

std::optional<int> ChildProcess::exit_code() {
    if (exit_code_ || pid_ <= 0) return exit_code_;
    // WNOWAIT: learn the status but leave the zombie, which keeps the pid and group id reserved until the
    // destructor; kill()/kill_group() after exit therefore never reach a recycled pid.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return std::nullopt;
    if (info.si_pid != pid_) return std::nullopt;  // still running
    exit_code_ = info.si_code == CLD_EXITED ? info.si_status : signal_exit_base + info.si_status;
    return exit_code_;
}

bool ChildProcess::running() { return pid_ > 0 && !exit_code(); }

std::optional<int> ChildProcess::wait_for_exit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
        if (auto code = exit_code()) return code;
        if (Clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(poll_interval);
    }
}

void ChildProcess::kill(int signal) {
    if (pid_ > 0) ::kill(pid_, signal);
}

void ChildProcess::kill_group(int signal) {
    if (pid_ > 0) ::killpg(pid_, signal);
}

std::string ChildProcess::stdout_text() const { return read_file(stdout_path_); }
std::string ChildProcess::stderr_text() const { return read_file(stderr_path_); }

bool ChildProcess::wait_for_text(const std::string& path, const std::function<bool(const std::string&)>& predicate,
                                 std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
        const bool exited = exit_code().has_value();  // checked before reading: no output is missed
        if (predicate(read_file(path))) return true;
        if (exited || Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(poll_interval);
    }
}

bool ChildProcess::wait_for_stdout(const std::string& needle, std::chrono::milliseconds timeout) {
    return wait_for_text(stdout_path_, [&](const std::string& t) { return t.find(needle) != std::string::npos; },
                         timeout);
}

bool ChildProcess::wait_for_stdout(const std::function<bool(const std::string&)>& predicate,
                                   std::chrono::milliseconds timeout) {
    return wait_for_text(stdout_path_, predicate, timeout);
}

bool ChildProcess::wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout) {
    return wait_for_text(stderr_path_, [&](const std::string& t) { return t.find(needle) != std::string::npos; },
                         timeout);
}

}  // namespace centaur::test_support
