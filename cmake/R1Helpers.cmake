# Small helpers so that every directory declares its targets the same way.
#
#   r1_cc_library(NAME name SRCS ... [HDRS ...] [DEPS ...] [PUBLIC_DEPS ...])
#   r1_cc_binary(NAME name SRCS ... [DEPS ...])
#   r1_cc_test(NAME name SRCS ... [DEPS ...] [LABELS ...] [ARGS ...])
#   r1_cuda_library(NAME name SRCS ... [DEPS ...])      # only called when R1_HAVE_CUDA
#   r1_fuzz_target(NAME name SRCS ... [DEPS ...])       # only called when R1_FUZZ (clang)
#
# Every target compiles as C++20 with warnings (errors when R1_WERROR) on our own code and the
# sanitizer flags when R1_SANITIZE; with R1_FUZZ, libFuzzer's coverage instrumentation and ASan +
# UBSan, so that a fuzz target sees coverage in all of our code it calls. Include paths are rooted
# at the repository: #include "common/x.h".

set(R1_WARNINGS -Wall -Wextra -Wpedantic -Wno-unused-parameter)
if(R1_WERROR)
  list(APPEND R1_WARNINGS -Werror)
endif()
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  list(APPEND R1_WARNINGS -Wthread-safety)
endif()

set(R1_SANITIZER_FLAGS)
if(R1_SANITIZE)
  set(R1_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
endif()

set(R1_FUZZ_FLAGS)
if(R1_FUZZ)
  set(R1_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer)
endif()

function(_r1_common_options target)
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${R1_WARNINGS}>)
  if(R1_SANITIZE)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${R1_SANITIZER_FLAGS}>)
    target_link_options(${target} PUBLIC ${R1_SANITIZER_FLAGS})
  endif()
  if(R1_FUZZ)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${R1_FUZZ_FLAGS}>)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endif()
endfunction()

function(r1_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;HDRS;DEPS;PUBLIC_DEPS" ${ARGN})
  if(A_SRCS)
    add_library(${A_NAME} STATIC ${A_SRCS} ${A_HDRS})
    _r1_common_options(${A_NAME})
    target_link_libraries(${A_NAME} PUBLIC ${A_PUBLIC_DEPS} ${A_DEPS})
  else()
    add_library(${A_NAME} INTERFACE)
    target_include_directories(${A_NAME} INTERFACE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
    target_link_libraries(${A_NAME} INTERFACE ${A_PUBLIC_DEPS} ${A_DEPS})
  endif()
endfunction()

function(r1_cc_binary)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  _r1_common_options(${A_NAME})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
endfunction()

function(r1_cc_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS;ARGS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  _r1_common_options(${A_NAME})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  add_test(NAME ${A_NAME} COMMAND ${A_NAME} ${A_ARGS} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  set_tests_properties(${A_NAME} PROPERTIES TIMEOUT ${A_TIMEOUT})
  if(A_LABELS)
    set_tests_properties(${A_NAME} PROPERTIES LABELS "${A_LABELS}")
  endif()
endfunction()

# A libFuzzer target (LLVMFuzzerTestOneInput in SRCS). R1_SOURCE_DIR is defined as the repository
# root, for targets that load checked-in files (the tokenizer). scripts/fuzz.sh builds and runs them.
function(r1_fuzz_target)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  _r1_common_options(${A_NAME})
  target_compile_options(${A_NAME} PRIVATE -fsanitize=fuzzer)
  target_link_options(${A_NAME} PRIVATE -fsanitize=fuzzer)
  target_compile_definitions(${A_NAME} PRIVATE R1_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
endfunction()

function(r1_cuda_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(${A_NAME} STATIC ${A_SRCS})
  _r1_common_options(${A_NAME})
  target_compile_options(${A_NAME} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-Wall,-Wextra -Werror=all-warnings>)
  set_target_properties(${A_NAME} PROPERTIES CUDA_SEPARABLE_COMPILATION OFF POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(${A_NAME} PUBLIC ${A_PUBLIC_DEPS} ${A_DEPS} CUDA::cudart)
endfunction()

# r1_proto_library(NAME name PROTOS a.proto ... [GRPC])
# Generates C++ (and gRPC stubs with GRPC) from .proto files under ${PROJECT_SOURCE_DIR}/proto into
# the build tree, keeping the import path (#include "r1/v1/inference.pb.h").
function(r1_proto_library)
  cmake_parse_arguments(A "GRPC" "NAME" "PROTOS" ${ARGN})
  set(root ${PROJECT_SOURCE_DIR}/proto)
  set(out ${PROJECT_BINARY_DIR}/proto)
  file(MAKE_DIRECTORY ${out})
  set(srcs)
  foreach(p ${A_PROTOS})
    file(RELATIVE_PATH rel ${root} ${CMAKE_CURRENT_SOURCE_DIR}/${p})
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(gen ${out}/${stem}.pb.cc ${out}/${stem}.pb.h)
    set(args --proto_path=${root} --cpp_out=${out})
    if(A_GRPC)
      list(APPEND gen ${out}/${stem}.grpc.pb.cc ${out}/${stem}.grpc.pb.h)
      list(APPEND args --grpc_out=${out} --plugin=protoc-gen-grpc=${R1_GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(OUTPUT ${gen}
      COMMAND protobuf::protoc ${args} ${root}/${rel}
      DEPENDS ${root}/${rel} protobuf::protoc
      COMMENT "protoc ${rel}" VERBATIM)
    list(APPEND srcs ${gen})
  endforeach()
  add_library(${A_NAME} STATIC ${srcs})
  target_include_directories(${A_NAME} SYSTEM PUBLIC ${out})
  target_link_libraries(${A_NAME} PUBLIC protobuf::libprotobuf gRPC::grpc++)
endfunction()
