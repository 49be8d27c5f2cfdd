// Multi-layer perceptrons of the DLRM: y = act(x W^T + b) per layer.
//
// mlp_forward_ref: plain loops,
//   for layer l: for b, o: y[b][o] = act_l(bias[o] + sum_i x[b][i] * W[o][i])   (i ascending)
// Mlp: the same on oneDNN inner-product (matmul) primitives with bias and the
// activation fused as post-ops; primitives and reordered weights are created
// once per batch size and reused. Threads come from OpenMP (omp_set_num_threads).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dlrm::dense {

enum class Activation { kNone, kRelu, kSigmoid };

struct Layer {
  int in = 0;
  int out = 0;
  std::vector<float> weight;  // [out, in], PyTorch Linear layout
  std::vector<float> bias;    // [out]
  Activation act = Activation::kRelu;
};

// Throws dlrm::Error when widths do not chain or sizes mismatch.
void check_layers(const std::vector<Layer>& layers, const std::string& what);

void mlp_forward_ref(const std::vector<Layer>& layers, const float* src, int batch, float* dst);

class Mlp {
 public:
  explicit Mlp(std::vector<Layer> layers);
  ~Mlp();
  Mlp(Mlp&&) noexcept;
  Mlp& operator=(Mlp&&) noexcept;

  // src [batch, in()] row-major, dst [batch, out()] row-major.
  void forward(const float* src, int batch, float* dst);
  int in() const;
  int out() const;
  const std::vector<Layer>& layers() const;
  // Builds (and caches) the primitives for `batch` ahead of the first forward().
  void prepare(int batch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Multiply-adds per sample of these layers (sum of in * out).
int64_t mlp_macs(const std::vector<Layer>& layers);

}  // namespace dlrm::dense
