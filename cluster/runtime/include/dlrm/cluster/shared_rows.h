// The rows of the pool transport (--exchange-transport pool): each shard
// rank loads its shard's rows into a shared-memory window of its host, and
// the dense ranks of that host pool from there themselves, on their own
// threads, instead of sending indices and waiting for pooled rows. The
// shard ranks own the memory and sit out the batches. Every rank must be on
// one host (docs/exchange.md, "Pooling on the dense ranks").
#pragma once

#include <mpi.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "dlrm/cluster/roles.h"
#include "dlrm/model/manifest.h"
#include "dlrm/shard/shard_server.h"

namespace dlrm::cluster {

class SharedRows {
 public:
  // Collective over `comm` (every shard and dense rank): shard ranks make
  // room for the rows of their shard file, dense ranks find every shard's.
  // Throws (on every rank) when the ranks span several hosts or the host's
  // shared memory has too little room.
  SharedRows(MPI_Comm comm, const Roles& roles, const model::Manifest& manifest,
             const std::filesystem::path& model_dir);
  ~SharedRows();
  SharedRows(const SharedRows&) = delete;
  SharedRows& operator=(const SharedRows&) = delete;

  // Shard ranks: where to load the rows (model::ShardFile::Options::allocate).
  std::function<void*(uint64_t)> allocator();
  // Dense ranks, once every shard rank has loaded: shard s's rows.
  shard::ShardServer& server(int shard) { return servers_[static_cast<size_t>(shard)]; }

  // Collective: frees the window (after the last batch).
  void finish();

 private:
  MPI_Comm node_comm_ = MPI_COMM_NULL;
  MPI_Win window_ = MPI_WIN_NULL;
  void* mine_ = nullptr;
  uint64_t my_bytes_ = 0;
  std::vector<shard::ShardServer> servers_;  // dense ranks: one per shard
};

}  // namespace dlrm::cluster
