// MLPs: the plain reference and the oneDNN implementation (see mlp.h).
//
// Mlp keeps one plan per (batch, OpenMP thread count): an inner-product primitive
// per layer with bias and activation fused, plain row-major activations, and the
// weights in whatever blocked layout the primitive prefers ("any"), reordered
// once and shared between plans that prefer the same layout. Intermediate
// activations ping-pong between two buffers and the primitives share one user
// scratchpad; all of these are sized in prepare(), and forward() executes
// prebuilt argument lists, so once a batch size has been seen forward() makes
// no allocation of its own (oneDNN's execute may still make small internal
// ones). forward() rebinds the plan's memory handles: one Mlp per thread.
#include "dlrm/dense/mlp.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>

#include "dlrm/common/error.h"
#include "onednn_support.h"

namespace dlrm::dense {

void check_layers(const std::vector<Layer>& layers, const std::string& what) {
  DLRM_CHECK(!layers.empty(), "{}: an MLP needs at least one layer", what);
  for (size_t l = 0; l < layers.size(); ++l) {
    const Layer& layer = layers[l];
    DLRM_CHECK(layer.in > 0 && layer.out > 0, "{} layer {}: widths must be positive, got in={} out={}", what, l,
               layer.in, layer.out);
    DLRM_CHECK(layer.weight.size() == static_cast<size_t>(layer.in) * static_cast<size_t>(layer.out),
               "{} layer {}: weight has {} values but [out={}, in={}] needs {}", what, l, layer.weight.size(),
               layer.out, layer.in, static_cast<size_t>(layer.in) * static_cast<size_t>(layer.out));
    DLRM_CHECK(layer.bias.size() == static_cast<size_t>(layer.out),
               "{} layer {}: bias has {} values but the layer has {} outputs", what, l, layer.bias.size(),
               layer.out);
    DLRM_CHECK(layer.act == Activation::kNone || layer.act == Activation::kRelu || layer.act == Activation::kSigmoid,
               "{} layer {}: unknown activation {}", what, l, static_cast<int>(layer.act));
    if (l > 0) {
      DLRM_CHECK(layer.in == layers[l - 1].out,
                 "{} layer {}: input width {} does not match layer {}'s output width {}; the widths must chain",
                 what, l, layer.in, l - 1, layers[l - 1].out);
    }
  }
}

void mlp_forward_ref(const std::vector<Layer>& layers, const float* src, int batch, float* dst) {
  check_layers(layers, "mlp_forward_ref");
  DLRM_CHECK(batch >= 0, "mlp_forward_ref: batch must be non-negative, got {}", batch);
  std::vector<float> cur(src, src + static_cast<size_t>(batch) * layers.front().in);
  std::vector<float> next;
  for (const Layer& layer : layers) {
    next.assign(static_cast<size_t>(batch) * layer.out, 0.0f);
    for (int b = 0; b < batch; ++b) {
      const float* x = cur.data() + static_cast<size_t>(b) * layer.in;
      for (int o = 0; o < layer.out; ++o) {
        const float* w = layer.weight.data() + static_cast<size_t>(o) * layer.in;
        float sum = 0.0f;
        for (int i = 0; i < layer.in; ++i) sum += x[i] * w[i];
        next[static_cast<size_t>(b) * layer.out + o] = activate(layer.act, layer.bias[o] + sum);
      }
    }
    cur.swap(next);
  }
  std::copy(cur.begin(), cur.end(), dst);
}

int64_t mlp_macs(const std::vector<Layer>& layers) {
  int64_t macs = 0;
  for (const Layer& layer : layers) macs += static_cast<int64_t>(layer.in) * layer.out;
  return macs;
}

struct Mlp::Impl {
  struct Step {
    dnnl::inner_product_forward prim;
    dnnl::memory src;
    dnnl::memory dst;
    dnnl::memory weights;  // weights[layer] in the primitive's layout
    dnnl::memory bias;
    // Prebuilt C arguments: the C++ execute() builds a map and a vector per call.
    std::array<dnnl_exec_arg_t, 5> args{};
  };

  struct Plan {
    std::vector<Step> steps;
  };

  std::vector<Layer> layers;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::vector<LayerWeights> weights;          // over [out, in] views of layers[l].weight
  std::vector<dnnl::memory> biases;           // views of layers[l].bias
  std::map<std::pair<int, int>, Plan> plans;  // (batch, threads) -> plan
  AlignedBuffer activations[2];               // ping-pong between layers
  SharedScratchpad scratchpad;
  int max_width = 0;

  explicit Impl(std::vector<Layer> l) : layers(std::move(l)) {
    check_layers(layers, "Mlp");
    for (const Layer& layer : layers) {
      max_width = std::max(max_width, layer.out);
      // oneDNN only reads user weights and bias; the const_cast is for its API.
      weights.emplace_back(dnnl::memory(
          dnnl::memory::desc({layer.out, layer.in}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::oi), engine,
          const_cast<float*>(layer.weight.data())));
      biases.emplace_back(
          dnnl::memory::desc({layer.out}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::x), engine,
          const_cast<float*>(layer.bias.data()));
    }
  }

  Plan& plan_for(int batch) {
    int threads = omp_get_max_threads();
    auto key = std::make_pair(batch, threads);
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;

    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    Plan plan;
    for (size_t l = 0; l < layers.size(); ++l) {
      const Layer& layer = layers[l];
      dnnl::memory::desc src_desc({batch, layer.in}, dt::f32, tag::nc);
      dnnl::memory::desc dst_desc({batch, layer.out}, dt::f32, tag::nc);
      dnnl::memory::desc weights_any({layer.out, layer.in}, dt::f32, tag::any);
      dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, src_desc, weights_any,
                                             biases[l].get_desc(), dst_desc);
      dnnl::inner_product_forward::primitive_desc pd(desc, inner_product_attr(layer.act), engine);
      // Activations stay plain row-major so that caller buffers plug in directly.
      DLRM_ASSERT(pd.src_desc() == src_desc && pd.dst_desc() == dst_desc);
      scratchpad.require(pd.scratchpad_desc().get_size());
      Step step;
      step.prim = dnnl::inner_product_forward(pd);
      step.src = dnnl::memory(src_desc, engine, DNNL_MEMORY_NONE);
      step.dst = dnnl::memory(dst_desc, engine, DNNL_MEMORY_NONE);
      step.weights = weights[l].in_layout(pd.weights_desc(), engine, stream);
      step.bias = biases[l];
      step.args = {dnnl_exec_arg_t{DNNL_ARG_SRC, step.src.get()},
                   dnnl_exec_arg_t{DNNL_ARG_WEIGHTS, step.weights.get()},
                   dnnl_exec_arg_t{DNNL_ARG_BIAS, step.bias.get()},
                   dnnl_exec_arg_t{DNNL_ARG_DST, step.dst.get()},
                   dnnl_exec_arg_t{DNNL_ARG_SCRATCHPAD, nullptr}};  // set by scratchpad.bind
      plan.steps.push_back(std::move(step));
    }
    size_t activation_bytes = static_cast<size_t>(batch) * max_width * sizeof(float);
    activations[0].reserve_bytes(activation_bytes);
    activations[1].reserve_bytes(activation_bytes);
    Plan& inserted = plans.emplace(key, std::move(plan)).first->second;
    scratchpad.bind(engine, plans);
    return inserted;
  }

  void forward(const float* src, int batch, float* dst) {
    Plan& plan = plan_for(batch);
    size_t n = plan.steps.size();
    for (size_t l = 0; l < n; ++l) {
      Step& step = plan.steps[l];
      void* in = l == 0 ? const_cast<float*>(src) : activations[(l - 1) % 2].data();
      void* out = l + 1 == n ? static_cast<void*>(dst) : activations[l % 2].data();
      step.src.set_data_handle(in);
      step.dst.set_data_handle(out);
      dnnl::error::wrap_c_api(dnnl_primitive_execute(step.prim.get(), stream.get(),
                                                     static_cast<int>(step.args.size()), step.args.data()),
                              "could not execute an inner product");
    }
    stream.wait();
  }
};

Mlp::Mlp(std::vector<Layer> layers) {
  try {
    impl_ = std::make_unique<Impl>(std::move(layers));
  } catch (const dnnl::error& e) {
    DLRM_FAIL("Mlp: oneDNN could not set up the CPU engine: {} (status {})", e.what(), static_cast<int>(e.status));
  }
}

Mlp::~Mlp() = default;
Mlp::Mlp(Mlp&&) noexcept = default;
Mlp& Mlp::operator=(Mlp&&) noexcept = default;

void Mlp::prepare(int batch) {
  DLRM_CHECK(batch > 0, "Mlp::prepare: batch must be positive, got {}", batch);
  try {
    impl_->plan_for(batch);
  } catch (const dnnl::error& e) {
    DLRM_FAIL("Mlp: oneDNN could not build the primitives for batch {} ({} layers, {} -> {}): {} (status {})", batch,
              impl_->layers.size(), in(), out(), e.what(), static_cast<int>(e.status));
  }
}

void Mlp::forward(const float* src, int batch, float* dst) {
  DLRM_CHECK(batch >= 0, "Mlp::forward: batch must be non-negative, got {}", batch);
  if (batch == 0) return;
  DLRM_CHECK(src != nullptr && dst != nullptr, "Mlp::forward: null src or dst for batch {}", batch);
  try {
    impl_->forward(src, batch, dst);
  } catch (const dnnl::error& e) {
    DLRM_FAIL("Mlp: oneDNN failed running batch {} ({} -> {}): {} (status {})", batch, in(), out(), e.what(),
              static_cast<int>(e.status));
  }
}

int Mlp::in() const { return impl_->layers.front().in; }
int Mlp::out() const { return impl_->layers.back().out; }
const std::vector<Layer>& Mlp::layers() const { return impl_->layers; }

}  // namespace dlrm::dense
