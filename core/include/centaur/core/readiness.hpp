#pragma once
// Readiness of a process: each component reports itself ready or not with a reason. Thread-safe.

#include <map>
#include <mutex>
#include <string>

namespace centaur {

class Readiness {
public:
    /// Registers `component` as not ready yet, with `reason` ("starting" unless given).
    void expect(const std::string& component, std::string reason = "starting");
    void set_ready(const std::string& component);
    void set_not_ready(const std::string& component, std::string reason);
    /// True when every expected component is ready.
    bool ready() const;
    /// component -> "ready" or the reason it is not.
    std::map<std::string, std::string> report() const;
    /// "" when ready, else every component that is not ready with its reason: "postgres (unreachable: …), log (…)".
    std::string problems() const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::string> not_ready_;  // component -> reason; absent = ready
    std::map<std::string, bool> known_;
};

}  // namespace centaur
