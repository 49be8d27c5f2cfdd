// The int8 cross network: quantisation, the scalar reference and the oneDNN
// version (see cross_net_int8.h).
//
// CrossNetInt8 keeps one plan per (batch, OpenMP thread count): per layer a
// quantising reorder (x_l -> x codes), the V product (x codes -> t codes) and
// the W product (t codes -> x_{l+1} in fp32, with "* x0" and "+ x_l" as
// binary post-ops). Slots as in CrossNet (x0, dst, two fp32 [batch, X]
// buffers that ping-pong) plus one buffer of x codes and one of t codes.
// This file is compiled with -ffp-contract=off so that the reference's
// z * x0 + x_l is rounded twice, as oneDNN's two post-ops do.
#include "dlrm/dense/cross_net_int8.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>

#include "dlrm/common/error.h"
#include "int8_support.h"
#include "onednn_support.h"

namespace dlrm::dense {

namespace {

// int32 accumulators cannot overflow while in * 255 * 128 < 2^31.
constexpr int kMaxInt8Inputs = 65536;

}  // namespace

QuantizedCrossNet quantize_cross_net(const std::vector<CrossLayer>& layers, const ActivationRanges& ranges,
                                     const CrossNetInt8Options& options) {
  check_cross_layers(layers, "CrossNetInt8");
  check_cross_ranges(ranges, layers, "CrossNetInt8", options.min_calibration_samples);
  QuantizedCrossNet q;
  for (size_t l = 0; l < layers.size(); ++l) {
    const CrossLayer& layer = layers[l];
    const std::string name = fmt::format("CrossNetInt8 cross layer {}", l);
    DLRM_CHECK(layer.width <= kMaxInt8Inputs && layer.rank <= kMaxInt8Inputs,
               "{}: width {} or rank {} overflows int32 accumulators (at most {})", name, layer.width, layer.rank,
               kMaxInt8Inputs);
    const LayerInputRange& x_range = ranges.layers[2 * l];
    const LayerInputRange& t_range = ranges.layers[2 * l + 1];
    const InputScale x = input_scale(x_range, name + " input x");
    const InputScale t = input_scale(t_range, name + " t = V x");
    QuantizedCrossLayer& ql = q.layers.emplace_back();
    ql.width = layer.width;
    ql.rank = layer.rank;
    ql.x_type = x.type;
    ql.x_scale = x.scale;
    ql.x_inv_scale = x.inv_scale;
    ql.t_type = t.type;
    ql.t_scale = t.scale;
    QuantizedRows v = quantize_rows(layer.v.data(), layer.rank, layer.width, {}, x.scale, t.scale,
                                    options.bias_correction ? &x_range.mean : nullptr, name + " V");
    ql.v = std::move(v.weight);
    ql.v_scale = std::move(v.weight_scale);
    ql.v_bias = std::move(v.bias);
    ql.v_output_scale = std::move(v.output_scale);
    QuantizedRows w = quantize_rows(layer.w.data(), layer.width, layer.rank, layer.bias, t.scale, 1.0,
                                    options.bias_correction ? &t_range.mean : nullptr, name + " W");
    ql.w = std::move(w.weight);
    ql.w_scale = std::move(w.weight_scale);
    ql.w_bias = std::move(w.bias);
    ql.w_output_scale = std::move(w.output_scale);
  }
  return q;
}

namespace {

void check_quantized(const QuantizedCrossNet& q, const char* what) {
  DLRM_CHECK(!q.layers.empty(), "{}: the cross network has no layers", what);
  for (size_t l = 0; l < q.layers.size(); ++l) {
    const QuantizedCrossLayer& ql = q.layers[l];
    const size_t matrix = static_cast<size_t>(ql.width) * static_cast<size_t>(ql.rank);
    DLRM_CHECK(ql.width > 0 && ql.rank > 0 && ql.width == q.width() && ql.v.size() == matrix &&
                   ql.w.size() == matrix && ql.v_bias.size() == size_t(ql.rank) &&
                   ql.v_output_scale.size() == size_t(ql.rank) && ql.w_bias.size() == size_t(ql.width) &&
                   ql.w_output_scale.size() == size_t(ql.width),
               "{} cross layer {}: quantised tensors do not match width {} and rank {}", what, l, ql.width, ql.rank);
    for (ElementType t : {ql.x_type, ql.t_type}) {
      DLRM_CHECK(t == ElementType::kUint8 || t == ElementType::kInt8, "{} cross layer {}: codes must be u8 or s8",
                 what, l);
    }
  }
}

}  // namespace

void cross_net_int8_forward_ref(const QuantizedCrossNet& net, const float* x0, int batch, float* dst,
                                CrossNetInt8Trace* trace) {
  check_quantized(net, "cross_net_int8_forward_ref");
  DLRM_CHECK(batch >= 0, "cross_net_int8_forward_ref: batch must be non-negative, got {}", batch);
  if (trace != nullptr) trace->layers.assign(net.layers.size(), {});
  if (batch == 0) return;
  const int width = net.width();
  check_disjoint(x0, batch, dst, width, "cross_net_int8_forward_ref");
  const size_t n = static_cast<size_t>(batch) * width;
  std::vector<float> x(x0, x0 + n), next(n), scaled(n), u(n);
  std::vector<int32_t> qx(n), u_acc(n), t_acc, qt;
  std::vector<float> t_pre;
  for (size_t l = 0; l < net.layers.size(); ++l) {
    const QuantizedCrossLayer& ql = net.layers[l];
    const int rank = ql.rank;
    t_acc.assign(static_cast<size_t>(batch) * rank, 0);
    t_pre.assign(t_acc.size(), 0.0f);
    qt.assign(t_acc.size(), 0);
    for (size_t k = 0; k < n; ++k) {
      scaled[k] = x[k] * ql.x_inv_scale;
      qx[k] = to_code(scaled[k], ql.x_type);
    }
    for (int b = 0; b < batch; ++b) {
      const int32_t* xb = qx.data() + static_cast<size_t>(b) * width;
      for (int r = 0; r < rank; ++r) {
        const int8_t* v = ql.v.data() + static_cast<size_t>(r) * width;
        int32_t acc = 0;
        for (int i = 0; i < width; ++i) acc += xb[i] * static_cast<int32_t>(v[i]);
        float z = static_cast<float>(acc);
        z = z + ql.v_bias[r];
        z = z * ql.v_output_scale[r];
        const size_t k = static_cast<size_t>(b) * rank + r;
        t_acc[k] = acc;
        t_pre[k] = z;
        qt[k] = to_code(z, ql.t_type);
      }
      const int32_t* tb = qt.data() + static_cast<size_t>(b) * rank;
      for (int o = 0; o < width; ++o) {
        const int8_t* w = ql.w.data() + static_cast<size_t>(o) * rank;
        int32_t acc = 0;
        for (int r = 0; r < rank; ++r) acc += tb[r] * static_cast<int32_t>(w[r]);
        float z = static_cast<float>(acc);
        z = z + ql.w_bias[o];
        z = z * ql.w_output_scale[o];
        const size_t k = static_cast<size_t>(b) * width + o;
        u_acc[k] = acc;
        u[k] = z;
        float y = z * x0[k];
        y = y + x[k];
        next[k] = y;
      }
    }
    if (trace != nullptr) trace->layers[l] = {x, scaled, qx, t_acc, t_pre, qt, u_acc, u};
    x.swap(next);
  }
  std::copy(x.begin(), x.end(), dst);
}

struct CrossNetInt8::Impl {
  enum Slot { kX0, kDst, kXA, kXB, kXCodes, kTCodes, kSlots };

  struct Plan {
    std::vector<SlotStep> steps;  // quantise, V, W for each layer
  };

  QuantizedCrossNet q;
  int max_rank = 0;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::vector<LayerWeights> v_weights, w_weights;  // over [R, X] and [X, R] s8 views
  std::vector<dnnl::memory> v_biases, w_biases;
  std::map<std::pair<int, int>, Plan> plans;  // (batch, threads) -> plan
  AlignedBuffer buffers[4];                   // kXA, kXB, kXCodes, kTCodes
  SharedScratchpad scratchpad;

  explicit Impl(QuantizedCrossNet quantized) : q(std::move(quantized)) {
    check_quantized(q, "CrossNetInt8");
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    for (QuantizedCrossLayer& ql : q.layers) {
      max_rank = std::max(max_rank, ql.rank);
      // oneDNN only reads user weights and biases; the const_casts are for its API.
      v_weights.emplace_back(
          dnnl::memory(dnnl::memory::desc({ql.rank, ql.width}, dt::s8, tag::oi), engine, ql.v.data()));
      w_weights.emplace_back(
          dnnl::memory(dnnl::memory::desc({ql.width, ql.rank}, dt::s8, tag::oi), engine, ql.w.data()));
      v_biases.emplace_back(dnnl::memory::desc({ql.rank}, dt::f32, tag::x), engine, ql.v_bias.data());
      w_biases.emplace_back(dnnl::memory::desc({ql.width}, dt::f32, tag::x), engine, ql.w_bias.data());
    }
  }

  // An int8 inner product src -> dst with `weights` and `bias`, per-channel
  // output scales and `ops` as post-ops.
  dnnl::inner_product_forward::primitive_desc product(const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                                                      const dnnl::memory& bias, const std::vector<float>& scales,
                                                      const dnnl::post_ops& ops) {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    attr.set_output_scales(1 << 1, scales);
    attr.set_post_ops(ops);
    const dnnl::memory::desc weights_any({dst.dims()[1], src.dims()[1]}, dnnl::memory::data_type::s8,
                                         dnnl::memory::format_tag::any);
    dnnl::inner_product_forward::primitive_desc pd(
        dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_inference, src, weights_any, bias.get_desc(), dst),
        attr, engine);
    DLRM_ASSERT(pd.src_desc() == src && pd.dst_desc() == dst);
    scratchpad.require(pd.scratchpad_desc().get_size());
    return pd;
  }

  void add_layer(Plan& plan, size_t l, int batch) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const QuantizedCrossLayer& ql = q.layers[l];
    const int width = ql.width;
    const int in = l == 0 ? kX0 : (l % 2 == 1 ? kXA : kXB);
    const int out = l + 1 == q.layers.size() ? kDst : (l % 2 == 0 ? kXA : kXB);
    const std::string name = "layer " + std::to_string(l);
    const dnnl::memory::desc x_desc({batch, width}, dt::f32, tag::nc);
    const dnnl::memory::desc x_codes({batch, width}, dnnl_type(ql.x_type), tag::nc);
    const dnnl::memory::desc t_codes({batch, ql.rank}, dnnl_type(ql.t_type), tag::nc);

    // x codes = sat(rne(x_l * inv_x))
    dnnl::primitive_attr quantize_attr;
    quantize_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    quantize_attr.set_output_scales(0, {ql.x_inv_scale});
    dnnl::reorder::primitive_desc quantize_pd(engine, x_desc, engine, x_codes, quantize_attr);
    scratchpad.require(quantize_pd.scratchpad_desc().get_size());
    SlotStep quantize;
    quantize.prim = dnnl::reorder(quantize_pd);
    quantize.impl = name + " quantize x (" + code_name(ql.x_type) + "): " + quantize_pd.impl_info_str();
    quantize.bind(DNNL_ARG_FROM, x_desc, engine, in);
    quantize.bind(DNNL_ARG_TO, x_codes, engine, kXCodes);
    quantize.add_scratchpad();
    plan.steps.push_back(std::move(quantize));

    // t codes = sat(rne((acc + bv) * ov))
    auto v_pd = product(x_codes, t_codes, v_biases[l], ql.v_output_scale, dnnl::post_ops());
    SlotStep v;
    v.prim = dnnl::inner_product_forward(v_pd);
    v.impl = name + " V (" + code_name(ql.x_type) + " -> " + code_name(ql.t_type) + "): " + v_pd.impl_info_str();
    v.bind(DNNL_ARG_SRC, x_codes, engine, kXCodes);
    // For s8 sources the packed layout also holds oneDNN's compensation.
    v.add(DNNL_ARG_WEIGHTS, v_weights[l].in_layout(v_pd.weights_desc(), engine, stream));
    v.add(DNNL_ARG_BIAS, v_biases[l]);
    v.bind(DNNL_ARG_DST, t_codes, engine, kTCodes);
    v.add_scratchpad();
    plan.steps.push_back(std::move(v));

    // x_{l+1} = ((acc + bw) * ow) * x0 + x_l
    dnnl::post_ops ops;
    ops.append_binary(dnnl::algorithm::binary_mul, x_desc);
    ops.append_binary(dnnl::algorithm::binary_add, x_desc);
    auto w_pd = product(t_codes, x_desc, w_biases[l], ql.w_output_scale, ops);
    SlotStep w;
    w.prim = dnnl::inner_product_forward(w_pd);
    w.impl = name + " W (" + code_name(ql.t_type) + " -> f32): " + w_pd.impl_info_str();
    w.bind(DNNL_ARG_SRC, t_codes, engine, kTCodes);
    w.add(DNNL_ARG_WEIGHTS, w_weights[l].in_layout(w_pd.weights_desc(), engine, stream));
    w.add(DNNL_ARG_BIAS, w_biases[l]);
    w.bind(DNNL_ARG_DST, x_desc, engine, out);
    w.bind(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, x_desc, engine, kX0);
    w.bind(DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, x_desc, engine, in);
    w.add_scratchpad();
    plan.steps.push_back(std::move(w));
  }

  Plan& plan_for(int batch) {
    const auto key = std::make_pair(batch, omp_get_max_threads());
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
    Plan plan;
    for (size_t l = 0; l < q.layers.size(); ++l) add_layer(plan, l, batch);
    const size_t x_elems = static_cast<size_t>(batch) * q.width();
    buffers[0].reserve_bytes(x_elems * sizeof(float));
    buffers[1].reserve_bytes(x_elems * sizeof(float));
    buffers[2].reserve_bytes(x_elems);
    buffers[3].reserve_bytes(static_cast<size_t>(batch) * max_rank);
    Plan& inserted = plans.emplace(key, std::move(plan)).first->second;
    scratchpad.bind(engine, plans);
    return inserted;
  }

  Plan& prepared_plan(int batch) {
    DLRM_CHECK(batch > 0, "CrossNetInt8::prepare: batch must be positive, got {}", batch);
    try {
      return plan_for(batch);
    } catch (const dnnl::error& e) {
      DLRM_FAIL(
          "CrossNetInt8: oneDNN could not build the int8 primitives for batch {} ({} layers, width {}): {} "
          "(status {}); DNNL_VERBOSE=all shows what oneDNN tried",
          batch, q.layers.size(), q.width(), e.what(), static_cast<int>(e.status));
    }
  }

  void forward(Plan& plan, const float* x0, float* dst) {
    void* const slots[kSlots] = {const_cast<float*>(x0), dst,           buffers[0].data(),
                                 buffers[1].data(),      buffers[2].data(), buffers[3].data()};
    for (SlotStep& step : plan.steps) step.execute(stream, slots, "could not execute an int8 cross layer step");
    stream.wait();
  }
};

CrossNetInt8::CrossNetInt8(const std::vector<CrossLayer>& layers, const ActivationRanges& ranges,
                           const CrossNetInt8Options& options)
    : CrossNetInt8(quantize_cross_net(layers, ranges, options)) {}

CrossNetInt8::CrossNetInt8(QuantizedCrossNet quantized) {
  check_quantized(quantized, "CrossNetInt8");
  try {
    impl_ = std::make_unique<Impl>(std::move(quantized));
  } catch (const dnnl::error& e) {
    DLRM_FAIL("CrossNetInt8: oneDNN could not set up the CPU engine: {} (status {})", e.what(),
              static_cast<int>(e.status));
  }
}

CrossNetInt8::~CrossNetInt8() = default;
CrossNetInt8::CrossNetInt8(CrossNetInt8&&) noexcept = default;
CrossNetInt8& CrossNetInt8::operator=(CrossNetInt8&&) noexcept = default;

void CrossNetInt8::prepare(int batch) { impl_->prepared_plan(batch); }

void CrossNetInt8::forward(const float* x0, int batch, float* dst) {
  DLRM_CHECK(batch >= 0, "CrossNetInt8::forward: batch must be non-negative, got {}", batch);
  if (batch == 0) return;
  check_disjoint(x0, batch, dst, width(), "CrossNetInt8::forward");
  Impl::Plan& plan = impl_->prepared_plan(batch);
  try {
    impl_->forward(plan, x0, dst);
  } catch (const dnnl::error& e) {
    DLRM_FAIL("CrossNetInt8: oneDNN failed running batch {} (width {}): {} (status {})", batch, width(), e.what(),
              static_cast<int>(e.status));
  }
}

std::vector<std::string> CrossNetInt8::implementations(int batch) {
  std::vector<std::string> names;
  for (const SlotStep& step : impl_->prepared_plan(batch).steps) names.push_back(step.impl);
  return names;
}

int CrossNetInt8::width() const { return impl_->q.width(); }
const QuantizedCrossNet& CrossNetInt8::quantized() const { return impl_->q; }

}  // namespace dlrm::dense
