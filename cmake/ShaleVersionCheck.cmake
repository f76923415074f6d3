# ShaleVersionCheck.cmake — fails configure when the SHALE_VERSION_* macros in
# include/shale.h disagree with project(VERSION). shale_version() returns
# SHALE_VERSION_STRING, so the three (project, macros, runtime string) always agree.
file(STRINGS "${PROJECT_SOURCE_DIR}/include/shale.h" _shale_version_lines
  REGEX "^#define SHALE_VERSION_(MAJOR|MINOR|PATCH|STRING) ")
foreach(_part MAJOR MINOR PATCH STRING)
  set(_shale_h_${_part} "")
  foreach(_line IN LISTS _shale_version_lines)
    if(_line MATCHES "^#define SHALE_VERSION_${_part} +\"?([0-9.]+)\"?")
      set(_shale_h_${_part} "${CMAKE_MATCH_1}")
    endif()
  endforeach()
endforeach()
set(_shale_h_numbers "${_shale_h_MAJOR}.${_shale_h_MINOR}.${_shale_h_PATCH}")
if(NOT _shale_h_numbers STREQUAL PROJECT_VERSION OR NOT _shale_h_STRING STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "include/shale.h says version ${_shale_h_numbers} (SHALE_VERSION_STRING "
    "\"${_shale_h_STRING}\") but project(VERSION) is ${PROJECT_VERSION}: change them together")
endif()
unset(_shale_version_lines)
unset(_shale_h_numbers)
