#pragma once
// How the local backend isolates a sandbox: bubblewrap namespaces, a dedicated unprivileged uid, cgroup
// limits, rlimits and a wall-clock limit. Probed once at start; the report says what is enforced.

#include <centaur/core/result.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace centaur::sandbox {

inline constexpr std::uint64_t default_memory_limit_bytes = std::uint64_t{1} << 30;
inline constexpr std::uint32_t default_pids_limit = 512;
inline constexpr std::uint32_t default_cpu_millis = 1000;
inline constexpr std::uint64_t default_open_files_limit = 4096;
inline constexpr std::uint64_t default_file_size_limit_bytes = std::uint64_t{4} << 30;

/// Per-sandbox limits. 0 means unbounded for each.
struct SandboxLimits {
    std::uint64_t memory_bytes = default_memory_limit_bytes;  ///< memory cgroup (RLIMIT_AS without one)
    std::uint32_t pids = default_pids_limit;                  ///< pids cgroup: tasks (threads count too)
    std::uint32_t cpu_millis = default_cpu_millis;            ///< CPU quota, 1000 = one core
    std::chrono::seconds max_lifetime{0};                     ///< wall clock from create to kill
    std::uint64_t open_files = default_open_files_limit;      ///< RLIMIT_NOFILE
    std::uint64_t file_size_bytes = default_file_size_limit_bytes;  ///< RLIMIT_FSIZE
};

enum class IsolationMode {
    required,   ///< bubblewrap or nothing: create fails when namespaces are unavailable
    preferred,  ///< bubblewrap when available, else unisolated with a warning (trusted workloads only)
    disabled,   ///< --unsafe-no-isolation: plain processes, logged loudly at start
};

struct IsolationOptions {
    IsolationMode mode = IsolationMode::required;
    /// Host account the sandboxes run as when the runner is root (never root itself). When the runner is not
    /// root, sandboxes run as the runner's own (unprivileged) uid.
    std::string sandbox_user = "centaur-sandbox";
    /// bubblewrap program: a path, or a name looked up in PATH.
    std::string bwrap = "bwrap";
    SandboxLimits limits;
    /// Upper bound of live sandboxes per host; the aggregate RLIMIT_NPROC of the sandbox uid is
    /// `limits.pids * max_sandboxes` (the per-sandbox bound is the pids cgroup).
    std::uint32_t max_sandboxes = 64;
};

/// The outcome of the start-up probe: printed at start and kept by the backend.
struct IsolationReport {
    bool isolated = false;        ///< sandboxes run inside bubblewrap
    std::string bwrap_path;       ///< resolved bubblewrap, if found
    std::string unavailable;      ///< why bubblewrap cannot be used (its exact error), when not isolated
    uid_t uid = 0;                ///< host uid of the sandboxes
    gid_t gid = 0;
    bool switch_user = false;     ///< the runner is root and drops to `uid` for each sandbox
    std::vector<std::string> enforced;      ///< "namespaces: user,pid,ipc,uts,net,cgroup", "memory: 1073741824 bytes (cgroup v1)", …
    std::vector<std::string> not_enforced;  ///< "cpu: no cpu controller (…)", …

    /// One line per fact, for the start-up log and `centaur-sandbox-runner probe`.
    std::string describe() const;
};

}  // namespace centaur::sandbox
