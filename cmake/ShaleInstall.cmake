# ShaleInstall.cmake — what `cmake --install` puts where, in three components that CPack
# turns into three Debian packages:
#   runtime      libshale.so.<major>                                    (libshale0)
#   development  shale.h, libshale.a, libshale.so, shale.pc, the CMake package, docs
#                                                                       (libshale-dev)
#   tools        shale-bench, shale-ldb and their man pages             (shale-tools)
include(CMakePackageConfigHelpers)

set(SHALE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/shale CACHE STRING
  "Where shaleConfig.cmake is installed, relative to the prefix")
mark_as_advanced(SHALE_CMAKE_DIR)

# Libraries: the .so in the runtime component, the archive and the .so link in the
# development one, all in shale's CMake package (shaleTargets).
function(shale_install_libraries)
  install(TARGETS ${ARGN} EXPORT shaleTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()

# cmake/<name>.pc.in made into <name>.pc at install time: it names the prefix given then
# (cmake --install --prefix, or CPack's /usr), not the one configured.
function(shale_install_pkgconfig name)
  foreach(_dir LIBDIR INCLUDEDIR)
    if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
      set(_pc_${_dir} "${CMAKE_INSTALL_${_dir}}")
    else()
      set(_pc_${_dir} "\\\${prefix}/${CMAKE_INSTALL_${_dir}}") # stays ${prefix} in the .pc
    endif()
  endforeach()
  install(CODE "
    set(SHALE_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    set(SHALE_PC_LIBDIR \"${_pc_LIBDIR}\")
    set(SHALE_PC_INCLUDEDIR \"${_pc_INCLUDEDIR}\")
    set(PROJECT_VERSION \"${PROJECT_VERSION}\")
    configure_file(\"${PROJECT_SOURCE_DIR}/cmake/${name}.pc.in\" \"${PROJECT_BINARY_DIR}/${name}.pc\" @ONLY)
    " COMPONENT development)
  install(FILES ${PROJECT_BINARY_DIR}/${name}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
    COMPONENT development)
endfunction()

# libshale.a is the archive with internals made local when the hidden-visibility objects
# exist (SHALE_BUILD_SHARED), else the plain one.
set(_shale_lib_targets shale)
if(TARGET shale_shared)
  set(_shale_lib_targets shale_archive shale_shared)
endif()
shale_install_libraries(${_shale_lib_targets})
install(FILES include/shale.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development)

# The CMake package: find_package(shale CONFIG) -> shale::shale, shale::shale_static.
install(EXPORT shaleTargets NAMESPACE shale:: DESTINATION ${SHALE_CMAKE_DIR}
  COMPONENT development)
configure_package_config_file(cmake/shaleConfig.cmake.in
  ${PROJECT_BINARY_DIR}/shaleConfig.cmake INSTALL_DESTINATION ${SHALE_CMAKE_DIR})
# 0.x releases may break the API between minor versions, so only the same minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/shaleConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/shaleConfig.cmake ${PROJECT_BINARY_DIR}/shaleConfigVersion.cmake
  DESTINATION ${SHALE_CMAKE_DIR} COMPONENT development)

shale_install_pkgconfig(shale)

install(FILES README.md doc/DESIGN.md doc/ARCHITECTURE.md doc/tuning.md doc/reliability.md
  doc/performance.md doc/format-wal.md doc/format-sstable.md doc/format-manifest.md
  doc/format-backup.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT development)
# Programs `make -C examples` built in the source tree are not sources to install; nor is
# examples/replicated, which needs libraft and libuv (examples/CMakeLists.txt).
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT development
  PATTERN "shale-example*" EXCLUDE PATTERN "replicated" EXCLUDE)

# The man pages name the doc directory under the prefix given at install time (as shale.pc
# does), not /usr/share/doc/shale whatever the prefix: CMAKE_INSTALL_FULL_DOCDIR, evaluated
# while installing.
if(IS_ABSOLUTE "${CMAKE_INSTALL_DOCDIR}")
  set(_shale_docdir "${CMAKE_INSTALL_DOCDIR}")
else()
  set(_shale_docdir "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}")
endif()

# The tools link libshale.a, so they need no runtime package.
foreach(_tool shale-bench shale-ldb)
  if(TARGET ${_tool})
    install(TARGETS ${_tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
    install(CODE "
      set(SHALE_DOCDIR \"${_shale_docdir}\")
      configure_file(\"${PROJECT_SOURCE_DIR}/man/${_tool}.1.in\" \"${PROJECT_BINARY_DIR}/${_tool}.1\" @ONLY)
      " COMPONENT tools)
    install(FILES ${PROJECT_BINARY_DIR}/${_tool}.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
      COMPONENT tools)
    if(_tool STREQUAL "shale-ldb")
      install(FILES doc/shale-ldb.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT tools)
    endif()
  endif()
endforeach()
unset(_tool)
unset(_dir)
unset(_shale_docdir)
unset(_shale_lib_targets)
