#pragma once
// Thread keys: `<ns>:<rest>`, the durable identity of a conversation (`slack:<channel>:<ts>`, `cli:<32 hex>`).

#include <optional>
#include <string>
#include <string_view>

namespace centaur {

inline constexpr std::size_t max_thread_key_bytes = 512;

/// A validated thread key. Construction only through `parse`, so holding one proves validity.
class ThreadKey {
public:
    /// Validates as upstream does: non-empty, at most 512 bytes, no ASCII control characters, does not start
    /// with `{` or `[`, and is `<ns>:<rest>` with both parts non-empty. On failure `error` says why.
    static std::optional<ThreadKey> parse(std::string_view text, std::string* error = nullptr);
    /// A fresh `cli:<32 hex>` key, as the session CLI generates.
    static ThreadKey new_cli_key();

    const std::string& str() const { return key_; }
    std::string_view ns() const { return std::string_view(key_).substr(0, key_.find(':')); }
    auto operator<=>(const ThreadKey&) const = default;

private:
    explicit ThreadKey(std::string key) : key_(std::move(key)) {}
    std::string key_;
};

}  // namespace centaur

template <>
struct std::hash<centaur::ThreadKey> {
    std::size_t operator()(const centaur::ThreadKey& k) const noexcept { return std::hash<std::string>{}(k.str()); }
};
