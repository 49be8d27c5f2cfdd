// A shard rank's loop: receive each batch's requests, pool, answer.
//
//   for step b = 0, 1, ... until the dense ranks end the run:
//     exchange.receive_requests -> exchange.serve (ShardServer) -> exchange.post_answers
// The answers of batch b cross while the dense ranks compute batch b - 1.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "dlrm/cluster/exchange.h"
#include "dlrm/cluster/shared_rows.h"
#include "dlrm/model/manifest.h"
#include "dlrm/model/shard_file.h"
#include "dlrm/shard/shard_server.h"

namespace dlrm::cluster {

class ShardRank {
 public:
  // Opens (and with verify, checksums) shard `shard` of the model and checks
  // it against the manifest; in_memory copies the rows into anonymous memory
  // (model::ShardFile::Options), or into what `shared` sets aside for them
  // (the pool transport; in memory whatever in_memory says).
  ShardRank(const std::filesystem::path& model_dir, const model::Manifest& manifest, int shard, bool verify,
            bool in_memory, SharedRows* shared = nullptr);
  ShardRank(const ShardRank&) = delete;
  ShardRank& operator=(const ShardRank&) = delete;
  // Throws naming the shard when a request holds rows outside it.
  void run(Exchange& exchange);
  uint64_t embedding_bytes() const { return embedding_bytes_; }
  uint64_t resident_bytes() const { return file_.resident_bytes(); }

 private:
  int shard_;
  uint64_t embedding_bytes_;
  model::ShardFile file_;
  shard::ShardServer server_;
};

}  // namespace dlrm::cluster
