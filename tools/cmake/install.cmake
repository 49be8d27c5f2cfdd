# cmake --install BUILD [--prefix P] (docs/install.md):
#   P/bin/                          the programs
#   P/share/dlrm-cluster/tools/     the scripts a user runs (mpi-env.sh, bench-scaling.sh; tune_plot.py, which dlrm-tune runs)
#   P/share/dlrm-cluster/hostfiles/ example hostfiles and topologies
#   P/share/dlrm-cluster/           README.md, and docs/*.md under docs/
#   P/share/dlrm-cluster/proto/     inference.proto, for dlrm-serve's gRPC clients
# The libraries are static and linked into the programs; nothing else
# (headers, libraries, tests, benchmarks) is installed.
set(DLRM_PROGRAMS dlrm-shard dlrm-data dlrm-reference dlrm-cluster dlrm-bench dlrm-launch dlrm-serve dlrm-tune)
set(DLRM_SHARE_DIR ${CMAKE_INSTALL_DATADIR}/dlrm-cluster)

install(TARGETS ${DLRM_PROGRAMS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(PROGRAMS tools/mpi-env.sh tools/bench-scaling.sh tools/tune_plot.py DESTINATION ${DLRM_SHARE_DIR}/tools)
install(DIRECTORY hostfiles/ DESTINATION ${DLRM_SHARE_DIR}/hostfiles)
install(FILES README.md DESTINATION ${DLRM_SHARE_DIR})
install(FILES cluster/serve/proto/inference.proto DESTINATION ${DLRM_SHARE_DIR}/proto)
install(DIRECTORY docs/ DESTINATION ${DLRM_SHARE_DIR}/docs FILES_MATCHING PATTERN "*.md")
