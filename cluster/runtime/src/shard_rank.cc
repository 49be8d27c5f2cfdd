#include "dlrm/cluster/shard_rank.h"

#include "dlrm/common/error.h"

namespace dlrm::cluster {

namespace {

model::ShardFile open_shard(const std::filesystem::path& model_dir, const model::Manifest& manifest, int shard,
                            bool verify, bool in_memory, SharedRows* shared) {
  const auto& info = manifest.shards[shard];
  model::ShardFile::Options options;
  options.populate = true;
  options.verify = verify;
  options.in_memory = in_memory || shared != nullptr;
  if (shared != nullptr) options.allocate = shared->allocator();
  options.progress = info.embedding_bytes > (1ull << 30);
  model::ShardFile file = model::ShardFile::open(model_dir / info.file, options);
  model::check_against_manifest(file, manifest, shard);
  return file;
}

std::vector<model::RowsView> slice_views(const model::ShardFile& file) {
  std::vector<model::RowsView> views;
  for (size_t k = 0; k < file.slices().size(); ++k) views.push_back(file.slice_view(static_cast<int>(k)));
  return views;
}

}  // namespace

ShardRank::ShardRank(const std::filesystem::path& model_dir, const model::Manifest& manifest, int shard, bool verify,
                     bool in_memory, SharedRows* shared)
    : shard_(shard),
      embedding_bytes_(manifest.shards[shard].embedding_bytes),
      file_(open_shard(model_dir, manifest, shard, verify, in_memory, shared)),
      server_(slice_views(file_)) {}

void ShardRank::run(Exchange& exchange) {
  for (int64_t b = 0;; ++b) {
    const int slot = static_cast<int>(b % Exchange::kSlots);
    if (!exchange.receive_requests(slot)) return;
    const int64_t bad = exchange.serve(slot, server_);
    DLRM_CHECK(bad == 0, "shard {}: {} requested rows lie outside the shard; the data and model disagree", shard_,
               bad);
    exchange.post_answers(slot);
  }
}

}  // namespace dlrm::cluster
