# ShaleDocs.cmake — `cmake --build build --target docs` writes the API reference of
# include/shale.h to build/docs/html with Doxygen, when Doxygen is installed. Without it the
# target only says so (and fails), so nothing else depends on Doxygen.
find_package(Doxygen QUIET)
if(DOXYGEN_FOUND)
  set(DOXYGEN_PROJECT_NAME Shale)
  set(DOXYGEN_PROJECT_NUMBER ${PROJECT_VERSION})
  set(DOXYGEN_PROJECT_BRIEF "Embeddable LSM-tree key-value storage engine")
  set(DOXYGEN_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/docs)
  set(DOXYGEN_OPTIMIZE_OUTPUT_FOR_C YES)
  set(DOXYGEN_USE_MDFILE_AS_MAINPAGE ${PROJECT_SOURCE_DIR}/README.md)
  set(DOXYGEN_GENERATE_LATEX NO)
  set(DOXYGEN_WARN_IF_UNDOCUMENTED YES)
  set(DOXYGEN_FULL_PATH_NAMES NO)
  set(DOXYGEN_EXCLUDE_SYMBOLS SHALE_H SHALE_EXPORT) # include guard, visibility attribute
  # Every page README.md links to is an input, so its links resolve.
  set(DOXYGEN_WARN_LOGFILE ${PROJECT_BINARY_DIR}/docs/warnings.log)
  file(GLOB _shale_doc_pages ${PROJECT_SOURCE_DIR}/doc/*.md)
  doxygen_add_docs(docs ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/include/shale.h
    ${_shale_doc_pages} ${PROJECT_SOURCE_DIR}/examples/replicated/README.md
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    COMMENT "API reference (Doxygen) in ${PROJECT_BINARY_DIR}/docs/html")
else()
  add_custom_target(docs
    COMMAND ${CMAKE_COMMAND} -E echo "docs: Doxygen not found: install doxygen and re-run cmake"
    COMMAND ${CMAKE_COMMAND} -E false
    VERBATIM)
endif()
