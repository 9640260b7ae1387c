#pragma once
// Per-sandbox control groups: memory, process-count and CPU limits, freezing, and killing a whole tree.
// Works with cgroup v1 hierarchies (one mount per controller) and with a cgroup v2 tree where the
// controllers are enabled; each controller is taken from whichever the host offers.

#include "unique_fd.hpp"

#include <centaur/sandbox/isolation.hpp>

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace centaur::sandbox {

/// Where one controller lives on this host. `v2` selects the v2 file names (memory.max, pids.max, cpu.max,
/// cgroup.freeze) instead of the v1 ones (memory.limit_in_bytes, pids.max, cpu.cfs_quota_us, freezer.state).
struct ControllerRoot {
    std::filesystem::path dir;  ///< `<mount>/centaur`: every runner's groups live below it
    bool v2 = false;
};

/// What the host offers, found once at start (`detect`). Every controller is optional.
struct CgroupHost {
    std::optional<ControllerRoot> memory;
    std::optional<ControllerRoot> pids;
    std::optional<ControllerRoot> cpu;
    std::optional<ControllerRoot> freezer;
    /// Why a controller is missing, one entry per missing controller ("memory: …").
    std::vector<std::string> missing;

    /// Probes /proc/self/mounts and tries to create `<mount>/centaur` per controller (needs root or a
    /// delegated v2 subtree). Blocking; start-up only.
    static CgroupHost detect();
    bool any() const { return memory || pids || cpu || freezer; }
};

/// The name of this runner's parent group, `runner-<pid>-<start time>`: unique per process incarnation,
/// so the reaper can tell a live runner's groups from a dead one's.
std::string runner_group_name();

/// One sandbox's groups (`<root>/<runner group>/<sandbox id>` per controller). Owned by LocalSandbox; used
/// from its io_context thread only (the calls are short blocking writes to cgroupfs).
class SandboxCgroup {
public:
    /// Creates the groups and writes the limits. Fails with a system error (nothing left behind) when a
    /// directory or a limit cannot be written.
    static result<std::unique_ptr<SandboxCgroup>> create(const CgroupHost& host, const std::string& sandbox_id,
                                                          const SandboxLimits& limits);
    ~SandboxCgroup();
    SandboxCgroup(const SandboxCgroup&) = delete;
    SandboxCgroup& operator=(const SandboxCgroup&) = delete;

    /// `cgroup.procs` of every group, opened for writing (O_CLOEXEC). The spawned child writes "0" to each
    /// before exec, so it and everything it starts are inside from the first instruction.
    std::vector<UniqueFd> open_procs_files() const;

    bool can_freeze() const { return freezer_dir_.has_value(); }
    /// Freezes / thaws every process of the group (no CPU, no I/O). False if there is no freezer.
    bool freeze();
    bool thaw();
    /// SIGKILLs every process in the groups (frozen first when possible, so nothing forks meanwhile).
    void kill_all();
    /// True when no process is left in any of the groups.
    bool empty() const;
    /// Removes the directories; false while a group still holds processes (then retry after kill_all).
    bool remove();
    /// Counters read after the tree died: why it may have died. Empty when no limit was hit.
    std::string limit_report() const;

private:
    struct Group {
        std::filesystem::path dir;
        bool v2 = false;
    };
    SandboxCgroup() = default;

    std::vector<Group> groups_;
    std::optional<Group> memory_dir_;
    std::optional<Group> pids_dir_;
    std::optional<Group> freezer_dir_;
    std::uint64_t memory_limit_ = 0;
    std::uint32_t pids_limit_ = 0;
};

/// Kills and removes groups left by runners that are no longer alive (a crash), and empty groups of this
/// runner's earlier incarnations. Returns how many sandbox groups were reaped. Blocking; start-up and the
/// reaper's interval only.
int reap_orphan_cgroups(const CgroupHost& host);

}  // namespace centaur::sandbox
