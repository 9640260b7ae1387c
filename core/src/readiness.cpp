#include <centaur/core/readiness.hpp>

namespace centaur {

void Readiness::expect(const std::string& component, std::string reason) {
    std::lock_guard lock(mutex_);
    known_[component] = true;
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
