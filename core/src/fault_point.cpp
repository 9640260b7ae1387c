#include <centaur/core/fault_point.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace centaur {
namespace {

struct Config {
    std::string name;     ///< empty: no point armed
    long long nth = 1;
};

Config read_config() {
    Config c;
    const char* env = std::getenv("CENTAUR_TEST_FAULT_POINT");
    if (!env || !*env) return c;
    std::string v(env);
    if (const auto at = v.find('@'); at != std::string::npos) {
        c.nth = std::atoll(v.c_str() + at + 1);
        v.resize(at);
    }
    if (c.nth < 1) c.nth = 1;
    c.name = v;
    return c;
}

const Config& config() {
    static const Config c = read_config();
    return c;
}

std::atomic<long long> passes{0};

}  // namespace

void fault_point(std::string_view name) {
    const auto& c = config();
    if (c.name.empty() || name != c.name) return;
    if (passes.fetch_add(1, std::memory_order_relaxed) + 1 != c.nth) return;
    std::fprintf(stderr, "fault point %s: pass %lld, killing the process\n", c.name.c_str(), c.nth);
    std::fflush(stderr);
    std::raise(SIGKILL);
}

}  // namespace centaur
