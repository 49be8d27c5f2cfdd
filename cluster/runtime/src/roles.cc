#include "dlrm/cluster/roles.h"

#include <sstream>

#include "dlrm/common/error.h"

namespace dlrm::cluster {

const char* to_string(Role role) {
  return role == Role::kShard ? "shard" : role == Role::kDense ? "dense" : "front";
}

Roles assign_roles(int rank, int size, int shards, const std::string& placement) {
  DLRM_CHECK(size >= shards + 1,
             "the model has {} shard{} so it needs at least {} ranks ({} shard + 1 or more dense); the job has "
             "{}: run mpirun -n {} or more, or re-shard the model with fewer shards",
             shards, shards == 1 ? "" : "s", shards + 1, shards, size, shards + 1);
  Roles roles;
  roles.rank = rank;
  roles.size = size;
  roles.role.assign(size, Role::kDense);
  roles.index.assign(size, -1);
  if (placement.empty()) {
    for (int s = 0; s < shards; ++s) roles.shard_rank.push_back(s);
  } else {
    std::stringstream in(placement);
    std::string item;
    while (std::getline(in, item, ',')) {
      int r = -1;
      try {
        size_t used = 0;
        r = std::stoi(item, &used);
        DLRM_CHECK(used == item.size(), "");
      } catch (const std::exception&) {
        DLRM_FAIL("DLRM_SHARD_RANKS='{}': '{}' is not a rank number", placement, item);
      }
      DLRM_CHECK(r >= 0 && r < size, "DLRM_SHARD_RANKS='{}': rank {} is outside the job's {} ranks", placement,
                 r, size);
      DLRM_CHECK(roles.role[r] == Role::kDense, "DLRM_SHARD_RANKS='{}' names rank {} twice", placement, r);
      roles.role[r] = Role::kShard;
      roles.shard_rank.push_back(r);
    }
    DLRM_CHECK(static_cast<int>(roles.shard_rank.size()) == shards,
               "DLRM_SHARD_RANKS='{}' places {} shards but the model has {}", placement,
               roles.shard_rank.size(), shards);
  }
  for (int s = 0; s < shards; ++s) {
    roles.role[roles.shard_rank[s]] = Role::kShard;
    roles.index[roles.shard_rank[s]] = s;
  }
  for (int r = 0; r < size; ++r) {
    if (roles.role[r] == Role::kDense) {
      roles.index[r] = static_cast<int>(roles.dense_rank.size());
      roles.dense_rank.push_back(r);
    }
  }
  return roles;
}

}  // namespace dlrm::cluster
