// load_dense_layers and DenseMlps on synthetic model directories: a dcn model
// (the small-v2 preset: 27 features x dim 16 = 432 wide, 2 cross layers of
// rank 8) and a dot model (small), each a manifest plus a dense.bin of
// random tensors (DenseMlps reads no shard).
#include "dlrm/dense/model_mlps.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "dlrm/common/error.h"
#include "dlrm/dense/calibration.h"
#include "dlrm/dense/cross_net.h"
#include "dlrm/dense/cross_net_int8.h"
#include "dlrm/dense/mlp.h"
#include "dlrm/dense/mlp_int8.h"
#include "dlrm/model/dense_file.h"
#include "dlrm/model/manifest.h"
#include "mlp_test_util.h"
#include "test_files.h"

namespace dlrm::dense {
namespace {

using test::TempDir;
using test::uniform_input;

// Every tensor of dense_tensor_specs(arch) ~ U(-1, 1) / sqrt(its last dim).
std::vector<model::DenseTensor> random_tensors(const model::ModelArch& arch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<model::DenseTensor> tensors;
  for (const model::DenseTensorSpec& spec : model::dense_tensor_specs(arch)) {
    model::DenseTensor t{spec.name, spec.shape, {}};
    int64_t count = 1;
    for (int64_t d : spec.shape) count *= d;
    const float a = 1.0f / std::sqrt(static_cast<float>(spec.shape.back()));
    std::uniform_real_distribution<float> dist(-a, a);
    t.values.resize(static_cast<size_t>(count));
    for (float& v : t.values) v = dist(rng);
    tensors.push_back(std::move(t));
  }
  return tensors;
}

model::Manifest manifest_of(const std::string& preset) {
  model::Manifest manifest;
  manifest.arch = model::make_preset(preset);
  return manifest;
}

const model::DenseTensor& find(const std::vector<model::DenseTensor>& tensors, const std::string& name) {
  for (const auto& t : tensors) {
    if (t.name == name) return t;
  }
  throw std::runtime_error("no tensor " + name);
}

TEST(LoadDenseLayers, DcnModelHasItsCrossLayers) {
  TempDir dir;
  const model::Manifest manifest = manifest_of("small-v2");
  const auto tensors = random_tensors(manifest.arch, 7);
  model::write_dense_file(dir / "dense.bin", tensors);
  const DenseLayers layers = load_dense_layers(dir.path(), manifest);
  ASSERT_EQ(layers.cross.size(), 2u);
  for (int l = 0; l < 2; ++l) {
    const CrossLayer& c = layers.cross[static_cast<size_t>(l)];
    EXPECT_EQ(c.width, 432);
    EXPECT_EQ(c.rank, 8);
    EXPECT_EQ(c.v, find(tensors, "cross." + std::to_string(l) + ".V").values);
    EXPECT_EQ(c.w, find(tensors, "cross." + std::to_string(l) + ".W").values);
    EXPECT_EQ(c.bias, find(tensors, "cross." + std::to_string(l) + ".bias").values);
  }
  ASSERT_EQ(layers.bottom.size(), 2u);
  ASSERT_EQ(layers.top.size(), 3u);
  EXPECT_EQ(layers.top.front().in, 432);
  EXPECT_EQ(layers.top.front().weight, find(tensors, "top_l.0.weight").values);
  EXPECT_EQ(layers.top.back().act, Activation::kSigmoid);

  const model::Manifest dot = manifest_of("small");
  model::write_dense_file(dir / "dense.bin", random_tensors(dot.arch, 8));
  EXPECT_TRUE(load_dense_layers(dir.path(), dot).cross.empty());
}

TEST(LoadDenseLayers, BadCrossTensorsNameFileAndTensor) {
  TempDir dir;
  const model::Manifest manifest = manifest_of("small-v2");
  const std::string file = (dir / "dense.bin").string();
  auto tensors = random_tensors(manifest.arch, 9);
  for (auto& t : tensors) {
    if (t.name == "cross.1.W") t.shape = {8, 432};  // transposed
  }
  model::write_dense_file(dir / "dense.bin", tensors);
  EXPECT_ERROR_WITH(load_dense_layers(dir.path(), manifest), file, "cross.1.W", "[8, 432]", "needs [432, 8]");
  tensors = random_tensors(manifest.arch, 9);
  std::erase_if(tensors, [](const model::DenseTensor& t) { return t.name == "cross.0.bias"; });
  model::write_dense_file(dir / "dense.bin", tensors);
  EXPECT_ERROR_WITH(load_dense_layers(dir.path(), manifest), file, "no tensor 'cross.0.bias'", "dlrm-shard");
  // A dot model's dense.bin read as the dcn model's.
  model::write_dense_file(dir / "dense.bin", random_tensors(manifest_of("small").arch, 9));
  EXPECT_ERROR_WITH(load_dense_layers(dir.path(), manifest), file, "cross.0.V");
}

// bottom and top calibration from random inputs, cross from CrossCalibrator
// (or none), written to dir/calibration.json.
void write_calibration(const std::filesystem::path& dir, const DenseLayers& layers, bool with_cross) {
  const int n = 1024;
  Calibrator bottom(layers.bottom), top(layers.top);
  bottom.observe(uniform_input(n, layers.bottom.front().in, 0.0f, 3.0f, 21).data(), n);
  top.observe(uniform_input(n, layers.top.front().in, -1.0f, 1.0f, 22).data(), n);
  ModelCalibration calibration{bottom.ranges(), top.ranges(), {}, std::nullopt};
  if (with_cross) {
    CrossCalibrator cross(layers.cross);
    cross.observe(uniform_input(n, layers.cross.front().width, -1.0f, 1.0f, 23).data(), n);
    calibration.cross = cross.ranges();
  }
  save_calibration(calibration, calibration_path(dir));
}

TEST(DenseMlps, DcnModelServesItsCrossNetworkAtEachPrecision) {
  TempDir dir;
  const model::Manifest manifest = manifest_of("small-v2");
  model::write_dense_file(dir / "dense.bin", random_tensors(manifest.arch, 11));
  const DenseLayers layers = load_dense_layers(dir.path(), manifest);
  const int batch = 37;
  const std::vector<float> x0 = uniform_input(batch, 432, -1.0f, 1.0f, 12);
  std::vector<float> got(x0.size(), -1.0f), want(x0.size(), -2.0f);

  DenseMlps fp32(dir.path(), manifest, ElementType::kFp32);
  EXPECT_EQ(fp32.cross_width(), 432);
  EXPECT_EQ(fp32.top_in(), 432);
  fp32.prepare(batch);
  fp32.cross(x0.data(), batch, got.data());
  CrossNet(layers.cross).forward(x0.data(), batch, want.data());
  EXPECT_EQ(got, want);  // the same primitives on the same data

  // int8 needs the cross ranges in calibration.json.
  write_calibration(dir.path(), layers, false);
  EXPECT_ERROR_WITH(DenseMlps(dir.path(), manifest, ElementType::kInt8), "calibration.json",
                    "no \"cross\" ranges", "calibrate this model again");
  write_calibration(dir.path(), layers, true);
  DenseMlps int8(dir.path(), manifest, ElementType::kInt8);
  EXPECT_EQ(int8.cross_width(), 432);
  int8.prepare(batch);
  std::fill(got.begin(), got.end(), -1.0f);
  int8.cross(x0.data(), batch, got.data());
  const ModelCalibration calibration = load_calibration(calibration_path(dir.path()));
  CrossNetInt8(layers.cross, calibration.cross).forward(x0.data(), batch, want.data());
  EXPECT_EQ(got, want);
  EXPECT_ERROR_WITH(int8.cross(x0.data(), batch, const_cast<float*>(x0.data())), "overlaps x0");
}

// calibration.json's fp32_layers (per-layer fallback) round-trips, is checked
// against the model, and DenseMlps serves exactly those layers in fp32: the
// same outputs as an MlpInt8 built with those options; a cross network listed
// whole runs in fp32 (CrossNet's outputs).
TEST(DenseMlps, Fp32LayersOfTheCalibrationAreServedInFp32) {
  TempDir dir;
  const model::Manifest manifest = manifest_of("small-v2");
  model::write_dense_file(dir / "dense.bin", random_tensors(manifest.arch, 17));
  const DenseLayers layers = load_dense_layers(dir.path(), manifest);
  write_calibration(dir.path(), layers, true);
  const auto path = calibration_path(dir.path());
  ModelCalibration calibration = load_calibration(path);
  EXPECT_FALSE(calibration.fp32_layers.has_value());
  calibration.fp32_layers = Fp32Layers{{0}, {1, 2}, {0, 1}};  // top: 3 layers (64, 32, 1)
  save_calibration(calibration, path);
  const ModelCalibration read = load_calibration(path);
  ASSERT_TRUE(read.fp32_layers.has_value());
  EXPECT_EQ(read.fp32_layers->bottom, std::vector<int>{0});
  EXPECT_EQ(read.fp32_layers->top, (std::vector<int>{1, 2}));
  EXPECT_EQ(read.fp32_layers->cross, (std::vector<int>{0, 1}));

  DenseMlps mlps(dir.path(), manifest, ElementType::kInt8);
  const int batch = 33;
  const std::vector<float> top_in = uniform_input(batch, 432, -1.0f, 1.0f, 18);
  std::vector<float> got(batch, -1.0f), want(batch, -2.0f);
  mlps.prepare(batch);
  mlps.top(top_in.data(), batch, got.data());
  MlpInt8(layers.top, read.top, {.last_layer_fp32 = false, .fp32_layers = {1, 2}}).forward(top_in.data(), batch,
                                                                                           want.data());
  EXPECT_EQ(got, want);
  const std::vector<float> x0 = uniform_input(batch, 432, -1.0f, 1.0f, 19);
  std::vector<float> cross_got(x0.size(), -1.0f), cross_want(x0.size(), -2.0f);
  mlps.cross(x0.data(), batch, cross_got.data());
  CrossNet(layers.cross).forward(x0.data(), batch, cross_want.data());
  EXPECT_EQ(cross_got, cross_want);

  // Layers that do not exist, repeats, and half a cross network are refused naming the file.
  for (const auto& [bad, what] : std::vector<std::pair<Fp32Layers, std::string>>{
           {Fp32Layers{{2}, {}, {}}, "fp32_layers.bottom names layer 2"},
           {Fp32Layers{{}, {1, 1}, {}}, "each layer once"},
           {Fp32Layers{{}, {}, {1}}, "lists 1 of the 2 cross layers"}}) {
    calibration.fp32_layers = bad;
    save_calibration(calibration, path);
    EXPECT_ERROR_WITH(DenseMlps(dir.path(), manifest, ElementType::kInt8), path.string(), what);
  }
}

TEST(DenseMlps, DotModelHasNoCrossNetwork) {
  TempDir dir;
  const model::Manifest manifest = manifest_of("small");
  model::write_dense_file(dir / "dense.bin", random_tensors(manifest.arch, 13));
  DenseMlps mlps(dir.path(), manifest, ElementType::kFp32);
  EXPECT_EQ(mlps.cross_width(), 0);
  mlps.prepare(4);
  std::vector<float> x(4 * 432), out(x.size());
  EXPECT_ERROR_WITH(mlps.cross(x.data(), 4, out.data()), "DenseMlps::cross", "no cross network");
  // A dot model's calibration without "cross" still serves int8.
  const DenseLayers layers = load_dense_layers(dir.path(), manifest);
  write_calibration(dir.path(), layers, false);
  DenseMlps int8(dir.path(), manifest, ElementType::kInt8);
  EXPECT_EQ(int8.cross_width(), 0);
}

}  // namespace
}  // namespace dlrm::dense
