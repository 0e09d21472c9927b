# `cpack -G DEB` in the build tree (after a full build): the Debian package
# iogate_VERSION_ARCH.deb, installed under /usr (cmake/install.cmake has the
# layout). Its Depends are the shared libraries of its binaries (found by
# dpkg-shlibdeps) and the [runtime] section of ci/debian-packages.txt (the
# interpreter, the Python modules and commands an installed iogate uses).
# ci/check-deb builds, installs, exercises and purges it.

file(STRINGS ${CMAKE_SOURCE_DIR}/ci/debian-packages.txt IOGATE_PACKAGE_LINES)
set(IOGATE_SECTION "")
set(IOGATE_RUNTIME_DEPENDS "")
foreach(line IN LISTS IOGATE_PACKAGE_LINES)
  string(REGEX REPLACE "#.*" "" line "${line}")
  string(STRIP "${line}" line)
  if(line MATCHES "^\\[([a-z]+)\\]$")
    set(IOGATE_SECTION ${CMAKE_MATCH_1})
  elseif(line AND IOGATE_SECTION STREQUAL "runtime")
    list(APPEND IOGATE_RUNTIME_DEPENDS ${line})
  endif()
endforeach()
list(JOIN IOGATE_RUNTIME_DEPENDS ", " IOGATE_RUNTIME_DEPENDS)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME iogate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "conformance and fault-injection testing of network servers")
set(CPACK_PACKAGE_CONTACT "iogate <iogate@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${IOGATE_RUNTIME_DEPENDS}")
include(CPack)
