#include "isolation_setup.hpp"

#include "process_spawn.hpp"

#include <spdlog/spdlog.h>

#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace centaur::sandbox {
namespace {

constexpr auto probe_timeout = 10s;
constexpr auto probe_poll = 2ms;
constexpr char useradd_program[] = "/usr/sbin/useradd";
constexpr char system_search_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr std::size_t max_reason_bytes = 512;

/// Top-level directories that are links into /usr on merged-/usr systems; recreated as links inside.
const std::vector<std::string>& usr_links() {
    static const std::vector<std::string> links = {"bin", "lib", "lib64", "sbin", "lib32", "libx32"};
    return links;
}

/// Read-only /etc entries a workload may need (TLS roots, dynamic linker cache, time zone, alternatives).
const std::vector<std::string>& etc_binds() {
    static const std::vector<std::string> files = {"/etc/alternatives", "/etc/ssl", "/etc/ca-certificates",
                                                   "/etc/ld.so.cache", "/etc/localtime"};
    return files;
}

struct RunOutcome {
    int exit_code = -1;  ///< -1: did not finish in time (killed)
    std::string error_output;
};

/// Runs argv to completion (bounded) with an empty environment, returning its exit code and stderr.
RunOutcome run_blocking(std::vector<std::string> argv, const fs::path& scratch,
                        std::optional<SpawnRequest::Credentials> run_as) {
    RunOutcome outcome;
    const fs::path log = scratch / "probe.stderr";
    SpawnRequest request{std::move(argv), {"PATH=/usr/bin:/bin"}, "/", log};
    request.run_as = run_as;
    auto spawned = spawn_process(request);
    if (!spawned) {
        outcome.error_output = spawned.error().message();
        return outcome;
    }
    spawned->child.stdin_fd.reset();
    const auto deadline = std::chrono::steady_clock::now() + probe_timeout;
    int status = 0;
    for (;;) {
        const pid_t r = ::waitpid(spawned->child.pid, &status, WNOHANG);
        if (r == spawned->child.pid) break;
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(-spawned->child.pid, SIGKILL);
            ::waitpid(spawned->child.pid, &status, 0);
            outcome.error_output = "timed out";
            return outcome;
        }
        std::this_thread::sleep_for(probe_poll);
    }
    ExecReport report;
    if (::read(spawned->exec_status_fd.get(), &report, sizeof report) == sizeof report) {
        outcome.error_output = describe(report);
        return outcome;
    }
    outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::ifstream in(log);
    std::ostringstream text;
    text << in.rdbuf();
    outcome.error_output = text.str();
    while (!outcome.error_output.empty() && (outcome.error_output.back() == '\n' || outcome.error_output.back() == ' '))
        outcome.error_output.pop_back();
    if (outcome.error_output.size() > max_reason_bytes) outcome.error_output.resize(max_reason_bytes);
    return outcome;
}

std::string limit_text(std::uint64_t value, const char* unit) {
    return value == 0 ? std::string("unbounded") : std::to_string(value) + unit;
}

}  // namespace

std::string IsolationReport::describe() const {
    std::ostringstream out;
    if (isolated)
        out << "isolation: bubblewrap (" << bwrap_path << ")\n";
    else
        out << "isolation: NONE (" << unavailable << ")\n";
    out << "sandbox uid: " << uid << " gid: " << gid << (switch_user ? " (runner is root; drops to it)" : " (runner's own)")
        << "\n";
    for (const auto& e : enforced) out << "enforced: " << e << "\n";
    for (const auto& e : not_enforced) out << "not enforced: " << e << "\n";
    return out.str();
}

fs::path program_in_sandbox(const fs::path& host_program, std::vector<std::pair<fs::path, fs::path>>& binds) {
    std::error_code ec;
    const fs::path real = fs::weakly_canonical(host_program, ec);
    const std::string text = (ec ? host_program : real).string();
    if (text.rfind("/usr/", 0) == 0) return ec ? host_program : real;
    const fs::path inside = fs::path(sandbox_program_dir) / host_program.filename();
    binds.emplace_back(ec ? host_program : real, inside);
    return inside;
}

std::vector<std::string> bwrap_prefix(const std::string& bwrap, const BwrapLayout& layout) {
    std::vector<std::string> argv = {bwrap,          "--unshare-all", "--die-with-parent", "--cap-drop",
                                     "ALL",          "--hostname",    sandbox_hostname,    "--ro-bind",
                                     "/usr",         "/usr"};
    if (layout.new_session) argv.push_back("--new-session");
    for (const auto& link : usr_links()) {
        const fs::path host = fs::path("/") / link;
        std::error_code ec;
        if (fs::is_symlink(host, ec)) {
            argv.insert(argv.end(), {"--symlink", fs::read_symlink(host, ec).string(), host.string()});
        } else if (fs::is_directory(host, ec)) {
            argv.insert(argv.end(), {"--ro-bind", host.string(), host.string()});
        }
    }
    for (const auto& file : etc_binds()) argv.insert(argv.end(), {"--ro-bind-try", file, file});
    argv.insert(argv.end(), {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"});
    for (const auto& [host, inside] : layout.ro_binds)
        argv.insert(argv.end(), {"--ro-bind", host.string(), inside.string()});
    argv.insert(argv.end(), {"--bind", layout.workspace.string(), sandbox_workspace_dir, "--remount-ro", "/",
                             "--chdir", sandbox_workspace_dir, "--"});
    return argv;
}

IsolationSetup probe_isolation(const IsolationOptions& options) {
    IsolationSetup setup;
    IsolationReport& report = setup.report;
    const auto& limits = options.limits;

    // The uid: never root.
    if (::geteuid() == 0) {
        report.switch_user = true;
        struct passwd* pw = ::getpwnam(options.sandbox_user.c_str());
        if (pw == nullptr && fs::exists(useradd_program)) {
            const fs::path scratch = fs::temp_directory_path();
            auto created = run_blocking({useradd_program, "--system", "--no-create-home", "--home-dir", "/nonexistent",
                                         "--shell", "/usr/sbin/nologin", options.sandbox_user},
                                        scratch, std::nullopt);
            if (created.exit_code == 0) {
                spdlog::warn("created the sandbox user '{}' (scripts/bootstrap does this ahead of time)",
                             options.sandbox_user);
            }
            pw = ::getpwnam(options.sandbox_user.c_str());
        }
        if (pw == nullptr || pw->pw_uid == 0) {
            report.unavailable = "sandbox user '" + options.sandbox_user +
                                 "' does not exist or is root (scripts/bootstrap creates it)";
            return setup;
        }
        report.uid = pw->pw_uid;
        report.gid = pw->pw_gid;
    } else {
        report.uid = ::getuid();
        report.gid = ::getgid();
    }
    report.enforced.push_back("uid " + std::to_string(report.uid) + " (never root)");

    // cgroups: per-sandbox limits.
    setup.cgroups = CgroupHost::detect();
    const auto& cg = setup.cgroups;
    auto version = [](const std::optional<ControllerRoot>& r) { return r->v2 ? "cgroup v2" : "cgroup v1"; };
    if (cg.memory)
        report.enforced.push_back("memory: " + limit_text(limits.memory_bytes, " bytes") + " (" + version(cg.memory) + ")");
    else if (limits.memory_bytes > 0)
        report.enforced.push_back("memory: " + std::to_string(limits.memory_bytes) +
                                  " bytes of address space per process (RLIMIT_AS; no memory cgroup)");
    if (cg.pids)
        report.enforced.push_back("processes: " + limit_text(limits.pids, " tasks") + " (" + version(cg.pids) + ")");
    if (cg.cpu)
        report.enforced.push_back("cpu: " + limit_text(limits.cpu_millis, " millicores") + " (" + version(cg.cpu) + ")");
    if (cg.freezer)
        report.enforced.push_back(std::string("pause: freezer (") + version(cg.freezer) + ")");
    else
        report.not_enforced.push_back("pause: no freezer; SIGSTOP to the process group instead");
    for (const auto& m : cg.missing) report.not_enforced.push_back(m);
    report.enforced.push_back("rlimits: NOFILE " + limit_text(limits.open_files, "") + ", FSIZE " +
                              limit_text(limits.file_size_bytes, " bytes") + ", CORE 0, NPROC " +
                              limit_text(std::uint64_t{limits.pids} * options.max_sandboxes, "") +
                              " for the sandbox uid");
    if (limits.max_lifetime.count() > 0)
        report.enforced.push_back("wall clock: " + std::to_string(limits.max_lifetime.count()) + " s per sandbox");
    else
        report.not_enforced.push_back("wall clock: no max lifetime configured");

    // Namespaces: prove them with a throw-away sandbox.
    if (options.mode == IsolationMode::disabled) {
        report.unavailable = "disabled by --unsafe-no-isolation";
        return setup;
    }
    const char* path_env = std::getenv("PATH");
    auto bwrap = find_program(options.bwrap, path_env ? std::string(path_env) + ":" + system_search_path
                                                      : std::string(system_search_path));
    if (!bwrap) {
        report.unavailable = "bubblewrap ('" + options.bwrap + "') not found in PATH";
        return setup;
    }
    report.bwrap_path = bwrap->string();
    char scratch_template[] = "/tmp/centaur-isolation-probe-XXXXXX";
    if (::mkdtemp(scratch_template) == nullptr) {
        report.unavailable = std::string("cannot create a probe directory: ") + std::strerror(errno);
        return setup;
    }
    const fs::path scratch = scratch_template;
    ::chmod(scratch.c_str(), 0711);  // the sandbox uid must reach the workspace inside
    const fs::path workspace = scratch / "workspace";
    fs::create_directory(workspace);
    if (report.switch_user && ::chown(workspace.c_str(), report.uid, report.gid) != 0)
        spdlog::warn("isolation probe: chown {}: {}", workspace.string(), std::strerror(errno));
    BwrapLayout layout{workspace, {}, true};
    auto argv = bwrap_prefix(report.bwrap_path, layout);
    argv.push_back("/usr/bin/true");
    std::optional<SpawnRequest::Credentials> run_as;
    if (report.switch_user) run_as = SpawnRequest::Credentials{report.uid, report.gid};
    const auto outcome = run_blocking(argv, scratch, run_as);
    std::error_code ec;
    fs::remove_all(scratch, ec);
    if (outcome.exit_code != 0) {
        report.unavailable = "bubblewrap cannot create namespaces here: " +
                             (outcome.error_output.empty() ? "exit code " + std::to_string(outcome.exit_code)
                                                           : outcome.error_output);
        return setup;
    }
    report.isolated = true;
    report.enforced.insert(report.enforced.begin(),
                           "namespaces: user, pid, ipc, uts, net (loopback only), cgroup, mount; read-only system, "
                           "private /tmp and workspace, no host home, environment built from scratch");
    return setup;
}

}  // namespace centaur::sandbox
