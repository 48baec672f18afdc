// Content hashes of full KV blocks, for prefix caching (the worker's PagedKvCache) and prefix-aware
// routing (the coordinator's PrefixAffinityTable): the hash of block i covers the kBlockTokens
// token ids of block i and the hash of block i−1 (kRootBlockHash before the first block), so
// equal hashes mean equal whole prefixes, not only equal block contents. Deterministic across
// processes and platforms (no per-process seed): the coordinator's hashes name the same prefixes
// as the workers'. Not cryptographic: the cache also compares a block's tokens and parent hash
// before reusing it. Pure functions, safe from any thread.
#ifndef R1_COMMON_KV_BLOCK_HASH_H_
#define R1_COMMON_KV_BLOCK_HASH_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace r1 {

// Tokens per KV cache block.
inline constexpr int kBlockTokens = 64;

inline constexpr uint64_t kRootBlockHash = 0x6a09e667f3bcc908ull;

// The hash of the block of kBlockTokens ids at `tokens` (borrowed) following a block whose hash
// is `parent`.
uint64_t HashKvBlock(uint64_t parent, const int* tokens);

// The chained hashes of the full blocks of `tokens[0, n)` (borrowed): n / kBlockTokens of them,
// block 0 first.
std::vector<uint64_t> HashKvBlocks(const int* tokens, size_t n);

}  // namespace r1

#endif  // R1_COMMON_KV_BLOCK_HASH_H_
