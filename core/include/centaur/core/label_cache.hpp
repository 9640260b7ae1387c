#pragma once
// A bounded map from label values to metric children, so a probe resolves a label set once (prometheus-cpp's
// `Family<T>::Add` builds a label map, hashes it and takes the family's mutex on every call) and an event after
// that costs a hash and a few atomic loads.

#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace centaur {

/// Maps `N` label values to a `Value` (typically `prometheus::Counter*`, or a struct of child pointers) made once
/// by the caller's `make`. Owned by a probe; lives as long as the probe and the metrics its values point to (a
/// cached child must never be `Family::Remove`d).
///
/// Threading: `get` from any number of threads at once. A hit reads atomics only (no lock, no allocation); a
/// miss takes a mutex, runs `make` under it (at most once per label set while the cache has room) and publishes
/// the entry. Bounded: the first `capacity` distinct label sets are cached; after that a miss runs `make` on
/// every call and caches nothing, so the cache's memory stays bounded whatever the input. Label values must
/// already come from a bounded set (core/metric_labels.hpp); the cache does not bound the family's series.
template <typename Value, std::size_t N>
class LabelCache {
public:
    using Values = std::array<std::string_view, N>;
    static constexpr std::size_t default_capacity = 256;

    explicit LabelCache(std::size_t capacity = default_capacity)
        : capacity_(capacity), mask_(slot_count(capacity) - 1),
          slots_(std::make_unique<std::atomic<const Entry*>[]>(slot_count(capacity))) {}
    LabelCache(const LabelCache&) = delete;
    LabelCache& operator=(const LabelCache&) = delete;

    /// The value of `values`: the cached one, else `make()` (a `Value`), cached while there is room.
    template <typename Make>
    Value get(const Values& values, Make&& make) {
        const std::size_t hash = hash_of(values);
        if (const Entry* hit = find(values, hash, std::memory_order_acquire).entry) return hit->value;
        if (full_.load(std::memory_order_acquire)) return make();
        return insert(values, hash, make);
    }

    /// Label sets cached so far (at most `capacity`).
    std::size_t size() const {
        const std::lock_guard lock(insert_mutex_);
        return entries_.size();
    }

private:
    struct Entry {
        std::array<std::string, N> values;
        std::size_t hash;
        Value value;
    };
    struct Probe {
        const Entry* entry;
        std::size_t slot;  ///< the entry's slot, else the empty slot that ends its probe sequence
    };

    /// Open addressing at a load factor of at most 1/2, so every probe sequence ends at an empty slot.
    static std::size_t slot_count(std::size_t capacity) {
        std::size_t n = 2;
        while (n < capacity * 2) n *= 2;
        return n;
    }

    static std::size_t hash_of(const Values& values) {
        constexpr std::size_t golden = 0x9e3779b97f4a7c15ULL;
        std::size_t h = 0;
        for (auto v : values) h ^= std::hash<std::string_view>{}(v) + golden + (h << 6) + (h >> 2);
        return h;
    }

    static bool same(const Entry& e, const Values& values) {
        for (std::size_t i = 0; i < N; ++i)
            if (e.values[i] != values[i]) return false;
        return true;
    }

    Probe find(const Values& values, std::size_t hash, std::memory_order order) const {
        for (std::size_t slot = hash & mask_;; slot = (slot + 1) & mask_) {
            const Entry* e = slots_[slot].load(order);
            if (!e || (e->hash == hash && same(*e, values))) return {e, slot};
        }
    }

    template <typename Make>
    Value insert(const Values& values, std::size_t hash, Make& make) {
        const std::lock_guard lock(insert_mutex_);
        const Probe p = find(values, hash, std::memory_order_relaxed);  // writers are serialised by the mutex
        if (p.entry) return p.entry->value;
        if (entries_.size() >= capacity_) {
            full_.store(true, std::memory_order_release);
            return make();
        }
        std::array<std::string, N> owned;
        for (std::size_t i = 0; i < N; ++i) owned[i] = std::string(values[i]);
        auto entry = std::make_unique<Entry>(Entry{std::move(owned), hash, make()});
        slots_[p.slot].store(entry.get(), std::memory_order_release);
        entries_.push_back(std::move(entry));
        return entries_.back()->value;
    }

    const std::size_t capacity_;
    const std::size_t mask_;
    const std::unique_ptr<std::atomic<const Entry*>[]> slots_;  ///< written under insert_mutex_, read lock-free
    std::atomic<bool> full_{false};
    mutable std::mutex insert_mutex_;
    std::vector<std::unique_ptr<Entry>> entries_;  ///< guarded by insert_mutex_; owns what slots_ point to
};

}  // namespace centaur
