#include "state_dict_keys.h"

#include <regex>
#include <vector>

#include <fmt/format.h>

#include "dlrm/common/format.h"

namespace dlrm::import {

namespace {

constexpr const char* kTables = "sparse_arch.embedding_bag_collection.embedding_bags.";

struct Pattern {
  std::regex regex;
  StateDictNaming naming;
  KeyPart part;
  // Group 1 is the index; group 2 (when present) "weight" or "bias".
};

const std::vector<Pattern>& patterns() {
  using N = StateDictNaming;
  using P = KeyPart;
  static const std::vector<Pattern> kPatterns = {
      {std::regex(R"(emb_l\.(\d{1,6})\.weight)"), N::kDlrm, P::kTable},
      {std::regex(R"(bot_l\.(\d{1,6})\.(weight|bias))"), N::kDlrm, P::kBottom},
      {std::regex(R"(top_l\.(\d{1,6})\.(weight|bias))"), N::kDlrm, P::kTop},
      {std::regex(R"(cross\.(\d{1,6})\.V)"), N::kDlrm, P::kCrossV},
      {std::regex(R"(cross\.(\d{1,6})\.W)"), N::kDlrm, P::kCrossW},
      {std::regex(R"(cross\.(\d{1,6})\.bias)"), N::kDlrm, P::kCrossBias},
      {std::regex(R"(sparse_arch\.embedding_bag_collection\.embedding_bags\.t_cat_(\d{1,6})\.weight)"), N::kTorchRec,
       P::kTable},
      {std::regex(R"(dense_arch\.model\._mlp\.(\d{1,6})\._linear\.(weight|bias))"), N::kTorchRec, P::kBottom},
      {std::regex(R"(over_arch\.model\.0\._mlp\.(\d{1,6})\._linear\.(weight|bias))"), N::kTorchRec, P::kTop},
      {std::regex(R"(over_arch\.model\.1\.()(weight|bias))"), N::kTorchRec, P::kTopFinal},
      {std::regex(R"(inter_arch\.crossnet\.V_kernels\.(\d{1,6}))"), N::kTorchRec, P::kCrossV},
      {std::regex(R"(inter_arch\.crossnet\.W_kernels\.(\d{1,6}))"), N::kTorchRec, P::kCrossW},
      {std::regex(R"(inter_arch\.crossnet\.bias\.(\d{1,6}))"), N::kTorchRec, P::kCrossBias},
      {std::regex(R"(sparse_arch\.embedding_bag_collection\.embedding_bags\.(\d{1,6})\.weight)"), N::kIntel,
       P::kTable},
      {std::regex(R"(dense_arch\.model\._mlp\.(\d{1,6})\.(weight|bias))"), N::kIntel, P::kBottom},
      {std::regex(R"(over_arch\.model\._mlp\.(\d{1,6})\.(weight|bias))"), N::kIntel, P::kTop},
      {std::regex(R"(inter_arch\.crossnet\.MLPs\.V(\d{1,6})\.weight)"), N::kIntel, P::kCrossV},
      {std::regex(R"(inter_arch\.crossnet\.MLPs\.W(\d{1,6})\.weight)"), N::kIntel, P::kCrossW},
      {std::regex(R"(inter_arch\.crossnet\.MLPs\.W(\d{1,6})\.bias)"), N::kIntel, P::kCrossBias},
  };
  return kPatterns;
}

}  // namespace

std::optional<KeyRole> classify_key(const std::string& key) {
  for (const Pattern& p : patterns()) {
    std::smatch m;
    if (!std::regex_match(key, m, p.regex)) continue;
    KeyRole role;
    role.naming = p.naming;
    role.part = p.part;
    role.index = m[1].length() > 0 ? std::stoi(m[1].str()) : 0;
    role.weight = m.size() < 3 || m[2].str() != "bias";
    return role;
  }
  return std::nullopt;
}

std::string key_of(StateDictNaming naming, const std::string& prefix, KeyPart part, int index, bool weight) {
  const char* field = weight ? "weight" : "bias";
  switch (naming) {
    case StateDictNaming::kDlrm:
      switch (part) {
        case KeyPart::kTable: return fmt::format("{}emb_l.{}.weight", prefix, index);
        case KeyPart::kBottom: return fmt::format("{}bot_l.{}.{}", prefix, index, field);
        case KeyPart::kTop:
        case KeyPart::kTopFinal: return fmt::format("{}top_l.{}.{}", prefix, index, field);
        case KeyPart::kCrossV: return fmt::format("{}cross.{}.V", prefix, index);
        case KeyPart::kCrossW: return fmt::format("{}cross.{}.W", prefix, index);
        case KeyPart::kCrossBias: return fmt::format("{}cross.{}.bias", prefix, index);
      }
      break;
    case StateDictNaming::kTorchRec:
      switch (part) {
        case KeyPart::kTable: return fmt::format("{}{}t_cat_{}.weight", prefix, kTables, index);
        case KeyPart::kBottom: return fmt::format("{}dense_arch.model._mlp.{}._linear.{}", prefix, index, field);
        case KeyPart::kTop: return fmt::format("{}over_arch.model.0._mlp.{}._linear.{}", prefix, index, field);
        case KeyPart::kTopFinal: return fmt::format("{}over_arch.model.1.{}", prefix, field);
        case KeyPart::kCrossV: return fmt::format("{}inter_arch.crossnet.V_kernels.{}", prefix, index);
        case KeyPart::kCrossW: return fmt::format("{}inter_arch.crossnet.W_kernels.{}", prefix, index);
        case KeyPart::kCrossBias: return fmt::format("{}inter_arch.crossnet.bias.{}", prefix, index);
      }
      break;
    case StateDictNaming::kIntel:
      switch (part) {
        case KeyPart::kTable: return fmt::format("{}{}{}.weight", prefix, kTables, index);
        case KeyPart::kBottom: return fmt::format("{}dense_arch.model._mlp.{}.{}", prefix, index, field);
        case KeyPart::kTop:
        case KeyPart::kTopFinal: return fmt::format("{}over_arch.model._mlp.{}.{}", prefix, index, field);
        case KeyPart::kCrossV: return fmt::format("{}inter_arch.crossnet.MLPs.V{}.weight", prefix, index);
        case KeyPart::kCrossW: return fmt::format("{}inter_arch.crossnet.MLPs.W{}.weight", prefix, index);
        case KeyPart::kCrossBias: return fmt::format("{}inter_arch.crossnet.MLPs.W{}.bias", prefix, index);
      }
      break;
  }
  return "?";
}

int mlp_step(StateDictNaming naming) { return naming == StateDictNaming::kTorchRec ? 1 : 2; }

const char* naming_name(StateDictNaming naming) {
  switch (naming) {
    case StateDictNaming::kDlrm: return "DLRM reference";
    case StateDictNaming::kTorchRec: return "TorchRec DLRM_DCN";
    case StateDictNaming::kIntel: return "Intel-converted DLRM_DCN";
  }
  return "?";
}

std::string naming_keys(StateDictNaming naming) {
  switch (naming) {
    case StateDictNaming::kDlrm:
      return "emb_l.K.weight, bot_l.I.weight/bias and top_l.I.weight/bias (and cross.L.V/W/bias for a DCN model)";
    case StateDictNaming::kTorchRec:
      return fmt::format("{}t_cat_K.weight, dense_arch.model._mlp.I._linear.weight/bias, "
                         "inter_arch.crossnet.V_kernels.L/W_kernels.L/bias.L, "
                         "over_arch.model.0._mlp.I._linear.weight/bias and over_arch.model.1.weight/bias",
                         kTables);
    case StateDictNaming::kIntel:
      return fmt::format("{}K.weight, dense_arch.model._mlp.I.weight/bias, inter_arch.crossnet.MLPs.VL.weight, "
                         "MLPs.WL.weight/bias and over_arch.model._mlp.I.weight/bias",
                         kTables);
  }
  return "?";
}

}  // namespace dlrm::import
