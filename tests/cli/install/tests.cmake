# Installation and the Debian package (docs/install.md):
#   install.prefix  cmake --install into a fresh prefix and with DESTDIR: the
#                   programs and nothing else in bin/, each runs --help from
#                   there, dlrm-launch finds dlrm-cluster beside it, the
#                   scripts, hostfiles, docs and the gRPC .proto are in share/dlrm-cluster/
#   install.deb     cpack -G DEB: name, version, maintainer, a Depends line
#                   naming the package of every shared library the programs
#                   link (and openmpi-bin), the programs and scripts inside
foreach(program ${DLRM_PROGRAMS})
  if(NOT TARGET ${program})
    return()
  endif()
endforeach()

set(DLRM_INSTALL_WORK ${CMAKE_CURRENT_BINARY_DIR}/install)

add_test(NAME install.prefix
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/install.sh ${CMAKE_COMMAND} ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}
    ${DLRM_INSTALL_WORK}/prefix ${DLRM_PROGRAMS})
add_test(NAME install.deb
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/deb.sh ${CMAKE_CPACK_COMMAND} ${PROJECT_BINARY_DIR} ${PROJECT_VERSION}
    ${DLRM_INSTALL_WORK}/deb ${DLRM_PROGRAMS})
set_tests_properties(install.prefix install.deb PROPERTIES LABELS cli TIMEOUT 300)
