# `cmake --build build --target format-check` fails when any of our C++/CUDA/proto sources differs
# from .clang-format; `--target format` rewrites them.
find_program(R1_CLANG_FORMAT NAMES clang-format clang-format-14)
if(R1_CLANG_FORMAT)
  add_custom_target(format-check
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/format.sh --check ${R1_CLANG_FORMAT}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} VERBATIM)
  add_custom_target(format
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/format.sh --fix ${R1_CLANG_FORMAT}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} VERBATIM)
endif()
