# FlashInfer's header-only CUDA kernels, used from C++ beside our own (DESIGN.md §8): only the
# `flashinfer/data/` folder of the pinned flashinfer-python wheel, which scripts/install-deps.sh
# unpacks into .deps/flashinfer-python/ when nvcc is present. Decides R1_HAVE_FLASHINFER and
# defines r1_flashinfer_cuda_library(NAME name SRCS ... [PUBLIC_DEPS ...]).
#
# Automatic: on when CUDA is built (R1_HAVE_CUDA), R1_FLASHINFER is ON and R1_FLASHINFER_DATA
# (default: the install-deps location) holds the pinned version; otherwise the FlashInfer targets
# are simply not defined and the configure log says why. The version must match exactly because
# our code calls FlashInfer's internal plan API (its layout changes between releases).
set(R1_FLASHINFER_VERSION 0.7.4)
set(R1_HAVE_FLASHINFER OFF)
set(R1_FLASHINFER_DATA "${PROJECT_SOURCE_DIR}/.deps/flashinfer-python/flashinfer/data"
    CACHE PATH "flashinfer/data folder of the flashinfer-python ${R1_FLASHINFER_VERSION} wheel")

set(_r1_fi_why "")
if(NOT R1_HAVE_CUDA)
  set(_r1_fi_why "no CUDA build")
elseif(NOT R1_FLASHINFER)
  set(_r1_fi_why "R1_FLASHINFER=OFF")
elseif(NOT EXISTS "${R1_FLASHINFER_DATA}/include/flashinfer/attention/mla_hopper.cuh")
  set(_r1_fi_why "no headers at R1_FLASHINFER_DATA=${R1_FLASHINFER_DATA} (scripts/install-deps.sh installs them)")
else()
  set(_r1_fi_meta "${R1_FLASHINFER_DATA}/../_build_meta.py")
  set(_r1_fi_found "unknown")
  if(EXISTS "${_r1_fi_meta}")
    file(STRINGS "${_r1_fi_meta}" _r1_fi_line REGEX "^__version__ *= *\"")
    string(REGEX REPLACE "^__version__ *= *\"([^\"]*)\".*" "\\1" _r1_fi_found "${_r1_fi_line}")
  endif()
  if(NOT _r1_fi_found STREQUAL R1_FLASHINFER_VERSION)
    set(_r1_fi_why "version ${_r1_fi_found} at ${R1_FLASHINFER_DATA}, need ${R1_FLASHINFER_VERSION}")
  else()
    set(R1_HAVE_FLASHINFER ON)
  endif()
endif()
if(R1_HAVE_FLASHINFER)
  message(STATUS "r1serve: FlashInfer ${R1_FLASHINFER_VERSION} ON (${R1_FLASHINFER_DATA})")
else()
  message(STATUS "r1serve: FlashInfer OFF (${_r1_fi_why}): FlashInfer kernels, their GPU test "
                 "and their columns in the benches are not built")
endif()

# A static library of CUDA sources that include FlashInfer. Kept apart from r1_cuda_library
# because FlashInfer needs (notes: /work/shared/notes/kernel-libraries.md, FlashInfer's own
# jit/cpp_ext.py): its bundled CCCL ahead of the toolkit's (CUDA 13.0's CCCL lacks
# cuda::fast_mod_div) — plain -I, first, as FlashInfer does; --expt-relaxed-constexpr; C++17
# (its JIT standard); sm_90a (its Hopper MLA uses wgmma). Its headers are SYSTEM includes and our
# -Werror set is not applied: third-party warnings are not ours to fix. Callers see only our
# plain C++ headers.
function(r1_flashinfer_cuda_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;PUBLIC_DEPS" ${ARGN})
  add_library(${A_NAME} STATIC ${A_SRCS})
  target_include_directories(${A_NAME} BEFORE PRIVATE
    ${R1_FLASHINFER_DATA}/cccl/cub
    ${R1_FLASHINFER_DATA}/cccl/libcudacxx/include
    ${R1_FLASHINFER_DATA}/cccl/thrust)
  target_include_directories(${A_NAME} SYSTEM PRIVATE
    ${R1_FLASHINFER_DATA}/include
    ${R1_FLASHINFER_DATA}/cutlass/include
    ${R1_FLASHINFER_DATA}/cutlass/tools/util/include)
  target_include_directories(${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_definitions(${A_NAME} PRIVATE
    FLASHINFER_ENABLE_BF16 CUTE_SM90_EXTENDED_MMA_SHAPES_ENABLED)
  target_compile_options(${A_NAME} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr>)
  set_target_properties(${A_NAME} PROPERTIES
    CUDA_ARCHITECTURES 90a-real
    CUDA_STANDARD 17
    CUDA_STANDARD_REQUIRED ON
    CUDA_SEPARABLE_COMPILATION OFF
    POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(${A_NAME} PUBLIC ${A_PUBLIC_DEPS} CUDA::cudart)
  target_compile_definitions(${A_NAME} INTERFACE R1_HAVE_FLASHINFER=1)
endfunction()
