// libFuzzer target for the safetensors header parser: any bytes, as a header of a file whose data
// section is 0..4 KiB, must give a Status, never a crash, hang or sanitizer report. Build with
// clang and -DR1_FUZZ=ON; run: scripts/fuzz.sh (FUZZ_TARGETS=safetensors_header_fuzzer)
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint64_t data_size = (static_cast<uint64_t>(data[0]) << 4) | (data[1] & 0xf);
  absl::string_view header(reinterpret_cast<const char*>(data + 2), size - 2);
  auto h = r1::ParseSafetensorsHeader(header, data_size, "fuzz.safetensors");
  if (h.ok()) {
    // Invariants the parser promises: in bounds, sorted, non-overlapping.
    uint64_t prev_end = 0;
    for (const auto& t : h->tensors) {
      if (t.end > data_size || t.begin > t.end || t.begin < prev_end) __builtin_trap();
      prev_end = t.end;
    }
  }
  return 0;
}
