#pragma once
// Start-up probe of the isolation a host offers, and the bubblewrap command line of one sandbox.

#include "cgroup.hpp"

#include <centaur/sandbox/isolation.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace centaur::sandbox {

/// Mount points inside every isolated sandbox.
inline constexpr char sandbox_workspace_dir[] = "/workspace";
inline constexpr char sandbox_program_dir[] = "/opt/centaur/bin";
inline constexpr char sandbox_hostname[] = "centaur-sandbox";

struct IsolationSetup {
    IsolationReport report;
    CgroupHost cgroups;
};

/// Finds bubblewrap, resolves (or creates, as root) the sandbox user, detects cgroup controllers and runs
/// one throw-away sandbox to prove namespaces can be created here; the report carries bubblewrap's exact
/// error when they cannot. Blocking (bounded, a few ms normally); start-up only.
IsolationSetup probe_isolation(const IsolationOptions& options);

/// What one sandbox sees besides the read-only system.
struct BwrapLayout {
    std::filesystem::path workspace;  ///< host directory bound read-write at /workspace
    /// Read-only binds host path -> sandbox path (workload binaries and files).
    std::vector<std::pair<std::filesystem::path, std::filesystem::path>> ro_binds;
    /// setsid inside (no terminal injection); only when a freezer can pause the detached tree.
    bool new_session = true;
};

/// `bwrap <flags> --` for `layout`: new user, pid, ipc, uts, net, cgroup and mount namespaces, read-only
/// /usr (and the /bin, /lib, /lib64, /sbin links), a few read-only /etc files, fresh /proc, /dev and
/// private /tmp, the workspace, no capabilities, death with the runner. The workload's argv follows.
std::vector<std::string> bwrap_prefix(const std::string& bwrap, const BwrapLayout& layout);

/// Where a host program is seen inside a sandbox: itself under /usr, else /opt/centaur/bin/<name> (and
/// `bind` gets the read-only bind to add).
std::filesystem::path program_in_sandbox(const std::filesystem::path& host_program,
                                         std::vector<std::pair<std::filesystem::path, std::filesystem::path>>& binds);

}  // namespace centaur::sandbox
