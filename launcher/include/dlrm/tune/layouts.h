// The layouts dlrm-tune tries: a few sets of dlrm-launch layout options,
// each laid out here (choose_layout) so that options giving the same layout
// are tried once and a hostfile on which none fits is refused before any run.
//
//   auto/0/0 (dlrm-launch's default), own/0/0, shared/0/0, and the last two
//   with two dense ranks per NUMA node (shared/2/0, own/2/0)
#pragma once

#include <string>
#include <vector>

#include "dlrm/launcher/hostfile.h"
#include "dlrm/launcher/layout.h"
#include "dlrm/launcher/topology.h"
#include "dlrm/tune/trial.h"

namespace dlrm::tune {

struct CandidateLayout {
  TrialConfig options;  // the layout fields
  std::string label;    // layout_label of its layout
};

// The distinct layouts of the list above that fit, the default first (when
// it fits). Throws naming the hostfile and the default's reason when none
// fits.
std::vector<CandidateLayout> candidate_layouts(const launcher::Hostfile& hostfile,
                                               const std::vector<launcher::HostTopology>& topologies,
                                               const launcher::ModelNeeds& model, bool int8_mlp);

// The layout in words: "1 shard (shares cores) + 1 dense x 2".
std::string layout_label(const launcher::Layout& layout);

// The LayoutOptions a trial's layout fields stand for.
launcher::LayoutOptions layout_options(const TrialConfig& config, bool int8_mlp);

}  // namespace dlrm::tune
