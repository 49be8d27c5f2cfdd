// Which MPI rank plays which role.
//
// By default ranks 0 .. S-1 serve shards 0 .. S-1 of the manifest and every
// other rank is a dense rank. The launcher may place shards elsewhere by
// setting DLRM_SHARD_RANKS to the world rank of each shard ("0,2,4,6").
#pragma once

#include <string>
#include <vector>

namespace dlrm::cluster {

// kFront: the rank that issues queries in a scenario run (world rank 0); it
// takes no part in the exchange and has no Roles entry.
enum class Role { kShard, kDense, kFront };
const char* to_string(Role role);

struct Roles {
  int rank = 0;
  int size = 0;
  std::vector<int> shard_rank;  // world rank of each shard
  std::vector<int> dense_rank;  // world rank of each dense rank, in dense order
  std::vector<Role> role;       // of each world rank
  std::vector<int> index;       // shard index or dense index of each world rank

  Role my_role() const { return role[rank]; }
  int my_index() const { return index[rank]; }
  int shards() const { return static_cast<int>(shard_rank.size()); }
  int dense_ranks() const { return static_cast<int>(dense_rank.size()); }
};

// Throws dlrm::Error when `size` cannot hold the shards plus one dense rank,
// or DLRM_SHARD_RANKS (placement; empty = default) is malformed.
Roles assign_roles(int rank, int size, int shards, const std::string& placement);

}  // namespace dlrm::cluster
