// The rows of the pool transport (--exchange-transport pool): each shard
// rank loads its shard's rows into shared memory of its host (a file in
// Open MPI's backing directory, unlinked once every rank has mapped it, on
// 2 MiB huge pages where the kernel gives them), and
// the dense ranks of that host pool from there themselves, on their own
// threads, instead of sending indices and waiting for pooled rows. The
// shard ranks own the memory and sit out the batches. Every rank must be on
// one host (docs/exchange.md, "Pooling on the dense ranks").
#pragma once

#include <mpi.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "dlrm/cluster/roles.h"
#include "dlrm/model/manifest.h"
#include "dlrm/shard/shard_server.h"

namespace dlrm::cluster {

class SharedRows {
 public:
  // Collective over `comm` (every shard and dense rank): shard ranks make
  // room for the rows of their shard file, dense ranks map every shard's.
  // Throws (on every rank) when the ranks span several hosts, the host's
  // shared memory has too little room, or a rank cannot make or map a file.
  SharedRows(MPI_Comm comm, const Roles& roles, const model::Manifest& manifest,
             const std::filesystem::path& model_dir);
  ~SharedRows();
  SharedRows(const SharedRows&) = delete;
  SharedRows& operator=(const SharedRows&) = delete;

  // Shard ranks: where to load the rows (model::ShardFile::Options::allocate).
  std::function<void*(uint64_t)> allocator();
  // Dense ranks, once every shard rank has loaded: shard s's rows.
  shard::ShardServer& server(int shard) { return servers_[static_cast<size_t>(shard)]; }

  // What this rank maps of the rows (shard ranks their own, dense ranks
  // every shard's), and how much of it is on 2 MiB pages mapped whole
  // (/proc/self/smaps).
  uint64_t mapped_bytes() const;
  uint64_t huge_page_bytes() const;

  // Unmaps the rows (after the last batch, and after the report has read
  // what of them is resident). Local: another rank's mapping stays valid.
  void finish();

  // One mapping of a rows file, 2 MiB-aligned (so that huge pages can be
  // mapped whole); unmapped, and the file unlinked while `path` is set, when
  // it goes.
  struct Mapping {
    Mapping() = default;
    Mapping(Mapping&& other) noexcept;
    Mapping& operator=(Mapping&& other) noexcept;
    ~Mapping();
    void unlink_file();  // the name goes; the memory stays while mapped
    void release();      // unmapped, and unlink_file()
    uint8_t* base = nullptr;
    size_t length = 0;
    std::string path;  // shard ranks: the file, until every rank has mapped it
  };

 private:
  Mapping mine_;              // shard ranks: their rows, read-write
  std::vector<Mapping> shards_;  // dense ranks: every shard's rows, read-only
  uint64_t my_bytes_ = 0;
  std::vector<shard::ShardServer> servers_;  // dense ranks: one per shard
};

}  // namespace dlrm::cluster
