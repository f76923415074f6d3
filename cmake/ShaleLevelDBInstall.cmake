# ShaleLevelDBInstall.cmake — installs libshale-leveldb as ShaleInstall.cmake installs
# libshale: the .so in the runtime component; the header as <shale/leveldb/c.h>, the archive,
# shale-leveldb.pc and the targets shale::leveldb / shale::leveldb_static (in shale's CMake
# package) in the development one.
set(_ldb_targets shale_leveldb_static)
if(TARGET shale_leveldb_shared)
  list(APPEND _ldb_targets shale_leveldb_shared)
endif()
shale_install_libraries(${_ldb_targets})
install(FILES include/shale/leveldb/c.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/shale/leveldb
  COMPONENT development)

shale_install_pkgconfig(shale-leveldb)
install(FILES doc/leveldb-compat.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT development)
unset(_ldb_targets)
