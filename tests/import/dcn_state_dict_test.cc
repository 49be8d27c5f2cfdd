// DLRM_DCN (DLRM-v2) state_dicts: the TorchRec, DLRMTrain ("model.") and
// Intel namings and this project's own, the architecture inferred from their
// shapes, each key mapped to its internal tensor, and every refusal naming the
// key at fault.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "dlrm/common/error.h"
#include "dlrm/import/state_dict.h"
#include "dlrm/model/dense_file.h"
#include "fixtures.h"

namespace dlrm::import {
namespace {

enum class Naming { kTorchRec, kDlrmTrain, kIntel, kInternal };

const char* kTables = "sparse_arch.embedding_bag_collection.embedding_bags.";

struct DcnShape {
  int tables = 3;
  int dim = 4;
  std::vector<int> bottom = {8, 4};
  std::vector<int> top = {6, 5, 1};
  int layers = 2;
  int rank = 3;
};

TensorInfo info(std::string name, std::vector<int64_t> shape) {
  TensorInfo t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.dtype_name = "float32";
  return t;
}

// internal name -> key of `naming`, spelled out here independently of the importer.
std::map<std::string, std::string> key_map(Naming naming, const DcnShape& s) {
  std::map<std::string, std::string> keys;
  const bool tr = naming == Naming::kTorchRec || naming == Naming::kDlrmTrain;
  const bool intel = naming == Naming::kIntel;
  for (int t = 0; t < s.tables; ++t) {
    keys[fmt::format("emb_l.{}.weight", t)] = tr      ? fmt::format("{}t_cat_{}.weight", kTables, t)
                                              : intel ? fmt::format("{}{}.weight", kTables, t)
                                                      : fmt::format("emb_l.{}.weight", t);
  }
  for (size_t i = 0; i < s.bottom.size(); ++i) {
    for (const char* f : {"weight", "bias"}) {
      keys[fmt::format("bot_l.{}.{}", 2 * i, f)] = tr      ? fmt::format("dense_arch.model._mlp.{}._linear.{}", i, f)
                                                   : intel ? fmt::format("dense_arch.model._mlp.{}.{}", 2 * i, f)
                                                           : fmt::format("bot_l.{}.{}", 2 * i, f);
    }
  }
  for (int l = 0; l < s.layers; ++l) {
    keys[fmt::format("cross.{}.V", l)] = tr      ? fmt::format("inter_arch.crossnet.V_kernels.{}", l)
                                         : intel ? fmt::format("inter_arch.crossnet.MLPs.V{}.weight", l)
                                                 : fmt::format("cross.{}.V", l);
    keys[fmt::format("cross.{}.W", l)] = tr      ? fmt::format("inter_arch.crossnet.W_kernels.{}", l)
                                         : intel ? fmt::format("inter_arch.crossnet.MLPs.W{}.weight", l)
                                                 : fmt::format("cross.{}.W", l);
    keys[fmt::format("cross.{}.bias", l)] = tr      ? fmt::format("inter_arch.crossnet.bias.{}", l)
                                            : intel ? fmt::format("inter_arch.crossnet.MLPs.W{}.bias", l)
                                                    : fmt::format("cross.{}.bias", l);
  }
  const size_t n = s.top.size();
  for (size_t i = 0; i < n; ++i) {
    for (const char* f : {"weight", "bias"}) {
      std::string key = tr ? (i + 1 < n ? fmt::format("over_arch.model.0._mlp.{}._linear.{}", i, f)
                                        : fmt::format("over_arch.model.1.{}", f))
                           : intel ? fmt::format("over_arch.model._mlp.{}.{}", 2 * i, f)
                                   : fmt::format("top_l.{}.{}", 2 * i, f);
      keys[fmt::format("top_l.{}.{}", 2 * i, f)] = key;
    }
  }
  if (naming == Naming::kDlrmTrain) {
    for (auto& [internal, key] : keys) key = "model." + key;
  }
  return keys;
}

// The internal names and shapes of a DcnShape model (tables, then dense_tensor_specs).
std::vector<model::DenseTensorSpec> internal_specs(const DcnShape& s) {
  model::ModelArch arch;
  arch.dense_features = 13;
  arch.dim = s.dim;
  arch.bottom_mlp = s.bottom;
  arch.top_mlp = s.top;
  arch.interaction = "dcn";
  arch.cross_layers = s.layers;
  arch.cross_rank = s.rank;
  for (int t = 0; t < s.tables; ++t) arch.table_rows.push_back(100 + t);
  std::vector<model::DenseTensorSpec> specs;
  for (int t = 0; t < s.tables; ++t) specs.push_back({fmt::format("emb_l.{}.weight", t), {100 + t, s.dim}});
  for (auto& spec : model::dense_tensor_specs(arch)) specs.push_back(spec);
  return specs;
}

std::vector<TensorInfo> dcn_tensors(Naming naming, const DcnShape& s = {}) {
  const auto keys = key_map(naming, s);
  std::vector<TensorInfo> out;
  for (const auto& spec : internal_specs(s)) out.push_back(info(keys.at(spec.name), spec.shape));
  return out;
}

TensorInfo& tensor_named(std::vector<TensorInfo>& t, const std::string& name) {
  for (TensorInfo& i : t) {
    if (i.name == name) return i;
  }
  ADD_FAILURE() << "no tensor " << name;
  return t.front();
}

void drop(std::vector<TensorInfo>& t, const std::string& name) {
  auto it = std::find_if(t.begin(), t.end(), [&](const TensorInfo& i) { return i.name == name; });
  ASSERT_NE(it, t.end()) << name;
  t.erase(it);
}

std::string tensors_name(const std::vector<TensorInfo>& t, const StateDictLayout& layout, const std::string& name) {
  return t.at(layout.internal.at(name)).name;
}

class DcnNamings : public ::testing::TestWithParam<Naming> {};

// The tiny DCN model: 3 tables of dim 4 (X = 16), bottom 13-8-4, 2 cross
// layers of rank 3, top 16-6-5-1; every internal name lands on its key.
TEST_P(DcnNamings, InfersArchitectureAndMapsEveryKey) {
  const DcnShape s;
  const auto tensors = dcn_tensors(GetParam(), s);
  StateDictLayout layout = infer_state_dict_layout(tensors, 0, "import m.pt");
  const model::ModelArch& arch = layout.arch;
  EXPECT_EQ(arch.interaction, "dcn");
  EXPECT_EQ(arch.cross_layers, 2);
  EXPECT_EQ(arch.cross_rank, 3);
  EXPECT_EQ(arch.dim, 4);
  EXPECT_EQ(arch.dense_features, 13);
  EXPECT_EQ(arch.bottom_mlp, (std::vector<int>{8, 4}));
  EXPECT_EQ(arch.top_mlp, (std::vector<int>{6, 5, 1}));
  EXPECT_EQ(arch.table_rows, (std::vector<int64_t>{100, 101, 102}));
  EXPECT_EQ(arch.cross_width(), 16);
  EXPECT_EQ(arch.top_input_width(), 16);
  EXPECT_TRUE(arch.hotness.empty());
  EXPECT_EQ(layout.model_prefix, GetParam() == Naming::kDlrmTrain);
  const StateDictNaming want = GetParam() == Naming::kIntel      ? StateDictNaming::kIntel
                               : GetParam() == Naming::kInternal ? StateDictNaming::kDlrm
                                                                 : StateDictNaming::kTorchRec;
  EXPECT_EQ(layout.naming, want);
  const auto keys = key_map(GetParam(), s);
  ASSERT_EQ(layout.internal.size(), keys.size());
  for (const auto& [internal, key] : keys) {
    auto it = layout.internal.find(internal);
    ASSERT_NE(it, layout.internal.end()) << internal;
    EXPECT_EQ(tensors[it->second].name, key) << internal;
  }
  // Every dense tensor the shard writer asks for is there with its shape.
  for (const auto& spec : model::dense_tensor_specs(arch)) {
    ASSERT_TRUE(layout.internal.count(spec.name)) << spec.name;
    EXPECT_EQ(tensors[layout.internal.at(spec.name)].shape, spec.shape) << spec.name;
  }
}

std::string naming_label(const ::testing::TestParamInfo<Naming>& p) {
  static const char* const kNames[] = {"torchrec", "dlrmtrain", "intel", "internal"};
  return kNames[static_cast<int>(p.param)];
}

INSTANTIATE_TEST_SUITE_P(Namings, DcnNamings,
                         ::testing::Values(Naming::kTorchRec, Naming::kDlrmTrain, Naming::kIntel, Naming::kInternal),
                         naming_label);

// MLPerf's DLRM-v2 at full size: the architecture of the dlrm-v2 preset (but
// its hotness, which a state_dict does not hold).
TEST(DcnStateDict, FullSizeDlrmV2IsThePreset) {
  model::ModelArch preset = model::make_preset("dlrm-v2");
  DcnShape s;
  s.tables = 26;
  s.dim = 128;
  s.bottom = {512, 256, 128};
  s.top = {1024, 1024, 512, 256, 1};
  s.layers = 3;
  s.rank = 512;
  auto tensors = dcn_tensors(Naming::kDlrmTrain, s);
  for (int t = 0; t < 26; ++t) tensor_named(tensors, fmt::format("model.{}t_cat_{}.weight", kTables, t)).shape[0] =
      preset.table_rows[t];
  model::ModelArch arch = infer_state_dict_arch(tensors, 0, "m");
  preset.hotness.clear();
  EXPECT_EQ(arch.table_rows, preset.table_rows);
  EXPECT_EQ(arch.cross_width(), 3456);
  EXPECT_EQ(arch.dense_features, preset.dense_features);
  EXPECT_EQ(arch.dim, preset.dim);
  EXPECT_EQ(arch.bottom_mlp, preset.bottom_mlp);
  EXPECT_EQ(arch.top_mlp, preset.top_mlp);
  EXPECT_EQ(arch.interaction, preset.interaction);
  EXPECT_EQ(arch.cross_layers, preset.cross_layers);
  EXPECT_EQ(arch.cross_rank, preset.cross_rank);
  EXPECT_TRUE(arch.hotness.empty());
}

// Each refusal names the key at fault and what was expected.
TEST(DcnStateDict, MixedNamingsAreRefused) {
  auto t = dcn_tensors(Naming::kTorchRec);
  tensor_named(t, "inter_arch.crossnet.bias.1").name = "inter_arch.crossnet.MLPs.W1.bias";
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "import m.pt"), "import m.pt", "inter_arch.crossnet.MLPs.W1.bias",
                    "has Intel-converted DLRM_DCN naming", "has TorchRec DLRM_DCN naming", "one naming");
  t = dcn_tensors(Naming::kInternal);
  tensor_named(t, "cross.0.V").name = "inter_arch.crossnet.V_kernels.0";
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "'inter_arch.crossnet.V_kernels.0' has TorchRec DLRM_DCN naming",
                    "DLRM reference naming");
  t = dcn_tensors(Naming::kDlrmTrain);
  tensor_named(t, "model.inter_arch.crossnet.bias.0").name = "inter_arch.crossnet.bias.0";
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "has the 'model.' prefix", "'inter_arch.crossnet.bias.0' has none");
}

TEST(DcnStateDict, UnexpectedKeysAreListedWithTheNamingsKeys) {
  auto t = dcn_tensors(Naming::kTorchRec);
  t.push_back(info("inter_arch.crossnet.extra", {4}));
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "unexpected key 'inter_arch.crossnet.extra'",
                    "TorchRec DLRM_DCN state_dicts hold only", "V_kernels.L");
  t = dcn_tensors(Naming::kIntel);
  t.push_back(info("dense_arch.model._mlp.1.weight", {8, 8}));
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "unexpected dense_arch.model._mlp.1.weight", "even indices");
}

TEST(DcnStateDict, MissingTensorsAreNamed) {
  auto t = dcn_tensors(Naming::kTorchRec);
  drop(t, "inter_arch.crossnet.W_kernels.1");
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "missing inter_arch.crossnet.W_kernels.1",
                    "numbered 0..L-1, each with V, W and bias");
  t = dcn_tensors(Naming::kIntel);  // a gap: layer 0 gone, layer 1 left
  for (const char* k : {"V0.weight", "W0.weight", "W0.bias"}) drop(t, std::string("inter_arch.crossnet.MLPs.") + k);
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "missing inter_arch.crossnet.MLPs.V0.weight",
                    "missing inter_arch.crossnet.MLPs.W0.weight", "missing inter_arch.crossnet.MLPs.W0.bias");
  t = dcn_tensors(Naming::kTorchRec);
  for (const char* k : {"V_kernels", "W_kernels", "bias"}) {
    for (int l = 0; l < 2; ++l) drop(t, fmt::format("inter_arch.crossnet.{}.{}", k, l));
  }
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "missing inter_arch.crossnet.V_kernels.0",
                    "holds the cross network's V, W and bias");
  t = dcn_tensors(Naming::kTorchRec);
  drop(t, "over_arch.model.1.weight");
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "missing over_arch.model.1.weight", "final Linear");
  t = dcn_tensors(Naming::kTorchRec);
  drop(t, "dense_arch.model._mlp.0._linear.weight");
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "missing dense_arch.model._mlp.0._linear.weight");
  t = dcn_tensors(Naming::kDlrmTrain);
  drop(t, fmt::format("model.{}t_cat_1.weight", kTables));
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), fmt::format("missing model.{}t_cat_1.weight", kTables),
                    "found 0, 2");
}

TEST(DcnStateDict, CrossWidthMustBeFeaturesTimesDim) {
  // Cross factors of width 12 = 3 x 4 (one table short of X = (3 + 1) x 4 = 16).
  auto t = dcn_tensors(Naming::kTorchRec);
  for (int l = 0; l < 2; ++l) {
    tensor_named(t, fmt::format("inter_arch.crossnet.V_kernels.{}", l)).shape = {3, 12};
    tensor_named(t, fmt::format("inter_arch.crossnet.W_kernels.{}", l)).shape = {12, 3};
    tensor_named(t, fmt::format("inter_arch.crossnet.bias.{}", l)).shape = {12};
  }
  tensor_named(t, "over_arch.model.0._mlp.0._linear.weight").shape = {6, 12};
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "inter_arch.crossnet.V_kernels.0: expected shape (3, 16)",
                    "X = (T + 1) * dim = (3 + 1) * 4 = 16", "found (3, 12)", "inter_arch.crossnet.bias.1",
                    "over_arch.model.0._mlp.0._linear.weight: expected shape (6, 16)", "the cross network's width");
}

TEST(DcnStateDict, TransposedFactorsAreNamed) {
  auto t = dcn_tensors(Naming::kTorchRec);
  tensor_named(t, "inter_arch.crossnet.V_kernels.1").shape = {16, 3};
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "inter_arch.crossnet.V_kernels.1: shape (16, 3) is transposed",
                    "expected (3, 16)", "V_l applied first", "transpose it");
  t = dcn_tensors(Naming::kIntel);
  tensor_named(t, "inter_arch.crossnet.MLPs.W0.weight").shape = {3, 16};
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "inter_arch.crossnet.MLPs.W0.weight: shape (3, 16) is "
                    "transposed; expected (16, 3)");
  // Every V transposed: the rank is still found (3), and layer 0 is named too.
  t = dcn_tensors(Naming::kTorchRec);
  for (int l = 0; l < 2; ++l) tensor_named(t, fmt::format("inter_arch.crossnet.V_kernels.{}", l)).shape = {16, 3};
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "2 problems", "V_kernels.0: shape (16, 3) is transposed");
}

TEST(DcnStateDict, OtherShapesAndTypes) {
  auto t = dcn_tensors(Naming::kTorchRec);
  tensor_named(t, "inter_arch.crossnet.V_kernels.1").shape = {4, 16};  // rank 4 but layer 0 has 3
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "V_kernels.1: expected shape (3, 16)", "found (4, 16)");
  t = dcn_tensors(Naming::kTorchRec);
  tensor_named(t, "inter_arch.crossnet.bias.0").shape = {15};
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "inter_arch.crossnet.bias.0: expected shape (16,)");
  t = dcn_tensors(Naming::kTorchRec);
  tensor_named(t, "inter_arch.crossnet.W_kernels.0").dtype = ElementType::kOther;
  tensor_named(t, "inter_arch.crossnet.W_kernels.0").dtype_name = "int64";
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "inter_arch.crossnet.W_kernels.0 holds int64 values");
  t = dcn_tensors(Naming::kIntel);
  tensor_named(t, "over_arch.model._mlp.4.weight").shape = {2, 5};
  tensor_named(t, "over_arch.model._mlp.4.bias").shape = {2};
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "over_arch.model._mlp.4.weight: the top MLP must end with "
                    "width 1");
  t = dcn_tensors(Naming::kTorchRec);
  tensor_named(t, "dense_arch.model._mlp.1._linear.weight").shape = {5, 8};
  tensor_named(t, "dense_arch.model._mlp.1._linear.bias").shape = {5};
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "dense_arch.model._mlp.1._linear.weight: the bottom MLP must "
                    "end at the embedding dim 4");
}

TEST(DcnStateDict, DlrmKeysStayDot) {
  // The reference layout without cross.* keys: a dot model, as before.
  DcnShape s;
  auto t = dcn_tensors(Naming::kInternal, s);
  t.erase(std::remove_if(t.begin(), t.end(), [](const TensorInfo& i) { return i.name.rfind("cross.", 0) == 0; }),
          t.end());
  tensor_named(t, "top_l.0.weight").shape = {6, 4 + 4 * 3 / 2};
  StateDictLayout layout = infer_state_dict_layout(t, 0, "m");
  EXPECT_EQ(layout.arch.interaction, "dot");
  EXPECT_EQ(layout.arch.cross_layers, 0);
  EXPECT_EQ(layout.naming, StateDictNaming::kDlrm);
  EXPECT_EQ(tensors_name(t, layout, "top_l.4.bias"), "top_l.4.bias");
}

}  // namespace
}  // namespace dlrm::import
