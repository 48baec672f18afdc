#include "common/kv_block_hash.h"

namespace r1 {
namespace {

// splitmix64's finaliser: a bijection on 64 bits with full avalanche.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t HashKvBlock(uint64_t parent, const int* tokens) {
  uint64_t h = Mix(parent + 0x9e3779b97f4a7c15ull);
  for (int i = 0; i < kBlockTokens; ++i) {
    h = Mix(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(tokens[i])) + 0x9e3779b97f4a7c15ull +
                 (static_cast<uint64_t>(i) << 32)));
  }
  return h;
}

std::vector<uint64_t> HashKvBlocks(const int* tokens, size_t n) {
  std::vector<uint64_t> out;
  out.reserve(n / kBlockTokens);
  uint64_t parent = kRootBlockHash;
  for (size_t i = 0; i + kBlockTokens <= n; i += kBlockTokens) {
    parent = HashKvBlock(parent, tokens + i);
    out.push_back(parent);
  }
  return out;
}

}  // namespace r1
