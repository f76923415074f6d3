# ShalePackaging.cmake — CPack: `cpack -G DEB` in the build directory writes libshale0,
# libshale-dev and shale-tools .deb files (one per install component, ShaleInstall.cmake).
set(CPACK_PACKAGE_NAME shale)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Embeddable LSM-tree key-value storage engine")
set(CPACK_PACKAGE_DESCRIPTION "Shale is an embeddable LSM-tree key-value store in C11: ordered,
durable, crash-safe puts, gets, deletes, range deletes, atomic batches, iterators and snapshots.")
set(CPACK_RESOURCE_FILE_README ${PROJECT_SOURCE_DIR}/README.md)
set(CPACK_PACKAGE_CONTACT "Shale maintainers <shale@localhost>" CACHE STRING
  "Maintainer written into packages")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/")

set(CPACK_COMPONENTS_ALL runtime development)
if(TARGET shale-bench OR TARGET shale-ldb)
  list(APPEND CPACK_COMPONENTS_ALL tools)
endif()
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION database)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libshale${PROJECT_VERSION_MAJOR})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "Shale shared library (libshale.so.${PROJECT_VERSION_MAJOR})")

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libshale-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEVELOPMENT_DEPENDS runtime)
# libshale.a needs these at the final link of a static program.
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS "libzstd-dev, libxxhash-dev, liburing-dev")
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION
  "Shale header, static library, pkg-config file, CMake package and documentation")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME shale-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION database)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SHLIBDEPS ON)
set(CPACK_COMPONENT_TOOLS_DESCRIPTION "shale-bench (load testing) and shale-ldb (inspection and repair)")

include(CPack)
