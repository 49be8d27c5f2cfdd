#include "dlrm/dense/model_mlps.h"

#include <map>
#include <optional>

#include "dlrm/common/error.h"
#include "dlrm/dense/calibration.h"
#include "dlrm/dense/cross_net_int8.h"
#include "dlrm/dense/mlp_int8.h"
#include "dlrm/model/dense_file.h"

namespace dlrm::dense {

DenseLayers load_dense_layers(const std::filesystem::path& dir, const model::Manifest& manifest) {
  const auto path = dir / manifest.dense_file;
  std::map<std::string, model::DenseTensor> tensors;
  for (auto& tensor : model::read_dense_file(path)) tensors[tensor.name] = std::move(tensor);
  auto take = [&](const model::DenseTensorSpec& spec) {
    auto it = tensors.find(spec.name);
    DLRM_CHECK(it != tensors.end(), "{} has no tensor '{}'; re-create the model with dlrm-shard", path.string(),
               spec.name);
    DLRM_CHECK(it->second.shape == spec.shape, "{}: tensor '{}' has shape [{}], the manifest's model needs [{}]",
               path.string(), spec.name, fmt::join(it->second.shape, ", "), fmt::join(spec.shape, ", "));
    return std::move(it->second.values);
  };
  const auto& arch = manifest.arch;
  auto specs = model::dense_tensor_specs(arch);
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
  // dcn: cross.{l}.V [R, X], cross.{l}.W [X, R], cross.{l}.bias [X] lie between the MLPs.
  for (int l = 0; arch.dcn() && l < arch.cross_layers; ++l) {
    CrossLayer layer;
    const auto& v_spec = specs.at(k++);
    const auto& w_spec = specs.at(k++);
    const auto& bias_spec = specs.at(k++);
    DLRM_ASSERT(v_spec.name == fmt::format("cross.{}.V", l) && bias_spec.name == fmt::format("cross.{}.bias", l));
    layer.rank = static_cast<int>(v_spec.shape.at(0));
    layer.width = static_cast<int>(v_spec.shape.at(1));
    layer.v = take(v_spec);
    layer.w = take(w_spec);
    layer.bias = take(bias_spec);
    layers.cross.push_back(std::move(layer));
  }
  layers.top = make(static_cast<int>(arch.top_mlp.size()), true);
  DLRM_ASSERT(k == specs.size());
  dense::check_layers(layers.bottom, path.string() + " bottom MLP");
  dense::check_layers(layers.top, path.string() + " top MLP");
  if (arch.dcn()) {
    dense::check_cross_layers(layers.cross, path.string());
    DLRM_CHECK(layers.cross.front().width == arch.cross_width() && layers.top.front().in == arch.cross_width(),
               "{}: the cross network is {} wide and the top MLP takes {} inputs, but the manifest's model needs "
               "{}; re-create the model with dlrm-shard",
               path.string(), layers.cross.front().width, layers.top.front().in, arch.cross_width());
  }
  return layers;
}

struct DenseMlps::Impl {
  std::optional<dense::Mlp> bottom32, top32;
  std::optional<dense::MlpInt8> bottom8, top8;
  std::optional<dense::CrossNet> cross32;      // fp32 dcn models
  std::optional<dense::CrossNetInt8> cross8;   // int8 dcn models
};

DenseMlps::DenseMlps(const std::filesystem::path& dir, const model::Manifest& manifest, ElementType precision)
    : impl_(std::make_unique<Impl>()) {
  DLRM_CHECK(kMlpTypes.contains(precision), "MLP precision {}; choose {}", to_string(precision), kMlpTypes.names());
  std::optional<ModelCalibration> calibration;
  const auto path = dense::calibration_path(dir);
  if (precision == ElementType::kInt8) {
    DLRM_CHECK(std::filesystem::exists(path),
               "--mlp int8 needs {}; calibrate the model first: dlrm-shard calibrate --model {} --data SAMPLES",
               path.string(), dir.string());
    calibration = dense::load_calibration(path);
  }
  *this = DenseMlps(load_dense_layers(dir, manifest), precision, calibration ? &*calibration : nullptr, path.string());
}

DenseMlps::DenseMlps(DenseLayers layers, ElementType precision, const ModelCalibration* calibration,
                     const std::string& source)
    : impl_(std::make_unique<Impl>()) {
  DLRM_CHECK(kMlpTypes.contains(precision), "MLP precision {}; choose {}", to_string(precision), kMlpTypes.names());
  if (precision == ElementType::kFp32) {
    impl_->bottom32.emplace(std::move(layers.bottom));
    impl_->top32.emplace(std::move(layers.top));
    if (!layers.cross.empty()) impl_->cross32.emplace(std::move(layers.cross));
    return;
  }
  DLRM_CHECK(calibration != nullptr, "int8 MLPs need a calibration ({})", source);
  dense::check_model_calibration(*calibration, layers.bottom, layers.top, layers.cross, source);
  dense::MlpInt8Options bottom_options;
  dense::MlpInt8Options top_options;
  bool cross_fp32 = false;
  if (calibration->fp32_layers) {  // the layers named stay fp32, no others
    bottom_options.last_layer_fp32 = top_options.last_layer_fp32 = false;
    bottom_options.fp32_layers = calibration->fp32_layers->bottom;
    top_options.fp32_layers = calibration->fp32_layers->top;
    cross_fp32 = !calibration->fp32_layers->cross.empty();
  } else {
    bottom_options.first_layer_fp32 = true;  // 13 log1p features: cheap in fp32, costly in accuracy as int8
  }
  impl_->bottom8.emplace(layers.bottom, calibration->bottom, bottom_options);
  impl_->top8.emplace(layers.top, calibration->top, top_options);
  if (!layers.cross.empty() && cross_fp32) impl_->cross32.emplace(std::move(layers.cross));
  if (!layers.cross.empty() && !cross_fp32) {
    impl_->cross8.emplace(layers.cross, calibration->cross, dense::CrossNetInt8Options{});
  }
}

DenseMlps::DenseMlps(DenseMlps&&) noexcept = default;
DenseMlps& DenseMlps::operator=(DenseMlps&&) noexcept = default;
DenseMlps::~DenseMlps() = default;

void DenseMlps::prepare(int batch) {
  if (impl_->bottom32) {
    impl_->bottom32->prepare(batch);
    impl_->top32->prepare(batch);
  } else {
    impl_->bottom8->prepare(batch);
    impl_->top8->prepare(batch);
  }
  if (impl_->cross32) impl_->cross32->prepare(batch);
  if (impl_->cross8) impl_->cross8->prepare(batch);
}

void DenseMlps::bottom(const float* src, int batch, float* dst) {
  impl_->bottom32 ? impl_->bottom32->forward(src, batch, dst) : impl_->bottom8->forward(src, batch, dst);
}

void DenseMlps::top(const float* src, int batch, float* dst) {
  impl_->top32 ? impl_->top32->forward(src, batch, dst) : impl_->top8->forward(src, batch, dst);
}

void DenseMlps::cross(const float* x0, int batch, float* dst) {
  if (impl_->cross32) return impl_->cross32->forward(x0, batch, dst);
  if (impl_->cross8) return impl_->cross8->forward(x0, batch, dst);
  DLRM_FAIL("DenseMlps::cross: the model has no cross network (its interaction is 'dot')");
}

int DenseMlps::cross_width() const {
  return impl_->cross32 ? impl_->cross32->width() : impl_->cross8 ? impl_->cross8->width() : 0;
}

int DenseMlps::bottom_in() const { return impl_->bottom32 ? impl_->bottom32->in() : impl_->bottom8->in(); }
int DenseMlps::top_in() const { return impl_->top32 ? impl_->top32->in() : impl_->top8->in(); }

}  // namespace dlrm::dense
