// The cross network: the plain reference and the oneDNN implementation (see cross_net.h).
//
// CrossNet keeps one plan per (batch, OpenMP thread count): two inner
// products per layer, "V" (x_l -> t, no bias) and "W" (t -> x_{l+1}, with the
// bias, then binary post-ops "* x0" and "+ x_l"). Activations are plain
// row-major in slots: the caller's x0 and dst, two [batch, X] buffers that
// ping-pong between layers and one [batch, R] buffer for t. Layer l reads
// x0 (l = 0) or a buffer, and writes the other buffer or dst (the last layer),
// so no primitive writes what it reads. Weights are reordered once into the
// layouts the primitives prefer; all primitives share one user scratchpad.
#include "dlrm/dense/cross_net.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>

#include "dlrm/common/error.h"
#include "onednn_support.h"

namespace dlrm::dense {

void check_cross_layers(const std::vector<CrossLayer>& layers, const std::string& what) {
  DLRM_CHECK(!layers.empty(), "{}: a cross network needs at least one layer", what);
  for (size_t l = 0; l < layers.size(); ++l) {
    const CrossLayer& layer = layers[l];
    DLRM_CHECK(layer.width > 0 && layer.rank > 0, "{} cross layer {}: width and rank must be positive, got {} and {}",
               what, l, layer.width, layer.rank);
    DLRM_CHECK(layer.width == layers.front().width,
               "{} cross layer {}: width {} differs from layer 0's {}; every layer maps x0's width to itself", what, l,
               layer.width, layers.front().width);
    const size_t matrix = static_cast<size_t>(layer.width) * static_cast<size_t>(layer.rank);
    DLRM_CHECK(layer.v.size() == matrix, "{} cross layer {}: V has {} values but [rank={}, width={}] needs {}", what,
               l, layer.v.size(), layer.rank, layer.width, matrix);
    DLRM_CHECK(layer.w.size() == matrix, "{} cross layer {}: W has {} values but [width={}, rank={}] needs {}", what,
               l, layer.w.size(), layer.width, layer.rank, matrix);
    DLRM_CHECK(layer.bias.size() == static_cast<size_t>(layer.width),
               "{} cross layer {}: bias has {} values but the width is {}", what, l, layer.bias.size(), layer.width);
  }
}

void cross_net_forward_ref(const std::vector<CrossLayer>& layers, const float* x0, int batch, float* dst,
                           CrossNetTrace* trace) {
  check_cross_layers(layers, "cross_net_forward_ref");
  DLRM_CHECK(batch >= 0, "cross_net_forward_ref: batch must be non-negative, got {}", batch);
  if (trace != nullptr) trace->layers.assign(layers.size(), {});
  if (batch == 0) return;
  const int width = layers.front().width;
  check_disjoint(x0, batch, dst, width, "cross_net_forward_ref");
  const size_t n = static_cast<size_t>(batch) * width;
  std::vector<float> x(x0, x0 + n), next(n), t, u(n);
  for (size_t l = 0; l < layers.size(); ++l) {
    const CrossLayer& layer = layers[l];
    t.assign(static_cast<size_t>(batch) * layer.rank, 0.0f);
    for (int b = 0; b < batch; ++b) {
      const float* xb = x.data() + static_cast<size_t>(b) * width;
      for (int r = 0; r < layer.rank; ++r) {
        const float* v = layer.v.data() + static_cast<size_t>(r) * width;
        float sum = 0.0f;
        for (int i = 0; i < width; ++i) sum += xb[i] * v[i];
        t[static_cast<size_t>(b) * layer.rank + r] = sum;
      }
      const float* tb = t.data() + static_cast<size_t>(b) * layer.rank;
      for (int o = 0; o < width; ++o) {
        const float* w = layer.w.data() + static_cast<size_t>(o) * layer.rank;
        float sum = 0.0f;
        for (int r = 0; r < layer.rank; ++r) sum += tb[r] * w[r];
        const size_t k = static_cast<size_t>(b) * width + o;
        u[k] = layer.bias[o] + sum;
        next[k] = x0[k] * u[k] + x[k];
      }
    }
    if (trace != nullptr) trace->layers[l] = {x, t, u};
    x.swap(next);
  }
  std::copy(x.begin(), x.end(), dst);
}

int64_t cross_net_macs(const std::vector<CrossLayer>& layers) {
  int64_t macs = 0;
  for (const CrossLayer& layer : layers) macs += 2 * static_cast<int64_t>(layer.rank) * layer.width;
  return macs;
}

struct CrossNet::Impl {
  enum Slot { kX0, kDst, kXA, kXB, kT, kSlots };

  struct Plan {
    std::vector<SlotStep> steps;  // V then W for each layer
  };

  std::vector<CrossLayer> layers;
  int width = 0;
  int max_rank = 0;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::vector<LayerWeights> v_weights, w_weights;  // over [R, X] and [X, R] views of the layers
  std::vector<dnnl::memory> biases;                // views of layers[l].bias
  std::map<std::pair<int, int>, Plan> plans;        // (batch, threads) -> plan
  AlignedBuffer buffers[3];                         // kXA, kXB, kT
  SharedScratchpad scratchpad;

  explicit Impl(std::vector<CrossLayer> l) : layers(std::move(l)) {
    check_cross_layers(layers, "CrossNet");
    width = layers.front().width;
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    for (const CrossLayer& layer : layers) {
      max_rank = std::max(max_rank, layer.rank);
      // oneDNN only reads user weights and bias; the const_cast is for its API.
      v_weights.emplace_back(dnnl::memory(dnnl::memory::desc({layer.rank, width}, dt::f32, tag::oi), engine,
                                          const_cast<float*>(layer.v.data())));
      w_weights.emplace_back(dnnl::memory(dnnl::memory::desc({width, layer.rank}, dt::f32, tag::oi), engine,
                                          const_cast<float*>(layer.w.data())));
      biases.emplace_back(dnnl::memory::desc({width}, dt::f32, tag::x), engine, const_cast<float*>(layer.bias.data()));
    }
  }

  Plan& plan_for(int batch) {
    const auto key = std::make_pair(batch, omp_get_max_threads());
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;

    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc x_desc({batch, width}, dt::f32, tag::nc);
    Plan plan;
    for (size_t l = 0; l < layers.size(); ++l) {
      const int rank = layers[l].rank;
      const int in = l == 0 ? kX0 : (l % 2 == 1 ? kXA : kXB);
      const int out = l + 1 == layers.size() ? kDst : (l % 2 == 0 ? kXA : kXB);
      const dnnl::memory::desc t_desc({batch, rank}, dt::f32, tag::nc);
      const std::string name = "layer " + std::to_string(l);

      // t = x_l V^T
      dnnl::primitive_attr v_attr;
      v_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      dnnl::inner_product_forward::primitive_desc v_pd(
          dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_inference, x_desc,
                                            dnnl::memory::desc({rank, width}, dt::f32, tag::any), t_desc),
          v_attr, engine);
      DLRM_ASSERT(v_pd.src_desc() == x_desc && v_pd.dst_desc() == t_desc);
      scratchpad.require(v_pd.scratchpad_desc().get_size());
      SlotStep v;
      v.prim = dnnl::inner_product_forward(v_pd);
      v.impl = name + " V: " + v_pd.impl_info_str();
      v.bind(DNNL_ARG_SRC, x_desc, engine, in);
      v.add(DNNL_ARG_WEIGHTS, v_weights[l].in_layout(v_pd.weights_desc(), engine, stream));
      v.bind(DNNL_ARG_DST, t_desc, engine, kT);
      v.add_scratchpad();
      plan.steps.push_back(std::move(v));

      // x_{l+1} = x0 * (t W^T + b) + x_l
      dnnl::primitive_attr w_attr;
      w_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      dnnl::post_ops ops;
      ops.append_binary(dnnl::algorithm::binary_mul, x_desc);
      ops.append_binary(dnnl::algorithm::binary_add, x_desc);
      w_attr.set_post_ops(ops);
      dnnl::inner_product_forward::primitive_desc w_pd(
          dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_inference, t_desc,
                                            dnnl::memory::desc({width, rank}, dt::f32, tag::any),
                                            biases[l].get_desc(), x_desc),
          w_attr, engine);
      DLRM_ASSERT(w_pd.src_desc() == t_desc && w_pd.dst_desc() == x_desc);
      scratchpad.require(w_pd.scratchpad_desc().get_size());
      SlotStep w;
      w.prim = dnnl::inner_product_forward(w_pd);
      w.impl = name + " W: " + w_pd.impl_info_str();
      w.bind(DNNL_ARG_SRC, t_desc, engine, kT);
      w.add(DNNL_ARG_WEIGHTS, w_weights[l].in_layout(w_pd.weights_desc(), engine, stream));
      w.add(DNNL_ARG_BIAS, biases[l]);
      w.bind(DNNL_ARG_DST, x_desc, engine, out);
      w.bind(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, x_desc, engine, kX0);
      w.bind(DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, x_desc, engine, in);
      w.add_scratchpad();
      plan.steps.push_back(std::move(w));
    }
    const size_t x_bytes = static_cast<size_t>(batch) * width * sizeof(float);
    buffers[0].reserve_bytes(x_bytes);
    buffers[1].reserve_bytes(x_bytes);
    buffers[2].reserve_bytes(static_cast<size_t>(batch) * max_rank * sizeof(float));
    Plan& inserted = plans.emplace(key, std::move(plan)).first->second;
    scratchpad.bind(engine, plans);
    return inserted;
  }

  Plan& prepared_plan(int batch) {
    DLRM_CHECK(batch > 0, "CrossNet::prepare: batch must be positive, got {}", batch);
    try {
      return plan_for(batch);
    } catch (const dnnl::error& e) {
      DLRM_FAIL("CrossNet: oneDNN could not build the primitives for batch {} ({} layers, width {}): {} (status {})",
                batch, layers.size(), width, e.what(), static_cast<int>(e.status));
    }
  }

  void forward(Plan& plan, const float* x0, float* dst) {
    void* const slots[kSlots] = {const_cast<float*>(x0), dst, buffers[0].data(), buffers[1].data(),
                                 buffers[2].data()};
    for (SlotStep& step : plan.steps) step.execute(stream, slots, "could not execute a cross layer's inner product");
    stream.wait();
  }
};

CrossNet::CrossNet(std::vector<CrossLayer> layers) {
  check_cross_layers(layers, "CrossNet");
  try {
    impl_ = std::make_unique<Impl>(std::move(layers));
  } catch (const dnnl::error& e) {
    DLRM_FAIL("CrossNet: oneDNN could not set up the CPU engine: {} (status {})", e.what(), static_cast<int>(e.status));
  }
}

CrossNet::~CrossNet() = default;
CrossNet::CrossNet(CrossNet&&) noexcept = default;
CrossNet& CrossNet::operator=(CrossNet&&) noexcept = default;

void CrossNet::prepare(int batch) { impl_->prepared_plan(batch); }

void CrossNet::forward(const float* x0, int batch, float* dst) {
  DLRM_CHECK(batch >= 0, "CrossNet::forward: batch must be non-negative, got {}", batch);
  if (batch == 0) return;
  check_disjoint(x0, batch, dst, width(), "CrossNet::forward");
  Impl::Plan& plan = impl_->prepared_plan(batch);
  try {
    impl_->forward(plan, x0, dst);
  } catch (const dnnl::error& e) {
    DLRM_FAIL("CrossNet: oneDNN failed running batch {} (width {}): {} (status {})", batch, width(), e.what(),
              static_cast<int>(e.status));
  }
}

std::vector<std::string> CrossNet::implementations(int batch) {
  std::vector<std::string> names;
  for (const SlotStep& step : impl_->prepared_plan(batch).steps) names.push_back(step.impl);
  return names;
}

int CrossNet::width() const { return impl_->width; }
const std::vector<CrossLayer>& CrossNet::layers() const { return impl_->layers; }

}  // namespace dlrm::dense
