// DLRM-v2's low-rank DCNv2 cross network (TorchRec's LowRankCrossNet).
//
// x0 [batch, X] is the concatenation of the bottom MLP's output and the pooled
// embedding rows of tables 0..T-1 (X = (T + 1) dim). Each layer l of L:
//   t       = x_l V_l^T                  V_l [R, X]: t [batch, R]
//   u       = t W_l^T + b_l              W_l [X, R], b_l [X]: u [batch, X]
//   x_{l+1} = x0 * u + x_l               (elementwise)
// and the network's output is x_L [batch, X] (it feeds the top MLP).
//
// cross_net_forward_ref: plain loops, for every layer, sample b, r and o:
//   t[b][r]    = sum_i x_l[b][i] * V[r][i]               (i ascending)
//   u[b][o]    = bias[o] + sum_r t[b][r] * W[o][r]       (r ascending)
//   x'[b][o]   = x0[b][o] * u[b][o] + x_l[b][o]
// CrossNet: the same on oneDNN: per layer an inner product for t, and one for
// u with the bias, "* x0" and "+ x_l" fused as binary post-ops; weights in the
// layouts the primitives prefer (reordered once), primitives built once per
// (batch, OpenMP thread count). After prepare(batch), forward() allocates
// nothing of its own. forward() rebinds memory handles: one CrossNet per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dlrm::dense {

struct CrossLayer {
  int width = 0;  // X
  int rank = 0;   // R
  std::vector<float> v;     // [rank, width], applied first (TorchRec's V_kernels)
  std::vector<float> w;     // [width, rank] (W_kernels)
  std::vector<float> bias;  // [width]
};

// Throws dlrm::Error naming `what` and the layer unless there is at least one
// layer, every width and rank is positive, all layers have the same width,
// and v, w and bias have rank * width, width * rank and width values.
void check_cross_layers(const std::vector<CrossLayer>& layers, const std::string& what);

// What cross_net_forward_ref computed, per layer, row-major over the batch
// (for tests that derive error bounds).
struct CrossNetTrace {
  struct Step {
    std::vector<float> x;  // the layer's input x_l [batch, X]
    std::vector<float> t;  // [batch, R]
    std::vector<float> u;  // [batch, X]
  };
  std::vector<Step> layers;
};

// x0 and dst [batch, X] row-major; dst may not overlap x0.
void cross_net_forward_ref(const std::vector<CrossLayer>& layers, const float* x0, int batch, float* dst,
                           CrossNetTrace* trace = nullptr);

class CrossNet {
 public:
  explicit CrossNet(std::vector<CrossLayer> layers);
  ~CrossNet();
  CrossNet(CrossNet&&) noexcept;
  CrossNet& operator=(CrossNet&&) noexcept;

  // x0 and dst [batch, width()] fp32 row-major, not overlapping.
  void forward(const float* x0, int batch, float* dst);
  // Builds (and caches) the primitives for `batch` ahead of the first forward().
  void prepare(int batch);
  int width() const;
  const std::vector<CrossLayer>& layers() const;
  // oneDNN's implementation name per primitive of the plan for `batch`
  // (e.g. "layer 0 V: brgemm:avx512_core"); builds it.
  std::vector<std::string> implementations(int batch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Multiply-adds per sample of the two products of every layer, sum of
// 2 rank width (like mlp_macs, which leaves out the bias: the elementwise
// x0 * u + x_l, width per layer, is not counted).
int64_t cross_net_macs(const std::vector<CrossLayer>& layers);

}  // namespace dlrm::dense
