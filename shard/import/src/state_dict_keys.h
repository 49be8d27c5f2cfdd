// Private to dlrm_import: the key namings a state_dict may use, each key
// classified into its role (table, bottom / top Linear, cross-net factor), and
// the key of a role spelled in a naming (for errors naming missing tensors).
//
//   kDlrm (the DLRM reference; cross.* are this project's own names):
//     emb_l.K.weight, bot_l.I.{weight,bias}, top_l.I.{weight,bias},
//     cross.l.V, cross.l.W, cross.l.bias
//   kTorchRec (TorchRec's DLRM_DCN state_dict):
//     sparse_arch.embedding_bag_collection.embedding_bags.t_cat_K.weight,
//     dense_arch.model._mlp.I._linear.{weight,bias},
//     inter_arch.crossnet.V_kernels.l, .W_kernels.l, .bias.l,
//     over_arch.model.0._mlp.I._linear.{weight,bias}, then the final Linear
//     over_arch.model.1.{weight,bias} (role kTopFinal)
//   kIntel (Intel's converted dlrm-multihot-pytorch.pt, a pure renaming):
//     sparse_arch.embedding_bag_collection.embedding_bags.K.weight,
//     dense_arch.model._mlp.I.{weight,bias},
//     inter_arch.crossnet.MLPs.Vl.weight (V), MLPs.Wl.weight (W), MLPs.Wl.bias (bias),
//     over_arch.model._mlp.I.{weight,bias}
// MLP indices I step by 2 in kDlrm and kIntel (nn.Sequential of Linear, ReLU,
// ...) and by 1 in kTorchRec (TorchRec's MLP of Perceptron modules).
#pragma once

#include <optional>
#include <string>

#include "dlrm/import/state_dict.h"

namespace dlrm::import {

enum class KeyPart { kTable, kBottom, kTop, kTopFinal, kCrossV, kCrossW, kCrossBias };

struct KeyRole {
  StateDictNaming naming = StateDictNaming::kDlrm;
  KeyPart part = KeyPart::kTable;
  int index = 0;       // table K, MLP index I, cross layer l; 0 for kTopFinal
  bool weight = true;  // Linear layers: weight or bias
};

// The role of `key` (without a "model." prefix), or nullopt for a key of no
// naming. Indices above 999999 are not recognised.
std::optional<KeyRole> classify_key(const std::string& key);

// The key of a role in `naming`, with `prefix` ("model." or "") in front.
std::string key_of(StateDictNaming naming, const std::string& prefix, KeyPart part, int index, bool weight = true);

// Step between the indices of an MLP's Linear layers: 2 (kDlrm, kIntel) or 1 (kTorchRec).
int mlp_step(StateDictNaming naming);

// "DLRM reference", "TorchRec DLRM_DCN", "Intel-converted DLRM_DCN".
const char* naming_name(StateDictNaming naming);

// The keys a state_dict of `naming` holds, for "unexpected key" errors.
std::string naming_keys(StateDictNaming naming);

}  // namespace dlrm::import
