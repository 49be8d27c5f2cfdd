// Architecture inference from state_dict shapes (shared by the .pt and .onnx
// importers): the reference layout, and every error listing what was expected.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "dlrm/common/error.h"
#include "dlrm/common/half.h"
#include "dlrm/import/state_dict.h"
#include "fixtures.h"

namespace dlrm::import {
namespace {

TensorInfo info(std::string name, std::vector<int64_t> shape) {
  TensorInfo t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.dtype_name = "float32";
  return t;
}

std::vector<TensorInfo> dlrm_tensors(int tables, int dim, std::vector<int> bottom, std::vector<int> top) {
  std::vector<TensorInfo> t;
  for (int k = 0; k < tables; ++k) t.push_back(info(fmt::format("emb_l.{}.weight", k), {100 + k, dim}));
  int in = 13;
  for (size_t i = 0; i < bottom.size(); ++i) {
    t.push_back(info(fmt::format("bot_l.{}.weight", 2 * i), {bottom[i], in}));
    t.push_back(info(fmt::format("bot_l.{}.bias", 2 * i), {bottom[i]}));
    in = bottom[i];
  }
  in = dim + (tables + 1) * tables / 2;
  for (size_t i = 0; i < top.size(); ++i) {
    t.push_back(info(fmt::format("top_l.{}.weight", 2 * i), {top[i], in}));
    t.push_back(info(fmt::format("top_l.{}.bias", 2 * i), {top[i]}));
    in = top[i];
  }
  return t;
}

TEST(StateDict, ReferenceArchitecture) {
  // MLPerf DLRM: 26 tables of dim 128, bottom 13-512-256-128, top 479-1024-1024-512-256-1.
  model::ModelArch arch = infer_state_dict_arch(dlrm_tensors(26, 128, {512, 256, 128}, {1024, 1024, 512, 256, 1}), 0, "x");
  EXPECT_EQ(arch.num_tables(), 26);
  EXPECT_EQ(arch.dim, 128);
  EXPECT_EQ(arch.dense_features, 13);
  EXPECT_EQ(arch.bottom_mlp, (std::vector<int>{512, 256, 128}));
  EXPECT_EQ(arch.top_mlp, (std::vector<int>{1024, 1024, 512, 256, 1}));
  EXPECT_EQ(arch.top_input_width(), 479);
  EXPECT_FALSE(arch.interaction_self);
  EXPECT_EQ(infer_state_dict_arch(dlrm_tensors(3, 4, {8, 4}, {6, 1}), 101, "x").table_rows,
            (std::vector<int64_t>{100, 101, 101}));
}

TEST(StateDict, ErrorsListWhatWasExpected) {
  auto t = dlrm_tensors(3, 4, {8, 4}, {6, 1});
  t.push_back(info("emb_l.0.bias", {4}));
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "import m.pt"), "import m.pt", "unexpected key 'emb_l.0.bias'");

  t = dlrm_tensors(3, 4, {8, 4}, {6, 1});
  t.erase(t.begin() + 1);  // emb_l.1.weight
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "missing emb_l.1.weight", "found 0, 2");

  t = dlrm_tensors(3, 4, {8, 4}, {6, 1});
  t[2].shape = {102, 5};
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "emb_l.2.weight: expected shape (rows, 4)", "found (102, 5)");

  t = dlrm_tensors(3, 4, {8, 4}, {6, 1});
  t.push_back(info("bot_l.1.weight", {8, 8}));
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "unexpected bot_l.1", "even indices");

  t = dlrm_tensors(3, 4, {8, 5}, {6, 1});
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "bottom MLP must end at the embedding dim 4");

  t = dlrm_tensors(3, 4, {8, 4}, {6, 2});
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "must end with width 1");

  t = dlrm_tensors(3, 4, {8, 4}, {6, 1});
  t.back().dtype = ElementType::kOther;
  t.back().dtype_name = "int64";
  EXPECT_ERROR_WITH(infer_state_dict_arch(t, 0, "m"), "top_l.2.bias holds int64 values");

  EXPECT_ERROR_WITH(infer_state_dict_arch({}, 0, "m"), "no embedding tables found", "missing bot_l.0.weight");
}

TEST(StateDict, Conversions) {
  // fp16: 1.0 = 0x3c00, -2.5 = 0xc100, smallest subnormal 2^-24 = 0x0001, inf = 0x7c00.
  EXPECT_EQ(fp16_to_float(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_float(0xc100), -2.5f);
  EXPECT_EQ(fp16_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(fp16_to_float(0x7c00)));
  EXPECT_EQ(bf16_to_float(0x3f80), 1.0f);
  const double d[2] = {0.1, -3.0};
  float f[2];
  convert_to_f32(ElementType::kFp64, d, 2, f);
  EXPECT_EQ(f[0], 0.1f);
  EXPECT_EQ(f[1], -3.0f);
}

}  // namespace
}  // namespace dlrm::import
