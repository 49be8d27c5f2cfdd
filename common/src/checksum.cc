#include "dlrm/common/checksum.h"

#include <fmt/format.h>
#include <xxhash.h>

#include "dlrm/common/error.h"

namespace dlrm {

struct Checksum::State {
  XXH3_state_t* xxh = nullptr;
  State() : xxh(XXH3_createState()) {
    DLRM_ASSERT(xxh != nullptr);
    XXH3_64bits_reset(xxh);
  }
  ~State() { XXH3_freeState(xxh); }
};

Checksum::Checksum() : state_(std::make_unique<State>()) {}
Checksum::~Checksum() = default;
Checksum::Checksum(Checksum&&) noexcept = default;
Checksum& Checksum::operator=(Checksum&&) noexcept = default;

void Checksum::update(const void* src, size_t bytes) { XXH3_64bits_update(state_->xxh, src, bytes); }
uint64_t Checksum::digest() const { return XXH3_64bits_digest(state_->xxh); }

uint64_t checksum(const void* src, size_t bytes) { return XXH3_64bits(src, bytes); }
std::string checksum_hex(uint64_t digest) { return fmt::format("{:016x}", digest); }

}  // namespace dlrm
