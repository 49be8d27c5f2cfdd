// Private to dense/: what Mlp (mlp.cc) and MlpInt8 (mlp_int8.cc) share.
//   activate / inner_product_attr  an activation in scalar code, and as the
//                                  post-op of an inner product
//   AlignedBuffer                  a 64-byte aligned buffer that only grows,
//                                  for MLP activations
//   SharedScratchpad               the user-mode oneDNN scratchpad every
//                                  primitive of one MLP shares (no allocation
//                                  once warm)
//   LayerWeights                   a layer's weights in each layout its
//                                  primitives prefer, reordered once
//   check_disjoint                 x0 and dst of a cross network do not overlap
//   SlotStep                       a primitive with prebuilt C arguments whose
//                                  memory handles are rebound to buffer slots
//                                  on every call (the cross networks)
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "dlrm/common/error.h"
#include "dlrm/dense/mlp.h"

namespace dlrm::dense {

inline float activate(Activation act, float v) {
  switch (act) {
    case Activation::kNone: return v;
    case Activation::kRelu: return v > 0.0f ? v : 0.0f;
    case Activation::kSigmoid: return 1.0f / (1.0f + std::exp(-v));
  }
  return v;
}

// An inner product's attributes: a user scratchpad and `act` as a post-op.
inline dnnl::primitive_attr inner_product_attr(Activation act) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops ops;
  if (act == Activation::kRelu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  if (act == Activation::kSigmoid) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_logistic, 0.0f, 0.0f);
  attr.set_post_ops(ops);
  return attr;
}

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data_); }

  void reserve_bytes(size_t bytes) {
    if (bytes <= bytes_) return;
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    DLRM_CHECK(p != nullptr, "out of memory allocating {} bytes of MLP buffers", rounded);
    std::free(data_);
    data_ = p;
    bytes_ = rounded;
  }
  void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// One scratchpad for all the primitives of an MLP: require() each
// primitive's need as it is built, then bind() to (re)build the memory object
// over the grown buffer and point every primitive at it.
class SharedScratchpad {
 public:
  void require(size_t bytes) { bytes_ = std::max(bytes_, bytes); }

  // `plans` maps keys to plans whose `steps` hold prebuilt C arguments
  // (`args`, dnnl_exec_arg_t); every DNNL_ARG_SCRATCHPAD among them is pointed
  // at the scratchpad, which may have grown.
  template <class Plans>
  void bind(const dnnl::engine& engine, Plans& plans) {
    const size_t bytes = std::max<size_t>(bytes_, 64);
    buffer_.reserve_bytes(bytes);
    memory_ = dnnl::memory(dnnl::memory::desc({static_cast<dnnl::memory::dim>(bytes)}, dnnl::memory::data_type::u8,
                                              dnnl::memory::format_tag::x),
                           engine, buffer_.data());
    for (auto& [unused_key, plan] : plans) {
      for (auto& step : plan.steps) {
        for (dnnl_exec_arg_t& arg : step.args) {
          if (arg.arg == DNNL_ARG_SCRATCHPAD) arg.memory = memory_.get();
        }
      }
    }
  }

 private:
  AlignedBuffer buffer_;
  dnnl::memory memory_;
  size_t bytes_ = 0;
};

// One layer's weights: the caller's [out, in] memory, and each other layout a
// primitive asked for, reordered from it once and shared by every plan that
// asks for the same layout.
class LayerWeights {
 public:
  LayerWeights() = default;
  explicit LayerWeights(dnnl::memory user) : user_(std::move(user)) {}

  dnnl::memory in_layout(const dnnl::memory::desc& desc, const dnnl::engine& engine, dnnl::stream& stream) {
    for (const Packed& p : packed_) {
      if (p.desc == desc) return p.mem;
    }
    dnnl::memory mem;
    if (desc == user_.get_desc()) {
      mem = user_;
    } else {
      mem = dnnl::memory(desc, engine);
      dnnl::reorder(user_, mem).execute(stream, user_, mem);
      stream.wait();
    }
    packed_.push_back({desc, mem});
    return mem;
  }

 private:
  struct Packed {
    dnnl::memory::desc desc;
    dnnl::memory mem;
  };
  dnnl::memory user_;
  std::vector<Packed> packed_;
};

// Throws naming `what` unless x0 and dst are non-null and their [batch, width]
// fp32 ranges do not overlap (a cross network reads x0 while writing dst).
inline void check_disjoint(const float* x0, int batch, const float* dst, int width, const char* what) {
  DLRM_CHECK(x0 != nullptr && dst != nullptr, "{}: null x0 or dst for batch {}", what, batch);
  const auto a = reinterpret_cast<uintptr_t>(x0), b = reinterpret_cast<uintptr_t>(dst);
  const uintptr_t bytes = static_cast<uintptr_t>(batch) * static_cast<uintptr_t>(width) * sizeof(float);
  DLRM_CHECK(a + bytes <= b || b + bytes <= a, "{}: dst overlaps x0 (batch {}, width {}); pass a separate buffer",
             what, batch, width);
}

// One primitive of a plan: its C arguments are built once; the memory
// objects in `bound` are pointed at slots[slot] before every execute (the
// caller's buffers change between calls, and internal buffers may grow).
struct SlotStep {
  dnnl::primitive prim;
  std::string impl;                                  // oneDNN's implementation, for reports
  std::vector<std::pair<dnnl::memory, int>> bound;   // (memory, slot)
  std::array<dnnl_exec_arg_t, 8> args{};             // the first nargs are used
  int nargs = 0;

  void add(int arg, const dnnl::memory& mem) {
    DLRM_ASSERT(nargs < static_cast<int>(args.size()));
    args[static_cast<size_t>(nargs++)] = {arg, mem.get()};
  }
  // A memory over `desc` that is rebound to slots[slot] on every execute.
  void bind(int arg, const dnnl::memory::desc& desc, const dnnl::engine& engine, int slot) {
    dnnl::memory mem(desc, engine, DNNL_MEMORY_NONE);
    add(arg, mem);
    bound.emplace_back(std::move(mem), slot);
  }
  // The scratchpad's argument; SharedScratchpad::bind fills it in.
  void add_scratchpad() { args[static_cast<size_t>(nargs++)] = {DNNL_ARG_SCRATCHPAD, nullptr}; }

  void execute(dnnl::stream& stream, void* const* slots, const char* what) {
    for (auto& [mem, slot] : bound) mem.set_data_handle(slots[slot]);
    dnnl::error::wrap_c_api(dnnl_primitive_execute(prim.get(), stream.get(), nargs, args.data()), what);
  }
};

}  // namespace dlrm::dense
