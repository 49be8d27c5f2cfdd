# Sourced by the project's scripts: lets Open MPI run as root (CI and the
# development machines are root) and run more ranks than cores.
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Idle ranks yield their core: shard and dense ranks often share cores here.
export OMPI_MCA_mpi_yield_when_idle=1
