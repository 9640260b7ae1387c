#pragma once
// Starting one workload process: fork + exec with async-signal-safe child code. Isolation plugs in as an
// argv prefix (bubblewrap: SpawnRequest.argv is the whole command line), cgroup membership, rlimits and
// the uid the child drops to before exec.

#include "unique_fd.hpp"

#include <centaur/core/result.hpp>

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <utility>

#include <filesystem>
#include <string>
#include <vector>

namespace centaur::sandbox {

struct SpawnRequest {
    std::vector<std::string> argv;      ///< argv[0] is an absolute or relative path (see find_program)
    std::vector<std::string> env;       ///< the complete environment, "NAME=value" each
    std::filesystem::path cwd;          ///< must exist
    std::filesystem::path stderr_path;  ///< created (0600) or appended to; becomes the child's fd 2
    bool inherit_stderr = false;        ///< the runner's own fd 2 instead of stderr_path
    /// `cgroup.procs` files (write ends): the child writes "0" to each first, joining the groups.
    std::vector<int> cgroup_procs_fds;
    /// (resource, limit) pairs set as soft and hard limit before the uid switch.
    std::vector<std::pair<int, rlim_t>> rlimits;
    struct Credentials {
        uid_t uid;
        gid_t gid;
    };
    /// Drop to this uid/gid (supplementary groups cleared) before exec; needs root.
    std::optional<Credentials> run_as;
};

/// A started child. It leads its own process group (pgid == pid) and gets SIGKILL when the thread that
/// spawned it exits (PR_SET_PDEATHSIG; grandchildren are not covered). The owner must reap it.
struct ChildProcess {
    pid_t pid = -1;
    UniqueFd stdin_fd;   ///< write end of the child's stdin, O_CLOEXEC
    UniqueFd stdout_fd;  ///< read end of the child's stdout, O_CLOEXEC
    UniqueFd pidfd;      ///< pidfd_open(pid): readable once the child exited
};

/// Written by the child to the status pipe when a step before exec (or exec itself) fails.
struct ExecReport {
    int stage = 0;  ///< an ExecStage
    int error = 0;  ///< errno of the failed step
};

/// Describes a report as "<step>: <strerror>".
std::string describe(const ExecReport& report);

struct SpawnedProcess {
    ChildProcess child;
    /// Read end of the CLOEXEC status pipe: EOF without data once exec succeeded, one ExecReport if it
    /// failed (the child then exits 127 and still has to be reaped).
    UniqueFd exec_status_fd;
};

/// Forks and execs `request`. Returns once the child exists (exec may still fail: read exec_status_fd).
/// Fails with a system error code (nothing left behind) when pipes, the log file, fork or pidfd_open fail.
/// Does not block on the child. Callable from any thread; the calling thread should outlive the child.
result<SpawnedProcess> spawn_process(const SpawnRequest& request);

/// Resolves a program name the way execvp would: names containing '/' are made absolute against the current
/// directory (the child runs elsewhere); others are searched in `search_path` (colon-separated).
/// errc::not_found when no executable file matches.
result<std::filesystem::path> find_program(const std::string& name, const std::string& search_path);

}  // namespace centaur::sandbox
