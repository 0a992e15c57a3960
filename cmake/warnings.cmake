# Project-wide compile flags: warnings for every target, sanitizers on request.
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
                    -Woverloaded-virtual -Wimplicit-fallthrough)
if(KROND_WERROR)
  add_compile_options(-Werror)
endif()
if(KROND_SANITIZE)
  # _GLIBCXX_ASSERTIONS: libstdc++'s precondition checks (std::clamp's bounds, operator[]
  # ranges), which the sanitizers do not see.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined -D_GLIBCXX_ASSERTIONS)
  add_link_options(-fsanitize=address,undefined)
endif()

# krond_test(NAME SOURCES... LIBS ...) : a gtest binary registered with ctest, label "unit".
function(krond_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gmock GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  gtest_discover_tests(${name} PROPERTIES LABELS unit DISCOVERY_TIMEOUT 30)
endfunction()

# krond_cli_test(NAME SCRIPT): a Python script that runs the real krond binary (its one
# argument), from the source root; label "unit", for what needs no broker.
function(krond_cli_test name script)
  if(NOT TARGET krond)
    return()
  endif()
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  add_test(NAME ${name}
           COMMAND Python3::Interpreter ${CMAKE_CURRENT_SOURCE_DIR}/${script} $<TARGET_FILE:krond>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()
