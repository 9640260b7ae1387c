#include <centaur/schemas/partitioner.hpp>

namespace centaur {

std::int32_t kafka_murmur2(std::string_view key) {
    constexpr std::uint32_t seed = 0x9747b28cU;
    constexpr std::uint32_t m = 0x5bd1e995U;
    constexpr int r = 24;
    const auto* data = reinterpret_cast<const unsigned char*>(key.data());
    const std::size_t length = key.size();
    std::uint32_t h = seed ^ static_cast<std::uint32_t>(length);
    const std::size_t blocks = length / 4;
    for (std::size_t i = 0; i < blocks; ++i) {
        const std::size_t j = i * 4;
        std::uint32_t k = std::uint32_t{data[j]} | (std::uint32_t{data[j + 1]} << 8) |
                          (std::uint32_t{data[j + 2]} << 16) | (std::uint32_t{data[j + 3]} << 24);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    const std::size_t tail = length & ~std::size_t{3};
    switch (length % 4) {
        case 3: h ^= std::uint32_t{data[tail + 2]} << 16; [[fallthrough]];
        case 2: h ^= std::uint32_t{data[tail + 1]} << 8; [[fallthrough]];
        case 1:
            h ^= std::uint32_t{data[tail]};
            h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return static_cast<std::int32_t>(h);
}

std::int32_t partition_for_key(std::string_view key, std::int32_t partitions) {
    const auto positive = static_cast<std::uint32_t>(kafka_murmur2(key)) & 0x7fffffffU;
    return static_cast<std::int32_t>(positive % static_cast<std::uint32_t>(partitions));
}

}  // namespace centaur
