#include "cgroup.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace centaur::sandbox {
namespace {

constexpr char centaur_dir_name[] = "centaur";
constexpr char runner_prefix[] = "runner-";
constexpr std::uint64_t cpu_period_us = 100000;
constexpr std::uint64_t us_per_cpu_milli = cpu_period_us / 1000;
constexpr int freeze_poll_attempts = 200;
constexpr auto freeze_poll_interval = std::chrono::milliseconds(1);
constexpr int kill_passes = 50;
constexpr auto kill_pass_interval = std::chrono::milliseconds(10);
constexpr int stat_starttime_field = 22;  // proc(5): field 22 of /proc/<pid>/stat

boost::system::error_code errno_code() { return {errno, boost::system::system_category()}; }

bool write_file(const fs::path& file, const std::string& value) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const ssize_t n = ::write(fd, value.data(), value.size());
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return n == static_cast<ssize_t>(value.size());
}

std::string read_small_file(const fs::path& file) {
    std::ifstream in(file);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

/// The value after `key ` in a flat keyed file (memory.events, pids.events, memory.oom_control).
std::uint64_t keyed_value(const fs::path& file, const std::string& key) {
    std::istringstream in(read_small_file(file));
    std::string name;
    std::uint64_t value = 0;
    while (in >> name >> value)
        if (name == key) return value;
    return 0;
}

std::vector<pid_t> read_pids(const fs::path& dir) {
    std::vector<pid_t> pids;
    std::istringstream in(read_small_file(dir / "cgroup.procs"));
    pid_t pid = 0;
    while (in >> pid) pids.push_back(pid);
    return pids;
}

/// Start time of `pid` in clock ticks since boot, or empty when the process does not exist or is a zombie.
std::string process_start_time(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) return {};
    const auto comm_end = stat.rfind(')');
    if (comm_end == std::string::npos) return {};
    std::istringstream fields(stat.substr(comm_end + 2));
    std::string field;
    if (stat.size() > comm_end + 2 && (stat[comm_end + 2] == 'Z' || stat[comm_end + 2] == 'X'))
        return {};  // a zombie is a dead runner whose parent has not reaped it yet
    // Fields after "(comm)" start at field 3 (state).
    for (int index = 3; fields >> field; ++index)
        if (index == stat_starttime_field) return field;
    return {};
}

struct Mount {
    std::string type;     // cgroup or cgroup2
    fs::path dir;
    std::set<std::string> options;
};

std::vector<Mount> cgroup_mounts() {
    std::vector<Mount> mounts;
    std::ifstream in("/proc/self/mounts");
    std::string device, dir, type, options;
    std::string rest;
    while (in >> device >> dir >> type >> options) {
        std::getline(in, rest);
        if (type != "cgroup" && type != "cgroup2") continue;
        Mount m{type, dir, {}};
        std::istringstream opts(options);
        for (std::string o; std::getline(opts, o, ',');) m.options.insert(o);
        mounts.push_back(std::move(m));
    }
    return mounts;
}

/// Creates `<mount>/centaur` (and enables `controller` below it on v2). Empty string on success, else why not.
std::string prepare_root(const fs::path& mount, bool v2, const std::string& controller) {
    const fs::path root = mount / centaur_dir_name;
    if (::mkdir(root.c_str(), 0755) != 0 && errno != EEXIST)
        return "cannot create " + root.string() + ": " + std::strerror(errno);
    if (::access(root.c_str(), W_OK) != 0) return root.string() + " is not writable: " + std::strerror(errno);
    if (v2 && !controller.empty()) {
        if (!write_file(mount / "cgroup.subtree_control", "+" + controller) ||
            !write_file(root / "cgroup.subtree_control", "+" + controller))
            return "cannot enable " + controller + " in " + root.string() + ": " + std::strerror(errno);
    }
    return {};
}

}  // namespace

CgroupHost CgroupHost::detect() {
    CgroupHost host;
    const auto mounts = cgroup_mounts();
    struct Want {
        std::string name;
        std::optional<ControllerRoot>* slot;
        bool v2_core;  // v2 offers it in every group without a controller (cgroup.freeze)
    };
    const std::vector<Want> wanted = {{"memory", &host.memory, false},
                                      {"pids", &host.pids, false},
                                      {"cpu", &host.cpu, false},
                                      {"freezer", &host.freezer, true}};
    for (const auto& want : wanted) {
        std::string why_not;
        for (const auto& m : mounts) {
            if (m.type != "cgroup" || !m.options.count(want.name)) continue;
            if (auto err = prepare_root(m.dir, false, ""); !err.empty()) {
                why_not = err;
                continue;
            }
            *want.slot = ControllerRoot{m.dir / centaur_dir_name, false};
            break;
        }
        if (*want.slot) continue;
        for (const auto& m : mounts) {
            if (m.type != "cgroup2") continue;
            const std::string available = read_small_file(m.dir / "cgroup.controllers");
            std::istringstream names(available);
            bool offered = want.v2_core;
            for (std::string n; names >> n;) offered = offered || n == want.name;
            if (!offered) {
                if (why_not.empty())
                    why_not = "no v1 hierarchy and the cgroup2 tree at " + m.dir.string() + " does not offer it";
                continue;
            }
            if (auto err = prepare_root(m.dir, true, want.v2_core ? "" : want.name); !err.empty()) {
                why_not = err;
                continue;
            }
            *want.slot = ControllerRoot{m.dir / centaur_dir_name, true};
            break;
        }
        if (!*want.slot) host.missing.push_back(want.name + ": " + (why_not.empty() ? "not mounted" : why_not));
    }
    return host;
}

std::string runner_group_name() {
    const pid_t pid = ::getpid();
    return runner_prefix + std::to_string(pid) + "-" + process_start_time(pid);
}

result<std::unique_ptr<SandboxCgroup>> SandboxCgroup::create(const CgroupHost& host, const std::string& sandbox_id,
                                                             const SandboxLimits& limits) {
    std::unique_ptr<SandboxCgroup> cg(new SandboxCgroup());
    cg->memory_limit_ = limits.memory_bytes;
    cg->pids_limit_ = limits.pids;
    const std::string runner = runner_group_name();
    std::set<fs::path> made;
    auto make = [&](const std::optional<ControllerRoot>& root, const std::string& controller)
        -> result<std::optional<Group>> {
        if (!root) return std::optional<Group>{};
        const fs::path runner_dir = root->dir / runner;
        const fs::path dir = runner_dir / sandbox_id;
        if (made.count(dir)) return std::optional<Group>(Group{dir, root->v2});
        if (::mkdir(runner_dir.c_str(), 0755) != 0 && errno != EEXIST) return errno_code();
        if (root->v2 && !controller.empty()) write_file(runner_dir / "cgroup.subtree_control", "+" + controller);
        if (::mkdir(dir.c_str(), 0755) != 0) return errno_code();
        made.insert(dir);
        cg->groups_.push_back(Group{dir, root->v2});
        return std::optional<Group>(Group{dir, root->v2});
    };
    auto fail = [&](const std::string& what) -> result<std::unique_ptr<SandboxCgroup>> {
        const auto ec = errno_code();
        spdlog::warn("sandbox {}: cgroup setup failed: {}: {}", sandbox_id, what, ec.message());
        cg->remove();
        return ec;
    };

    auto memory = make(host.memory, "memory");
    if (!memory) return fail("memory group");
    cg->memory_dir_ = *memory;
    if (cg->memory_dir_ && limits.memory_bytes > 0) {
        const std::string bytes = std::to_string(limits.memory_bytes);
        if (cg->memory_dir_->v2) {
            if (!write_file(cg->memory_dir_->dir / "memory.max", bytes)) return fail("memory.max");
            write_file(cg->memory_dir_->dir / "memory.swap.max", "0");  // absent without swap accounting
        } else {
            if (!write_file(cg->memory_dir_->dir / "memory.limit_in_bytes", bytes))
                return fail("memory.limit_in_bytes");
            write_file(cg->memory_dir_->dir / "memory.memsw.limit_in_bytes", bytes);  // absent without swap
        }
    }
    auto pids = make(host.pids, "pids");
    if (!pids) return fail("pids group");
    cg->pids_dir_ = *pids;
    if (cg->pids_dir_ && limits.pids > 0 &&
        !write_file(cg->pids_dir_->dir / "pids.max", std::to_string(limits.pids)))
        return fail("pids.max");
    auto cpu = make(host.cpu, "cpu");
    if (!cpu) return fail("cpu group");
    if (*cpu && limits.cpu_millis > 0) {
        const std::uint64_t quota = std::uint64_t{limits.cpu_millis} * us_per_cpu_milli;
        if ((*cpu)->v2) {
            if (!write_file((*cpu)->dir / "cpu.max", std::to_string(quota) + " " + std::to_string(cpu_period_us)))
                return fail("cpu.max");
        } else if (!write_file((*cpu)->dir / "cpu.cfs_period_us", std::to_string(cpu_period_us)) ||
                   !write_file((*cpu)->dir / "cpu.cfs_quota_us", std::to_string(quota))) {
            return fail("cpu.cfs_quota_us");
        }
    }
    auto freezer = make(host.freezer, "");
    if (!freezer) return fail("freezer group");
    cg->freezer_dir_ = *freezer;
    return cg;
}

SandboxCgroup::~SandboxCgroup() {
    if (!remove()) {
        kill_all();
        remove();
    }
}

std::vector<UniqueFd> SandboxCgroup::open_procs_files() const {
    std::vector<UniqueFd> fds;
    for (const auto& g : groups_) {
        UniqueFd fd(::open((g.dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
        if (fd) fds.push_back(std::move(fd));
    }
    return fds;
}

bool SandboxCgroup::freeze() {
    if (!freezer_dir_) return false;
    const auto& g = *freezer_dir_;
    if (g.v2) {
        if (!write_file(g.dir / "cgroup.freeze", "1")) return false;
        for (int i = 0; i < freeze_poll_attempts; ++i) {
            if (keyed_value(g.dir / "cgroup.events", "frozen") == 1) return true;
            std::this_thread::sleep_for(freeze_poll_interval);
        }
        return false;
    }
    if (!write_file(g.dir / "freezer.state", "FROZEN")) return false;
    for (int i = 0; i < freeze_poll_attempts; ++i) {
        if (read_small_file(g.dir / "freezer.state").rfind("FROZEN", 0) == 0) return true;
        std::this_thread::sleep_for(freeze_poll_interval);
    }
    return false;
}

bool SandboxCgroup::thaw() {
    if (!freezer_dir_) return false;
    const auto& g = *freezer_dir_;
    return g.v2 ? write_file(g.dir / "cgroup.freeze", "0") : write_file(g.dir / "freezer.state", "THAWED");
}

void SandboxCgroup::kill_all() {
    for (const auto& g : groups_) {
        if (g.v2 && write_file(g.dir / "cgroup.kill", "1")) continue;
    }
    const bool frozen = freeze();
    for (int pass = 0; pass < kill_passes; ++pass) {
        bool any = false;
        for (const auto& g : groups_) {
            for (const pid_t pid : read_pids(g.dir)) {
                ::kill(pid, SIGKILL);
                any = true;
            }
        }
        if (frozen) thaw();  // frozen tasks die only once thawed
        if (!any) return;
        std::this_thread::sleep_for(kill_pass_interval);
    }
}

bool SandboxCgroup::empty() const {
    for (const auto& g : groups_)
        if (!read_pids(g.dir).empty()) return false;
    return true;
}

bool SandboxCgroup::remove() {
    bool all = true;
    for (const auto& g : groups_) {
        if (::rmdir(g.dir.c_str()) != 0 && errno != ENOENT) all = false;
    }
    return all;
}

std::string SandboxCgroup::limit_report() const {
    std::string report;
    if (memory_dir_) {
        const auto oom = memory_dir_->v2 ? keyed_value(memory_dir_->dir / "memory.events", "oom_kill")
                                         : keyed_value(memory_dir_->dir / "memory.oom_control", "oom_kill");
        if (oom > 0)
            report += "memory limit of " + std::to_string(memory_limit_) + " bytes exceeded (" + std::to_string(oom) +
                      " process(es) killed by the OOM killer)";
    }
    if (pids_dir_) {
        const auto hits = keyed_value(pids_dir_->dir / "pids.events", "max");
        if (hits > 0) {
            if (!report.empty()) report += "; ";
            report += "process limit of " + std::to_string(pids_limit_) + " reached (" + std::to_string(hits) +
                      " fork(s) refused)";
        }
    }
    return report;
}

namespace {

bool runner_alive(const std::string& name) {
    // runner-<pid>-<start time>: alive when that pid exists with that start time.
    const auto dash = name.find('-', sizeof runner_prefix - 1);
    if (dash == std::string::npos) return true;  // not ours to judge
    const pid_t pid = static_cast<pid_t>(std::atol(name.substr(sizeof runner_prefix - 1).c_str()));
    return pid > 0 && process_start_time(pid) == name.substr(dash + 1);
}

}  // namespace

int reap_orphan_cgroups(const CgroupHost& host) {
    const std::string me = runner_group_name();
    std::vector<std::pair<fs::path, bool>> orphans;  // runner dirs of dead runners, with their v2 flag
    for (const auto* root : {&host.freezer, &host.memory, &host.pids, &host.cpu}) {
        if (!*root) continue;
        std::error_code ec;
        for (const auto& runner : fs::directory_iterator((*root)->dir, ec)) {
            const std::string name = runner.path().filename().string();
            if (!runner.is_directory() || name.rfind(runner_prefix, 0) != 0 || name == me || runner_alive(name))
                continue;
            orphans.emplace_back(runner.path(), (*root)->v2);
        }
    }
    // Frozen tasks die only once thawed: thaw first (the freezer root comes first in `orphans`).
    for (const auto& [runner, v2] : orphans) {
        std::error_code ec;
        for (const auto& sandbox : fs::directory_iterator(runner, ec)) {
            if (v2) write_file(sandbox.path() / "cgroup.freeze", "0");
            else if (fs::exists(sandbox.path() / "freezer.state")) write_file(sandbox.path() / "freezer.state", "THAWED");
        }
    }
    std::set<std::string> reaped;
    for (const auto& [runner, v2] : orphans) {
        std::error_code ec;
        for (const auto& sandbox : fs::directory_iterator(runner, ec)) {
            if (!sandbox.is_directory()) continue;
            if (v2) write_file(sandbox.path() / "cgroup.kill", "1");
            for (int pass = 0; pass < kill_passes; ++pass) {
                const auto pids = read_pids(sandbox.path());
                if (pids.empty()) break;
                for (const pid_t p : pids) ::kill(p, SIGKILL);
                std::this_thread::sleep_for(kill_pass_interval);
            }
            if (::rmdir(sandbox.path().c_str()) == 0)
                reaped.insert(sandbox.path().filename().string());
            else
                spdlog::warn("reaper: cannot remove {}: {}", sandbox.path().string(), std::strerror(errno));
        }
        ::rmdir(runner.c_str());
    }
    for (const auto& id : reaped) spdlog::warn("reaper: killed orphaned sandbox {} of a runner that is gone", id);
    return static_cast<int>(reaped.size());
}

}  // namespace centaur::sandbox
