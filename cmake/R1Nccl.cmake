# NCCL's header and library, for targets that link NCCL (only when R1_HAVE_CUDA). Defines the
# interface target r1_nccl. The CUDA toolkit's directories (and $NCCL_HOME) are searched first.
# The library is linked by its shared object (SONAME libnccl.so.2), so the NCCL that the dynamic
# loader finds at run time (LD_LIBRARY_PATH: the GPU machine's own, or a newer one) is used.
if(NOT TARGET r1_nccl)
  find_path(NCCL_INCLUDE_DIR nccl.h
    HINTS ${CUDAToolkit_INCLUDE_DIRS} $ENV{NCCL_HOME}/include)
  if(R1_NCCL_LIBRARY)
    set(NCCL_LIBRARY ${R1_NCCL_LIBRARY})
  else()
    find_library(NCCL_LIBRARY nccl
      HINTS ${CUDAToolkit_LIBRARY_DIR} $ENV{NCCL_HOME}/lib $ENV{NCCL_HOME}/lib64)
  endif()
  if(NOT NCCL_INCLUDE_DIR OR NOT NCCL_LIBRARY)
    message(FATAL_ERROR "NCCL not found (nccl.h: ${NCCL_INCLUDE_DIR}, libnccl: ${NCCL_LIBRARY}); "
                        "set NCCL_HOME or install NCCL with the CUDA toolkit")
  endif()
  file(STRINGS ${NCCL_INCLUDE_DIR}/nccl.h _r1_nccl_version REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) ")
  string(REGEX REPLACE "[^0-9;]" "" _r1_nccl_version "${_r1_nccl_version}")
  string(REPLACE ";" "." _r1_nccl_version "${_r1_nccl_version}")
  message(STATUS "r1serve: NCCL headers ${_r1_nccl_version} (${NCCL_INCLUDE_DIR}), library ${NCCL_LIBRARY}")
  add_library(r1_nccl INTERFACE)
  target_include_directories(r1_nccl SYSTEM INTERFACE ${NCCL_INCLUDE_DIR})
  target_link_libraries(r1_nccl INTERFACE ${NCCL_LIBRARY})
endif()
