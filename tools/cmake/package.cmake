# The Debian package: cpack --config BUILD/CPackConfig.cmake -G DEB (or the
# `package` target) writes dlrm-cluster_<version>_<arch>.deb holding what
# cmake --install installs, under /usr. Its Depends line is computed by
# dpkg-shlibdeps from the shared libraries the programs link (Open MPI,
# oneDNN, protobuf, ONNX, gRPC, cpp-httplib, libzip, hwloc, ...), plus
# openmpi-bin for mpirun.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dlrm-cluster)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "dlrm-cluster maintainers <maintainers@users.noreply.b-seed-e21d4aa1.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "serve DLRM recommendation models over MPI ranks")
set(CPACK_PACKAGE_DESCRIPTION
  "dlrm-cluster serves DLRM recommendation models over MPI: shard ranks pool
embedding rows, dense ranks run the MLPs on oneDNN. Programs: dlrm-shard
(import, synthesize and shard models), dlrm-data (sample files),
dlrm-reference (single-process model), dlrm-cluster (the MPI job),
dlrm-bench (throughput), dlrm-serve (the cluster behind REST and gRPC,
Open Inference Protocol) and dlrm-launch (rank layout over hosts, runs mpirun).
Example hostfiles, scripts and documentation are in /usr/share/dlrm-cluster.")
if(DLRM_NATIVE)
  string(APPEND CPACK_PACKAGE_DESCRIPTION
    "\nBuilt with -march=native: it runs only on CPUs with the instruction set of the build machine.")
endif()
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "openmpi-bin")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "python3, python3-matplotlib")
include(CPack)
