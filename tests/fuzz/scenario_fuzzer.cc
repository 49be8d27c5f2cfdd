// libFuzzer target: the scenario options as text (--scenario, --mode,
// --pairs-per-query) and the settings built from them. Every input is either
// refused with dlrm::Error or accepted, and an accepted one must describe
// itself back to something that parses to the same thing; validate() on the
// settings must refuse or accept without crashing (ASan + UBSan).
#include <cstddef>
#include <cstdint>
#include <string>

#include "dlrm/common/error.h"
#include "dlrm/scenario/settings.h"

namespace sc = dlrm::scenario;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const sc::QuerySize q = sc::parse_query_size(text);
    if (q.max_pairs() < 1 || !(q.mean_pairs() >= 1)) __builtin_trap();
    const sc::QuerySize again = sc::parse_query_size(q.describe());
    if (again.kind != q.kind || again.max_pairs() != q.max_pairs()) __builtin_trap();
    for (sc::Scenario s : {sc::Scenario::kOffline, sc::Scenario::kServer, sc::Scenario::kSingleStream}) {
      sc::Settings settings = sc::Settings::quick(s);
      settings.pairs = q;
      // The samples a data file holds: from the input's length, 0 included.
      try {
        settings.validate(static_cast<int64_t>(size) * 97);
        if (static_cast<int64_t>(size) * 97 < q.max_pairs()) __builtin_trap();  // a query larger than the data
      } catch (const dlrm::Error&) {
      }
    }
  } catch (const dlrm::Error&) {
  }
  try {
    (void)sc::parse_scenario(text);
  } catch (const dlrm::Error&) {
  }
  try {
    (void)sc::parse_mode(text);
  } catch (const dlrm::Error&) {
  }
  return 0;
}
