// libFuzzer target: tuned.json (dlrm-launch --config) through
// parse_tuned_config. Every input is either refused with dlrm::Error or
// accepted, and an accepted one must write back to a document that parses
// to the same configuration (ASan + UBSan watch the parser).
#include <cstddef>
#include <cstdint>
#include <string>

#include "dlrm/common/error.h"
#include "dlrm/launcher/tuned_config.h"

namespace dl = dlrm::launcher;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const dl::TunedConfig config = dl::parse_tuned_config(text, "tuned.json");
    if (config.cluster.batch < 1 || config.cluster.batch > dl::kMaxTunedBatch) __builtin_trap();
    if (config.launch.dense_per_node < 0 || config.launch.threads_per_dense < 0) __builtin_trap();
    const std::string written = dl::tuned_config_json(config);
    if (dl::tuned_config_json(dl::parse_tuned_config(written, "again")) != written) __builtin_trap();
    (void)dl::merge_cluster_args(config.cluster, {"--batch", "7"});
  } catch (const dlrm::Error&) {
  }
  return 0;
}
