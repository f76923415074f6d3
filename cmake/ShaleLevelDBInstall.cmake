# ShaleLevelDBInstall.cmake — installs libshale-leveldb as ShaleInstall.cmake installs
# libshale: the .so in the runtime component; the header as <shale/leveldb/c.h>, the archive,
# shale-leveldb.pc and the targets shale::leveldb / shale::leveldb_static (in shale's CMake
# package) in the development one.
set(_ldb_targets shale_leveldb_static)
if(TARGET shale_leveldb_shared)
  list(APPEND _ldb_targets shale_leveldb_shared)
endif()
install(TARGETS ${_ldb_targets} EXPORT shaleTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES include/shale/leveldb/c.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/shale/leveldb
  COMPONENT development)

# As shale.pc: the prefix is the one given at install time.
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(_ldb_pc_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(_ldb_pc_${_dir} "\\\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
install(CODE "
  set(SHALE_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(SHALE_PC_LIBDIR \"${_ldb_pc_LIBDIR}\")
  set(SHALE_PC_INCLUDEDIR \"${_ldb_pc_INCLUDEDIR}\")
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/cmake/shale-leveldb.pc.in\" \"${PROJECT_BINARY_DIR}/shale-leveldb.pc\" @ONLY)
  " COMPONENT development)
install(FILES ${PROJECT_BINARY_DIR}/shale-leveldb.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
  COMPONENT development)
install(FILES doc/leveldb-compat.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT development)
unset(_dir)
unset(_ldb_targets)
