#pragma once
// Owning file descriptor: closes on destruction. Move-only; not thread-safe (one owner at a time).

#include <unistd.h>

#include <utility>

namespace centaur::sandbox {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

    /// Gives up ownership; the caller closes the returned descriptor.
    int release() noexcept { return std::exchange(fd_, no_fd); }

    void reset(int fd = no_fd) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    static constexpr int no_fd = -1;
    int fd_ = no_fd;
};

}  // namespace centaur::sandbox
