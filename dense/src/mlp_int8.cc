// Int8 MLPs: quantisation, the scalar reference and the oneDNN version (see mlp_int8.h).
//
// MlpInt8 keeps one plan per (batch, OpenMP thread count), built like Mlp's:
// a list of steps (quantising reorder, int8 inner product, or a run of fp32
// layers on a dense::Mlp), each reading and writing one of a few slots: the
// caller's src and dst, two fp32 and two code buffers that ping-pong. Steps
// hold prebuilt C argument lists and share one user scratchpad; forward()
// only rebinds memory handles and executes.
#include "dlrm/dense/mlp_int8.h"

#include <omp.h>

#include <algorithm>
#include <array>
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

QuantizedMlp quantize_mlp(const std::vector<Layer>& layers, const ActivationRanges& ranges,
                          const MlpInt8Options& options) {
  check_layers(layers, "MlpInt8");
  check_ranges(ranges, layers, "MlpInt8", options.min_calibration_samples);
  const size_t n = layers.size();
  QuantizedMlp q;
  q.layers.resize(n);
  for (size_t l = 0; l < n; ++l) {
    const Layer& layer = layers[l];
    QuantizedLayer& ql = q.layers[l];
    ql.in = layer.in;
    ql.out = layer.out;
    ql.act = layer.act;
    const bool fallback = std::find(options.fp32_layers.begin(), options.fp32_layers.end(), static_cast<int>(l)) !=
                          options.fp32_layers.end();
    ql.int8 = !(options.last_layer_fp32 && l + 1 == n) && !(options.first_layer_fp32 && l == 0) && !fallback;
    if (!ql.int8) {
      ql.fp32 = layer;
      continue;
    }
    DLRM_CHECK(layer.in <= kMaxInt8Inputs, "MlpInt8 layer {}: {} inputs overflow int32 accumulators (at most {})", l,
               layer.in, kMaxInt8Inputs);
    const InputScale scale = input_scale(ranges.layers[l], fmt::format("MlpInt8 layer {}", l));
    ql.src_type = scale.type;
    ql.src_scale = scale.scale;
    ql.src_inv_scale = scale.inv_scale;
  }
  for (size_t l = 0; l < n; ++l) {
    QuantizedLayer& ql = q.layers[l];
    if (!ql.int8) continue;
    const Layer& layer = layers[l];
    const QuantizedLayer* next = l + 1 < n ? &q.layers[l + 1] : nullptr;
    const bool prev_codes = l > 0 && q.layers[l - 1].int8 && q.layers[l - 1].dst_type != ElementType::kFp32;
    ql.quantize_src = !prev_codes;
    // ReLU and identity commute with positive scaling, so the next layer's
    // 1 / s_x folds into the output scale; other activations go through fp32.
    const bool codes_out =
        next != nullptr && next->int8 && (layer.act == Activation::kNone || layer.act == Activation::kRelu);
    ql.dst_type = codes_out ? next->src_type : ElementType::kFp32;
    const double dst_scale = codes_out ? next->src_scale : 1.0;
    QuantizedRows rows = quantize_rows(layer.weight.data(), layer.out, layer.in, layer.bias, ql.src_scale, dst_scale,
                                       options.bias_correction ? &ranges.layers[l].mean : nullptr,
                                       fmt::format("MlpInt8 layer {}", l));
    ql.weight = std::move(rows.weight);
    ql.weight_scale = std::move(rows.weight_scale);
    ql.bias = std::move(rows.bias);
    ql.output_scale = std::move(rows.output_scale);
  }
  return q;
}

void mlp_int8_forward_ref(const QuantizedMlp& mlp, const float* src, int batch, float* dst, MlpInt8Trace* trace) {
  DLRM_CHECK(!mlp.layers.empty(), "mlp_int8_forward_ref: the MLP has no layers");
  DLRM_CHECK(batch >= 0, "mlp_int8_forward_ref: batch must be non-negative, got {}", batch);
  if (trace != nullptr) trace->layers.assign(mlp.layers.size(), {});
  const size_t b_count = static_cast<size_t>(batch);
  std::vector<float> cur(src, src + b_count * mlp.in());  // fp32 activations, when they are fp32
  std::vector<int32_t> codes;                             // codes, when they are codes
  std::vector<float> next;
  for (size_t l = 0; l < mlp.layers.size(); ++l) {
    const QuantizedLayer& ql = mlp.layers[l];
    MlpInt8Trace::Step* step = trace != nullptr ? &trace->layers[l] : nullptr;
    if (!ql.int8) {
      if (step != nullptr) step->src = cur;
      next.assign(b_count * ql.out, 0.0f);
      mlp_forward_ref({ql.fp32}, cur.data(), batch, next.data());
      cur.swap(next);
      continue;
    }
    if (ql.quantize_src) {
      if (step != nullptr) {
        step->src = cur;
        step->scaled_src.resize(cur.size());
      }
      codes.resize(cur.size());
      for (size_t k = 0; k < cur.size(); ++k) {
        float t = cur[k] * ql.src_inv_scale;
        if (step != nullptr) step->scaled_src[k] = t;
        codes[k] = to_code(t, ql.src_type);
      }
    }
    if (step != nullptr) {
      step->codes = codes;
      step->acc.resize(b_count * ql.out);
      step->pre.resize(b_count * ql.out);
    }
    std::vector<int32_t> next_codes;
    if (ql.dst_type == ElementType::kFp32) {
      next.assign(b_count * ql.out, 0.0f);
    } else {
      next_codes.assign(b_count * ql.out, 0);
    }
    for (int b = 0; b < batch; ++b) {
      const int32_t* x = codes.data() + static_cast<size_t>(b) * ql.in;
      for (int o = 0; o < ql.out; ++o) {
        const int8_t* w = ql.weight.data() + static_cast<size_t>(o) * ql.in;
        int32_t acc = 0;
        for (int i = 0; i < ql.in; ++i) acc += x[i] * static_cast<int32_t>(w[i]);
        float z = static_cast<float>(acc);
        z = z + ql.bias[o];
        z = z * ql.output_scale[o];
        float a = activate(ql.act, z);
        size_t k = static_cast<size_t>(b) * ql.out + o;
        if (step != nullptr) {
          step->acc[k] = acc;
          step->pre[k] = z;
        }
        if (ql.dst_type == ElementType::kFp32) {
          next[k] = a;
        } else {
          next_codes[k] = to_code(a, ql.dst_type);
        }
      }
    }
    if (ql.dst_type == ElementType::kFp32) {
      cur.swap(next);
    } else {
      codes.swap(next_codes);
    }
  }
  DLRM_ASSERT(mlp.layers.back().int8 == false || mlp.layers.back().dst_type == ElementType::kFp32);
  std::copy(cur.begin(), cur.end(), dst);
}

struct MlpInt8::Impl {
  // Where a step reads or writes.
  enum Slot { kSrc, kDst, kF32A, kF32B, kCodesA, kCodesB };

  struct Step {
    enum Kind { kQuantize, kInnerProduct, kFp32 } kind = kQuantize;
    Slot in = kSrc;
    Slot out = kDst;
    dnnl::primitive prim;
    dnnl::memory src;
    dnnl::memory dst;
    dnnl::memory weights;
    dnnl::memory bias;
    std::string impl;
    std::array<dnnl_exec_arg_t, 5> args{};  // the first nargs are used
    int nargs = 0;
    Mlp* fp32 = nullptr;  // kFp32: the run of fp32 layers
  };

  struct Plan {
    std::vector<Step> steps;
  };

  QuantizedMlp q;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::vector<LayerWeights> weights;          // int8 layers: over [out, in] s8 views
  std::vector<dnnl::memory> biases;           // int8 layers: f32 views
  std::map<size_t, Mlp> fp32_runs;            // first layer of a run of fp32 layers -> its Mlp
  std::map<std::pair<int, int>, Plan> plans;  // (batch, threads) -> plan
  AlignedBuffer buffers[4];                   // kF32A, kF32B, kCodesA, kCodesB
  SharedScratchpad scratchpad;
  int max_width = 0;

  explicit Impl(QuantizedMlp quantized) : q(std::move(quantized)) {
    DLRM_CHECK(!q.layers.empty(), "MlpInt8: the MLP has no layers");
    weights.resize(q.layers.size());
    biases.resize(q.layers.size());
    max_width = q.in();
    for (size_t l = 0; l < q.layers.size(); ++l) {
      QuantizedLayer& ql = q.layers[l];
      max_width = std::max(max_width, ql.out);
      if (l > 0) {
        DLRM_CHECK(ql.in == q.layers[l - 1].out, "MlpInt8 layer {}: input width {} does not match {} outputs", l, ql.in,
                   q.layers[l - 1].out);
      }
      if (!ql.int8) {
        if (l == 0 || q.layers[l - 1].int8) {
          std::vector<Layer> run;
          for (size_t k = l; k < q.layers.size() && !q.layers[k].int8; ++k) run.push_back(q.layers[k].fp32);
          fp32_runs.emplace(l, Mlp(std::move(run)));
        }
        continue;
      }
      DLRM_CHECK(ql.weight.size() == static_cast<size_t>(ql.in) * ql.out && ql.bias.size() == size_t(ql.out) &&
                     ql.output_scale.size() == size_t(ql.out),
                 "MlpInt8 layer {}: quantised tensors do not match [out={}, in={}]", l, ql.out, ql.in);
      DLRM_CHECK(ql.src_type != ElementType::kFp32, "MlpInt8 layer {}: an int8 layer needs u8 or s8 input", l);
      if (l > 0 && q.layers[l - 1].int8 && q.layers[l - 1].dst_type != ElementType::kFp32) {
        DLRM_CHECK(!ql.quantize_src && q.layers[l - 1].dst_type == ql.src_type,
                   "MlpInt8 layer {}: takes {} codes from layer {} which writes {}", l, code_name(ql.src_type), l - 1,
                   code_name(q.layers[l - 1].dst_type));
      } else {
        DLRM_CHECK(ql.quantize_src, "MlpInt8 layer {}: receives fp32 and must quantise it", l);
      }
      // oneDNN only reads user weights and bias; the const_cast is for its API.
      weights[l] = LayerWeights(
          dnnl::memory(dnnl::memory::desc({ql.out, ql.in}, dnnl::memory::data_type::s8, dnnl::memory::format_tag::oi),
                       engine, const_cast<int8_t*>(ql.weight.data())));
      biases[l] = dnnl::memory(dnnl::memory::desc({ql.out}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::x),
                               engine, const_cast<float*>(ql.bias.data()));
    }
    DLRM_CHECK(!q.layers.back().int8 || q.layers.back().dst_type == ElementType::kFp32,
               "MlpInt8: the last layer must write fp32");
  }

  void* slot_data(Slot s, const float* src, float* dst) const {
    switch (s) {
      case kSrc: return const_cast<float*>(src);
      case kDst: return dst;
      case kF32A: return buffers[0].data();
      case kF32B: return buffers[1].data();
      case kCodesA: return buffers[2].data();
      case kCodesB: return buffers[3].data();
    }
    return nullptr;
  }

  Plan& plan_for(int batch) {
    const int threads = omp_get_max_threads();
    const auto key = std::make_pair(batch, threads);
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;

    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    Plan plan;
    Slot cur = kSrc;
    auto other_f32 = [&](Slot s) { return s == kF32A ? kF32B : kF32A; };
    auto other_codes = [&](Slot s) { return s == kCodesA ? kCodesB : kCodesA; };
    const size_t n = q.layers.size();
    for (size_t l = 0; l < n; ++l) {
      const QuantizedLayer& ql = q.layers[l];
      if (!ql.int8) {
        auto run = fp32_runs.find(l);
        if (run == fp32_runs.end()) continue;  // inside a run that started earlier
        run->second.prepare(batch);
        size_t last = l + run->second.layers().size() - 1;
        Step step;
        step.kind = Step::kFp32;
        step.in = cur;
        step.out = last + 1 == n ? kDst : other_f32(cur);
        step.fp32 = &run->second;
        step.impl = "fp32 layers " + std::to_string(l) + ".." + std::to_string(last) + ": dense::Mlp";
        cur = step.out;
        plan.steps.push_back(std::move(step));
        continue;
      }
      if (ql.quantize_src) {
        dnnl::memory::desc from({batch, ql.in}, dt::f32, tag::nc);
        dnnl::memory::desc to({batch, ql.in}, dnnl_type(ql.src_type), tag::nc);
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        attr.set_output_scales(0, {ql.src_inv_scale});
        dnnl::reorder::primitive_desc pd(engine, from, engine, to, attr);
        scratchpad.require(pd.scratchpad_desc().get_size());
        Step step;
        step.kind = Step::kQuantize;
        step.in = cur;
        step.out = other_codes(cur);
        step.prim = dnnl::reorder(pd);
        step.src = dnnl::memory(from, engine, DNNL_MEMORY_NONE);
        step.dst = dnnl::memory(to, engine, DNNL_MEMORY_NONE);
        step.impl = "quantize " + std::to_string(l) + ": " + pd.impl_info_str();
        step.args[0] = {DNNL_ARG_FROM, step.src.get()};
        step.args[1] = {DNNL_ARG_TO, step.dst.get()};
        step.args[2] = {DNNL_ARG_SCRATCHPAD, nullptr};
        step.nargs = 3;
        cur = step.out;
        plan.steps.push_back(std::move(step));
      }
      dnnl::memory::desc src_desc({batch, ql.in}, dnnl_type(ql.src_type), tag::nc);
      dnnl::memory::desc dst_desc({batch, ql.out}, dnnl_type(ql.dst_type), tag::nc);
      dnnl::memory::desc weights_any({ql.out, ql.in}, dt::s8, tag::any);
      dnnl::primitive_attr attr = inner_product_attr(ql.act);
      attr.set_output_scales(1 << 1, ql.output_scale);
      dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, src_desc, weights_any,
                                             biases[l].get_desc(), dst_desc);
      dnnl::inner_product_forward::primitive_desc pd(desc, attr, engine);
      DLRM_ASSERT(pd.src_desc() == src_desc && pd.dst_desc() == dst_desc);
      scratchpad.require(pd.scratchpad_desc().get_size());
      Step step;
      step.kind = Step::kInnerProduct;
      step.in = cur;
      // fp32 output of an int8 layer: its input was codes, so kF32A is free.
      step.out = ql.dst_type != ElementType::kFp32 ? other_codes(cur) : (l + 1 == n ? kDst : kF32A);
      step.prim = dnnl::inner_product_forward(pd);
      step.src = dnnl::memory(src_desc, engine, DNNL_MEMORY_NONE);
      step.dst = dnnl::memory(dst_desc, engine, DNNL_MEMORY_NONE);
      // For s8 sources the packed layout also holds the compensation
      // (128 * sum_i Wq[o][i]) that the reorder into it computes.
      step.weights = weights[l].in_layout(pd.weights_desc(), engine, stream);
      step.bias = biases[l];
      step.impl = "layer " + std::to_string(l) + " (" + code_name(ql.src_type) + " -> " + code_name(ql.dst_type) +
                  "): " + pd.impl_info_str();
      step.args = {dnnl_exec_arg_t{DNNL_ARG_SRC, step.src.get()}, dnnl_exec_arg_t{DNNL_ARG_WEIGHTS, step.weights.get()},
                   dnnl_exec_arg_t{DNNL_ARG_BIAS, step.bias.get()}, dnnl_exec_arg_t{DNNL_ARG_DST, step.dst.get()},
                   dnnl_exec_arg_t{DNNL_ARG_SCRATCHPAD, nullptr}};
      step.nargs = 5;
      cur = step.out;
      plan.steps.push_back(std::move(step));
    }
    DLRM_ASSERT(cur == kDst);
    const size_t elems = static_cast<size_t>(batch) * max_width;
    buffers[0].reserve_bytes(elems * sizeof(float));
    buffers[1].reserve_bytes(elems * sizeof(float));
    buffers[2].reserve_bytes(elems);
    buffers[3].reserve_bytes(elems);
    Plan& inserted = plans.emplace(key, std::move(plan)).first->second;
    scratchpad.bind(engine, plans);
    return inserted;
  }

  // plan_for for MlpInt8::prepare (whose message this is), forward and
  // implementations: oneDNN's errors become dlrm::Error.
  Plan& prepared_plan(int batch) {
    DLRM_CHECK(batch > 0, "MlpInt8::prepare: batch must be positive, got {}", batch);
    try {
      return plan_for(batch);
    } catch (const dnnl::error& e) {
      DLRM_FAIL(
          "MlpInt8: oneDNN could not build the int8 primitives for batch {} ({} layers, {} -> {}): {} "
          "(status {}); DNNL_VERBOSE=all shows what oneDNN tried",
          batch, q.layers.size(), q.in(), q.out(), e.what(), static_cast<int>(e.status));
    }
  }

  void forward(Plan& plan, const float* src, int batch, float* dst) {
    for (Step& step : plan.steps) {
      void* in = slot_data(step.in, src, dst);
      void* out = slot_data(step.out, src, dst);
      if (step.kind == Step::kFp32) {
        step.fp32->forward(static_cast<const float*>(in), batch, static_cast<float*>(out));
        continue;
      }
      step.src.set_data_handle(in);
      step.dst.set_data_handle(out);
      dnnl::error::wrap_c_api(dnnl_primitive_execute(step.prim.get(), stream.get(), step.nargs, step.args.data()),
                              step.kind == Step::kQuantize ? "could not execute a quantising reorder"
                                                           : "could not execute an int8 inner product");
    }
    stream.wait();
  }
};

MlpInt8::MlpInt8(const std::vector<Layer>& layers, const ActivationRanges& ranges, const MlpInt8Options& options)
    : MlpInt8(quantize_mlp(layers, ranges, options)) {}

MlpInt8::MlpInt8(QuantizedMlp quantized) {
  try {
    impl_ = std::make_unique<Impl>(std::move(quantized));
  } catch (const dnnl::error& e) {
    DLRM_FAIL("MlpInt8: oneDNN could not set up the CPU engine: {} (status {})", e.what(), static_cast<int>(e.status));
  }
}

MlpInt8::~MlpInt8() = default;
MlpInt8::MlpInt8(MlpInt8&&) noexcept = default;
MlpInt8& MlpInt8::operator=(MlpInt8&&) noexcept = default;

void MlpInt8::prepare(int batch) { impl_->prepared_plan(batch); }

void MlpInt8::forward(const float* src, int batch, float* dst) {
  DLRM_CHECK(batch >= 0, "MlpInt8::forward: batch must be non-negative, got {}", batch);
  if (batch == 0) return;
  DLRM_CHECK(src != nullptr && dst != nullptr, "MlpInt8::forward: null src or dst for batch {}", batch);
  Impl::Plan& plan = impl_->prepared_plan(batch);
  try {
    impl_->forward(plan, src, batch, dst);
  } catch (const dnnl::error& e) {
    DLRM_FAIL("MlpInt8: oneDNN failed running batch {} ({} -> {}): {} (status {})", batch, in(), out(), e.what(),
              static_cast<int>(e.status));
  }
}

std::vector<std::string> MlpInt8::implementations(int batch) {
  std::vector<std::string> names;
  for (const auto& step : impl_->prepared_plan(batch).steps) names.push_back(step.impl);
  return names;
}

int MlpInt8::in() const { return impl_->q.in(); }
int MlpInt8::out() const { return impl_->q.out(); }
const QuantizedMlp& MlpInt8::quantized() const { return impl_->q; }

}  // namespace dlrm::dense
