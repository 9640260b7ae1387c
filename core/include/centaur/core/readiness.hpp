#pragma once
// Readiness of a process: each component reports itself ready or not with a reason. Thread-safe.

#include <map>
#include <mutex>
#include <string>

namespace centaur {

class Readiness {
public:
    /// Whether a component that is not ready makes the server refuse requests (`serving()`), or only shows in
    /// `/readyz` (health checks that re-run while the process serves: a request meets the real failure itself).
    enum class Gate { requests, report_only };
    /// Registers `component` as not ready yet, with `reason` ("starting" unless given).
    void expect(const std::string& component, std::string reason = "starting", Gate gate = Gate::requests);
    void set_ready(const std::string& component);
    void set_not_ready(const std::string& component, std::string reason);
    /// True when every expected component is ready (/readyz 200).
    bool ready() const;
    /// True when every component that gates requests is ready (protected routes are served).
    bool serving() const;
    /// component -> "ready" or the reason it is not.
    std::map<std::string, std::string> report() const;
    /// "" when ready, else every component that is not ready with its reason: "postgres (unreachable: …), log (…)".
    std::string problems() const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::string> not_ready_;  // component -> reason; absent = ready
    std::map<std::string, bool> known_;
    std::map<std::string, Gate> gates_;
};

}  // namespace centaur
