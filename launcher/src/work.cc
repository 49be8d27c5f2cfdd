#include "dlrm/launcher/work.h"

#include "dlrm/model/manifest.h"
#include "dlrm/model/row_codec.h"

namespace dlrm::launcher {

std::vector<double> pool_bytes_per_pair(const model::Manifest& manifest) {
  const auto& arch = manifest.arch;
  std::vector<double> out;
  for (const auto& shard : manifest.shards) {
    double bytes = 0;
    for (const auto& slice : shard.slices) {
      const double rows = static_cast<double>(arch.table_rows[static_cast<size_t>(slice.table)]);
      const double share = rows > 0 ? static_cast<double>(slice.rows()) / rows : 0;
      bytes += arch.table_hotness(slice.table) * share *
               static_cast<double>(model::row_stride(manifest.dtype, slice.cols()));
    }
    out.push_back(bytes);
  }
  return out;
}

double mlp_flops_per_pair(const model::Manifest& manifest) {
  const auto& arch = manifest.arch;
  double macs = 0;
  auto layers = [&](int in, const std::vector<int>& widths) {
    for (int out : widths) {
      macs += static_cast<double>(in) * out;
      in = out;
    }
  };
  layers(arch.dense_features, arch.bottom_mlp);
  layers(arch.top_input_width(), arch.top_mlp);
  if (arch.dcn()) {
    macs += static_cast<double>(arch.cross_layers) * 2.0 * arch.cross_width() * arch.cross_rank;
  } else {
    const double f = arch.num_features();
    macs += f * (f - 1) / 2 * arch.dim;
  }
  return 2 * macs;
}

ModelNeeds model_needs(const model::Manifest& manifest) {
  ModelNeeds needs;
  for (const auto& info : manifest.shards) needs.shard_bytes.push_back(info.embedding_bytes);
  needs.dense_bytes = manifest.dense_bytes;
  needs.shard_pool_bytes_per_pair = pool_bytes_per_pair(manifest);
  needs.mlp_flops_per_pair = mlp_flops_per_pair(manifest);
  return needs;
}

}  // namespace dlrm::launcher
