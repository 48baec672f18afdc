# CUTLASS's header-only CUDA templates, used from C++ beside our own kernels (DESIGN.md §8): the
# C++ headers of the pinned nvidia-cutlass wheel, which scripts/install-deps.sh unzips into
# .deps/nvidia-cutlass/ when nvcc is present. Decides R1_HAVE_CUTLASS and defines
# r1_cutlass_cuda_library(NAME name SRCS ... [PUBLIC_DEPS ...]).
#
# Automatic: on when CUDA is built (R1_HAVE_CUDA), R1_CUTLASS is ON and R1_CUTLASS_ROOT (default:
# the install-deps location) holds the pinned version (cutlass/version.h and the wheel's
# dist-info); otherwise the CUTLASS targets are simply not defined and the configure log says why.
# The version must match exactly: our instantiations name collective builders, kernel schedules
# and scale-layout helpers whose template signatures change between releases.
set(R1_CUTLASS_VERSION 4.2.0)             # cutlass/version.h
set(R1_CUTLASS_WHEEL_VERSION 4.2.0.0)     # the PyPI wheel; keep equal to scripts/install-deps.sh
set(R1_HAVE_CUTLASS OFF)
set(R1_CUTLASS_ROOT "${PROJECT_SOURCE_DIR}/.deps/nvidia-cutlass"
    CACHE PATH "unpacked nvidia-cutlass ${R1_CUTLASS_WHEEL_VERSION} wheel (holds cutlass_library/)")
set(R1_CUTLASS_INCLUDE "${R1_CUTLASS_ROOT}/cutlass_library/source/include")
set(R1_CUTLASS_UTIL_INCLUDE "${R1_CUTLASS_ROOT}/cutlass_library/source/tools/util/include")

set(_r1_cu_why "")
# The collective of CUTLASS example 68 (Hopper FP8 grouped GEMM with blockwise scaling).
string(CONCAT _r1_cu_header "${R1_CUTLASS_INCLUDE}/cutlass/gemm/collective/"
       "sm90_mma_array_tma_gmma_ss_warpspecialized_fp8_blockwise_scaling.hpp")
if(NOT R1_HAVE_CUDA)
  set(_r1_cu_why "no CUDA build")
elseif(NOT R1_CUTLASS)
  set(_r1_cu_why "R1_CUTLASS=OFF")
elseif(NOT EXISTS "${_r1_cu_header}" OR NOT EXISTS "${R1_CUTLASS_INCLUDE}/cutlass/version.h")
  set(_r1_cu_why "no headers at R1_CUTLASS_ROOT=${R1_CUTLASS_ROOT} (scripts/install-deps.sh installs them)")
elseif(NOT EXISTS "${R1_CUTLASS_ROOT}/nvidia_cutlass-${R1_CUTLASS_WHEEL_VERSION}.dist-info")
  set(_r1_cu_why "no nvidia_cutlass-${R1_CUTLASS_WHEEL_VERSION}.dist-info at ${R1_CUTLASS_ROOT}")
else()
  file(STRINGS "${R1_CUTLASS_INCLUDE}/cutlass/version.h" _r1_cu_lines
       REGEX "^#define CUTLASS_(MAJOR|MINOR|PATCH) +[0-9]+")
  set(_r1_cu_found "")
  foreach(part MAJOR MINOR PATCH)
    set(_r1_cu_v "?")
    foreach(line ${_r1_cu_lines})
      if(line MATCHES "^#define CUTLASS_${part} +([0-9]+)")
        set(_r1_cu_v "${CMAKE_MATCH_1}")
      endif()
    endforeach()
    list(APPEND _r1_cu_found "${_r1_cu_v}")
  endforeach()
  string(REPLACE ";" "." _r1_cu_found "${_r1_cu_found}")
  if(NOT _r1_cu_found STREQUAL R1_CUTLASS_VERSION)
    set(_r1_cu_why "version ${_r1_cu_found} at ${R1_CUTLASS_ROOT}, need ${R1_CUTLASS_VERSION}")
  else()
    set(R1_HAVE_CUTLASS ON)
  endif()
endif()
if(R1_HAVE_CUTLASS)
  message(STATUS "r1serve: CUTLASS ${R1_CUTLASS_VERSION} ON (${R1_CUTLASS_ROOT})")
else()
  message(STATUS "r1serve: CUTLASS OFF (${_r1_cu_why}): CUTLASS kernels, their GPU test and their "
                 "columns in the benches are not built")
endif()

# A static library of CUDA sources that include CUTLASS. Kept apart from r1_cuda_library because
# CUTLASS needs (notes: /work/shared/notes/kernel-libraries.md, CUTLASS's own examples):
# --expt-relaxed-constexpr; C++17; CUTLASS_ENABLE_GDC_FOR_SM90=1 (grid-dependency control in the
# Hopper kernels, as CUTLASS's CMake sets it); sm_90a only (wgmma, TMA, setmaxnreg). Unlike
# FlashInfer it uses the toolkit's CCCL. Its headers are SYSTEM includes and our -Werror set is
# not applied: third-party warnings are not ours to fix. Callers see only our plain C++ headers.
function(r1_cutlass_cuda_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;PUBLIC_DEPS" ${ARGN})
  add_library(${A_NAME} STATIC ${A_SRCS})
  target_include_directories(${A_NAME} SYSTEM PRIVATE
    ${R1_CUTLASS_INCLUDE}
    ${R1_CUTLASS_UTIL_INCLUDE})
  target_include_directories(${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_definitions(${A_NAME} PRIVATE CUTLASS_ENABLE_GDC_FOR_SM90=1)
  target_compile_options(${A_NAME} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr>)
  set_target_properties(${A_NAME} PROPERTIES
    CUDA_ARCHITECTURES 90a-real
    CUDA_STANDARD 17
    CUDA_STANDARD_REQUIRED ON
    CUDA_SEPARABLE_COMPILATION OFF
    POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(${A_NAME} PUBLIC ${A_PUBLIC_DEPS} CUDA::cudart)
  target_compile_definitions(${A_NAME} INTERFACE R1_HAVE_CUTLASS=1)
endfunction()
