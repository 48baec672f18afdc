// The r1serve release, reported by GET /version, worker Hello and `--version`-style logs.
#ifndef R1_COMMON_VERSION_H_
#define R1_COMMON_VERSION_H_

namespace r1 {

inline constexpr char kVersion[] = "0.2.0";

}  // namespace r1

#endif  // R1_COMMON_VERSION_H_
