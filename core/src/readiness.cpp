#include <centaur/core/readiness.hpp>

namespace centaur {

void Readiness::expect(const std::string& component, std::string reason, Gate gate) {
    std::lock_guard lock(mutex_);
    known_[component] = true;
    gates_[component] = gate;
    not_ready_[component] = std::move(reason);
}

void Readiness::set_ready(const std::string& component) {
    std::lock_guard lock(mutex_);
    known_[component] = true;
    not_ready_.erase(component);
}

void Readiness::set_not_ready(const std::string& component, std::string reason) {
    std::lock_guard lock(mutex_);
    known_[component] = true;
    not_ready_[component] = std::move(reason);
}

bool Readiness::ready() const {
    std::lock_guard lock(mutex_);
    return not_ready_.empty();
}

bool Readiness::serving() const {
    std::lock_guard lock(mutex_);
    for (const auto& [name, _] : not_ready_) {
        const auto gate = gates_.find(name);
        if (gate == gates_.end() || gate->second == Gate::requests) return false;
    }
    return true;
}

std::map<std::string, std::string> Readiness::report() const {
    std::lock_guard lock(mutex_);
    std::map<std::string, std::string> out;
    for (const auto& [name, _] : known_) {
        auto it = not_ready_.find(name);
        out[name] = it == not_ready_.end() ? "ready" : it->second;
    }
    return out;
}

std::string Readiness::problems() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& [name, reason] : not_ready_) {
        if (!out.empty()) out += ", ";
        out += name + " (" + reason + ")";
    }
    return out;
}

}  // namespace centaur
