# Every third-party library comes from Debian packages (scripts/install-deps.sh) or, for CUDA,
# NCCL and cuBLAS, from the CUDA toolkit. Nothing is downloaded at configure time.
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(spdlog REQUIRED)
find_package(GTest REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(BLAS REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
# The tokenizer: PCRE2 (with JIT) runs tokenizer.json regexes, ICU normalizes (NFC).
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
find_package(ICU 60 REQUIRED COMPONENTS uc)
find_program(R1_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# gloo ships no CMake package on Debian; find its header and library directly.
find_path(R1_GLOO_INCLUDE gloo/allreduce.h REQUIRED)
find_library(R1_GLOO_LIBRARY gloo REQUIRED)
add_library(r1_gloo INTERFACE)
target_include_directories(r1_gloo SYSTEM INTERFACE ${R1_GLOO_INCLUDE})
target_link_libraries(r1_gloo INTERFACE ${R1_GLOO_LIBRARY} Threads::Threads)

# OpenBLAS's cblas.h lives in a per-variant include directory on Debian.
find_path(R1_CBLAS_INCLUDE cblas.h PATH_SUFFIXES openblas openblas-pthread REQUIRED)
add_library(r1_blas INTERFACE)
target_include_directories(r1_blas SYSTEM INTERFACE ${R1_CBLAS_INCLUDE})
target_link_libraries(r1_blas INTERFACE ${BLAS_LIBRARIES})
