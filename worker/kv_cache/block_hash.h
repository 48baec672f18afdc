// Content hashes of full KV blocks for prefix caching: the hash of block i covers the kBlockTokens
// token ids of block i and the hash of block i−1 (kRootBlockHash before the first block), so
// equal hashes mean equal whole prefixes, not only equal block contents. Deterministic across
// processes and platforms (no per-process seed). Not cryptographic: the cache also compares a
// block's tokens and parent hash before reusing it.
#ifndef R1_WORKER_KV_CACHE_BLOCK_HASH_H_
#define R1_WORKER_KV_CACHE_BLOCK_HASH_H_

#include <cstdint>

namespace r1 {

inline constexpr uint64_t kRootBlockHash = 0x6a09e667f3bcc908ull;

// The hash of the block of kBlockTokens ids at `tokens` (borrowed) following a block whose hash
// is `parent`.
uint64_t HashKvBlock(uint64_t parent, const int* tokens);

}  // namespace r1

#endif  // R1_WORKER_KV_CACHE_BLOCK_HASH_H_
