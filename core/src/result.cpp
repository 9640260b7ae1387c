#include <centaur/core/result.hpp>

#include <string>

namespace centaur {
namespace {

class Category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "centaur"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::ok: return "ok";
            case errc::log_unavailable: return "event log unavailable";
            case errc::store_unavailable: return "store unavailable";
            case errc::not_found: return "not found";
            case errc::conflict: return "conflict";
            case errc::invalid_argument: return "invalid argument";
            case errc::timed_out: return "timed out";
            case errc::sandbox_failed: return "sandbox failed";
            case errc::sandbox_eof: return "sandbox stdout closed";
            case errc::sandbox_gone: return "sandbox gone";
            case errc::shutting_down: return "shutting down";
        }
        return "unknown centaur error";
    }
};

}  // namespace

const boost::system::error_category& centaur_category() noexcept {
    static const Category category;
    return category;
}

void assertion_failed(const char* cond, const char* why, const char* file, int line) noexcept {
    std::fprintf(stderr, "centaur: assertion failed: %s (%s) at %s:%d\n", cond, why, file, line);
    std::abort();
}

}  // namespace centaur
