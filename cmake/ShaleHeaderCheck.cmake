# ShaleHeaderCheck.cmake — compiles include/shale.h on its own as C11 and, when a C++
# compiler exists, as C++11, both with -Wall -Wextra -pedantic (-Werror under SHALE_WERROR).
# C++ is enabled only for this check; the library stays C.
include(CheckLanguage)
check_language(CXX)
set(_shale_check_sources cmake/header_check.c)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  list(APPEND _shale_check_sources cmake/header_check.cpp)
else()
  message(STATUS "No C++ compiler: shale.h is checked as C only")
endif()
add_library(shale_header_check OBJECT ${_shale_check_sources})
target_include_directories(shale_header_check PRIVATE ${PROJECT_SOURCE_DIR}/include)
set_target_properties(shale_header_check PROPERTIES
  C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF
  CXX_STANDARD 11 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
target_compile_options(shale_header_check PRIVATE -Wall -Wextra -pedantic
  $<$<COMPILE_LANGUAGE:C>:-Wstrict-prototypes> $<$<BOOL:${SHALE_WERROR}>:-Werror>)
unset(_shale_check_sources)
