#include "dlrm/cluster/dense_model.h"

#include <map>

#include "dlrm/common/error.h"
#include "dlrm/shard/dense_file.h"
#include "dlrm/shard/source.h"

namespace dlrm::cluster {

DenseLayers load_dense_layers(const std::filesystem::path& dir, const shard::Manifest& manifest) {
  const auto path = dir / manifest.dense_file;
  std::map<std::string, shard::DenseTensor> tensors;
  for (auto& tensor : shard::read_dense_file(path)) tensors[tensor.name] = std::move(tensor);
  auto take = [&](const shard::DenseTensorSpec& spec) {
    auto it = tensors.find(spec.name);
    DLRM_CHECK(it != tensors.end(), "{} has no tensor '{}'; re-create the model with dlrm-shard", path.string(),
               spec.name);
    DLRM_CHECK(it->second.shape == spec.shape, "{}: tensor '{}' has shape [{}], the manifest's model needs [{}]",
               path.string(), spec.name, fmt::join(it->second.shape, ", "), fmt::join(spec.shape, ", "));
    return std::move(it->second.values);
  };
  const auto& arch = manifest.arch;
  auto specs = shard::dense_tensor_specs(arch);
  DenseLayers layers;
  size_t k = 0;
  auto make = [&](int layer_count, bool top) {
    std::vector<dense::Layer> out;
    for (int l = 0; l < layer_count; ++l) {
      dense::Layer layer;
      const auto& weight_spec = specs.at(k++);
      const auto& bias_spec = specs.at(k++);
      layer.out = static_cast<int>(weight_spec.shape.at(0));
      layer.in = static_cast<int>(weight_spec.shape.at(1));
      layer.weight = take(weight_spec);
      layer.bias = take(bias_spec);
      layer.act = top && l + 1 == layer_count ? dense::Activation::kSigmoid : dense::Activation::kRelu;
      out.push_back(std::move(layer));
    }
    return out;
  };
  layers.bottom = make(static_cast<int>(arch.bottom_mlp.size()), false);
  layers.top = make(static_cast<int>(arch.top_mlp.size()), true);
  dense::check_layers(layers.bottom, path.string() + " bottom MLP");
  dense::check_layers(layers.top, path.string() + " top MLP");
  return layers;
}

}  // namespace dlrm::cluster
