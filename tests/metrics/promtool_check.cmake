# cmake -DRENDER=<binary> -DOUT=<file> -P promtool_check.cmake
# Runs RENDER (which prints a rendered registry), saves its output to OUT and requires
# `promtool check metrics < OUT` to exit 0 and print nothing (lint problems print lines).
find_program(PROMTOOL promtool)
if(NOT PROMTOOL)
  message(FATAL_ERROR "promtool not found: install it with scripts/setup-deps "
                      "(Debian package prometheus)")
endif()
execute_process(COMMAND ${RENDER} OUTPUT_FILE ${OUT} RESULT_VARIABLE render_rc)
if(NOT render_rc EQUAL 0)
  message(FATAL_ERROR "${RENDER} failed: ${render_rc}")
endif()
execute_process(COMMAND ${PROMTOOL} check metrics INPUT_FILE ${OUT}
                RESULT_VARIABLE check_rc OUTPUT_VARIABLE check_out ERROR_VARIABLE check_out)
if(NOT check_rc EQUAL 0 OR NOT check_out STREQUAL "")
  message(FATAL_ERROR "promtool check metrics < ${OUT} exited ${check_rc}:\n${check_out}")
endif()
message(STATUS "promtool check metrics: ${OUT} has no problems")
