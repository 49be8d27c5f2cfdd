// Calibrator (activation ranges) and the calibration file.
//
// Ranges are checked exactly where the fp32 forward pass is exact (identity
// weights, or small integer cross weights, on representable values); the percentile clip against the exact
// order statistic, which it may exceed by less than one histogram bin (1/16
// of an octave). Every load error is provoked and its message checked.
#include "dlrm/dense/calibration.h"
#include "dlrm/dense/cross_net.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "test_files.h"
#include "dlrm/common/error.h"

namespace fs = std::filesystem;

namespace dlrm::dense {
namespace {

using test::TempDir;

// 3 -> 3 identity with bias (0, -10, 0) and ReLU, then 3 -> 1: the second
// layer's input is relu(x + bias), exact in fp32 for the inputs used here.
std::vector<Layer> identity_layers() {
  Layer a;
  a.in = 3;
  a.out = 3;
  a.weight = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  a.bias = {0, -10, 0};
  a.act = Activation::kRelu;
  Layer b;
  b.in = 3;
  b.out = 1;
  b.weight = {1, 1, 1};
  b.bias = {0};
  b.act = Activation::kSigmoid;
  return {a, b};
}

// Row k: (k mod 7 - 3, k / 64, -k / 128): exact small binary fractions.
std::vector<float> identity_input(int rows) {
  std::vector<float> x(static_cast<size_t>(rows) * 3);
  for (int k = 0; k < rows; ++k) {
    x[3 * k] = static_cast<float>(k % 7 - 3);
    x[3 * k + 1] = static_cast<float>(k) / 64;
    x[3 * k + 2] = -static_cast<float>(k) / 128;
  }
  return x;
}

TEST(Calibrator, RecordsEveryLayerInputExactly) {
  const int rows = 1500;
  Calibrator calibrator(identity_layers());
  std::vector<float> x = identity_input(rows);
  calibrator.observe(x.data(), rows);
  EXPECT_EQ(calibrator.samples(), rows);
  ActivationRanges r = calibrator.ranges();
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_EQ(r.samples, rows);
  EXPECT_EQ(r.percentile, 100.0);
  // Layer 0 input: columns span [-3, 3], [0, 1499/64], [-1499/128, 0].
  EXPECT_EQ(r.layers[0].width, 3);
  EXPECT_EQ(r.layers[0].min, -1499.0f / 128);
  EXPECT_EQ(r.layers[0].max, 1499.0f / 64);
  EXPECT_EQ(r.layers[0].abs_max, 1499.0f / 64);
  EXPECT_EQ(r.layers[0].clip, r.layers[0].abs_max);
  EXPECT_TRUE(r.layers[0].is_signed());
  // Layer 1 input: relu(x0), relu(x1 - 10), relu(x2) = 0: in [0, 1499/64 - 10].
  EXPECT_EQ(r.layers[1].width, 3);
  EXPECT_EQ(r.layers[1].min, 0.0f);
  EXPECT_EQ(r.layers[1].max, 1499.0f / 64 - 10);
  EXPECT_EQ(r.layers[1].abs_max, 1499.0f / 64 - 10);
  EXPECT_FALSE(r.layers[1].is_signed());
  EXPECT_NO_THROW(check_ranges(r, identity_layers(), "test MLP"));
}

TEST(Calibrator, ChunkingDoesNotChangeRanges) {
  const int rows = 3000;
  std::vector<float> x = identity_input(rows);
  Calibrator whole(identity_layers(), {.method = RangeMethod::kPercentile, .percentile = 99.0});
  whole.observe(x.data(), rows);
  Calibrator pieces(identity_layers(), {.method = RangeMethod::kPercentile, .percentile = 99.0});
  for (int first = 0; first < rows; first += 97) {
    pieces.observe(x.data() + 3 * first, std::min(97, rows - first));
  }
  ActivationRanges a = whole.ranges(), b = pieces.ranges();
  ASSERT_EQ(a.layers.size(), b.layers.size());
  EXPECT_EQ(a.samples, b.samples);
  for (size_t l = 0; l < a.layers.size(); ++l) {
    EXPECT_EQ(a.layers[l].min, b.layers[l].min);
    EXPECT_EQ(a.layers[l].max, b.layers[l].max);
    EXPECT_EQ(a.layers[l].clip, b.layers[l].clip);
  }
}

TEST(Calibrator, PercentileClipsOutliersWithinOneBin) {
  // One layer of width 1: 99,900 values ~ |N(0, 1)| and 100 outliers at +-1000.
  const uint32_t seed = 31;
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(100000);
  for (size_t k = 0; k < x.size(); ++k) x[k] = k % 1000 == 0 ? (k % 2000 == 0 ? 1000.0f : -1000.0f) : normal(rng);
  Layer layer;
  layer.in = 1;
  layer.out = 1;
  layer.weight = {1};
  layer.bias = {0};
  for (double p : {99.0, 99.9, 99.99}) {
    Calibrator calibrator({layer}, {.method = RangeMethod::kPercentile, .percentile = p});
    calibrator.observe(x.data(), static_cast<int>(x.size()));
    LayerInputRange r = calibrator.ranges().layers[0];
    std::vector<float> a(x.size());
    for (size_t k = 0; k < x.size(); ++k) a[k] = std::fabs(x[k]);
    std::sort(a.begin(), a.end());
    // The smallest c with #{|x| <= c} >= ceil(p% of n): the ceil(p n / 100)-th smallest.
    size_t need = static_cast<size_t>(std::llround(p * 1000) * a.size() / 100000);  // p has 3 decimals, n = 1e5
    float exact = a[need - 1];
    EXPECT_GE(r.clip, exact) << "percentile " << p;
    EXPECT_LE(r.clip, exact * (1.0 + 1.0 / 16)) << "percentile " << p;
    EXPECT_EQ(r.abs_max, 1000.0f);
    // 100 of the 100,000 values are outliers: up to the 99.9th percentile they are clipped.
    if (p <= 99.9) {
      EXPECT_LT(r.clip, 10.0f) << "the outliers must be clipped at percentile " << p;
    } else {
      EXPECT_EQ(r.clip, 1000.0f);
    }
  }
  Calibrator all({layer});
  all.observe(x.data(), static_cast<int>(x.size()));
  EXPECT_EQ(all.ranges().layers[0].clip, 1000.0f);
}

// When at least p% of the values are exact zeros (ReLU outputs of mostly
// negative pre-activations, empty dense features) the percentile is 0, and so
// is the clip: not the upper edge of histogram bin 0, a subnormal (2^-130) that
// no usable scale can be made from. MlpInt8 quantises a clip of 0 with abs_max
// (mlp_int8_test.cc).
TEST(Calibrator, PercentileOfMostlyZerosIsZero) {
  Layer layer;
  layer.in = 1;
  layer.out = 1;
  layer.weight = {1};
  layer.bias = {0};
  // 10,000 values, 9,900 of them zero; the other 100 are 1 + k / 10000, k = 0, 100, .., 9900.
  std::vector<float> x(10000, 0.0f);
  for (size_t k = 0; k < x.size(); k += 100) x[k] = 1.0f + static_cast<float>(k) / 10000;
  // 99% exactly (the boundary) and below: the percentile is a zero.
  for (double p : {50.0, 99.0}) {
    Calibrator calibrator({layer}, {.method = RangeMethod::kPercentile, .percentile = p});
    calibrator.observe(x.data(), static_cast<int>(x.size()));
    ActivationRanges r = calibrator.ranges();
    EXPECT_EQ(r.layers[0].clip, 0.0f) << "percentile " << p;
    EXPECT_EQ(r.layers[0].abs_max, x[9900]) << "percentile " << p;
    EXPECT_NO_THROW(check_ranges(r, {layer}, "test MLP"));
  }
  // 99.5%: the 9,950th smallest |x| is the 50th non-zero value, x[4900] = 1.49; the clip is at most
  // one bin above it.
  Calibrator above({layer}, {.method = RangeMethod::kPercentile, .percentile = 99.5});
  above.observe(x.data(), static_cast<int>(x.size()));
  const float clip = above.ranges().layers[0].clip;
  EXPECT_GE(clip, x[4900]);
  EXPECT_LE(clip, x[4900] * (1.0 + 1.0 / 16));
}

// Empirical mean squared error of quantising x to u8 with clip c.
double quantisation_mse(const std::vector<float>& x, double c) {
  double s = c / 255, sum = 0;
  for (float v : x) {
    double q = std::nearbyint(std::clamp(v / s, 0.0, 255.0)) * s;
    sum += (q - v) * (q - v);
  }
  return sum / static_cast<double>(x.size());
}

TEST(Calibrator, MseClipBeatsMaxOnHeavyTails) {
  // |x| ~ Exp(1): 100,000 draws reach about 12; the squared error trades rounding
  // below the clip against saturation above it.
  const uint32_t seed = 32;
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  std::exponential_distribution<float> exp1(1.0f);
  std::vector<float> x(100000);
  for (float& v : x) v = exp1(rng);
  Layer layer;
  layer.in = 1;
  layer.out = 1;
  layer.weight = {1};
  layer.bias = {0};
  Calibrator calibrator({layer}, {.method = RangeMethod::kMse});
  calibrator.observe(x.data(), static_cast<int>(x.size()));
  ActivationRanges r = calibrator.ranges();
  EXPECT_EQ(r.method, RangeMethod::kMse);
  const LayerInputRange& range = r.layers[0];
  double at_clip = quantisation_mse(x, range.clip), at_max = quantisation_mse(x, range.abs_max);
  std::printf("abs_max %.3f mse clip %.3f; mse %.3e vs %.3e at abs_max\n", range.abs_max, range.clip, at_clip, at_max);
  EXPECT_LT(range.clip, range.abs_max);
  EXPECT_GT(range.clip, 4.0f);  // clipping deep into the bulk would cost far more
  EXPECT_LT(at_clip, at_max);
  // The histogram's model of the error is only approximate: the chosen clip must
  // still be within 10% of the best of a fine grid of clips.
  double best = at_max;
  for (double c = 4.0; c < range.abs_max; c += 0.05) best = std::min(best, quantisation_mse(x, c));
  EXPECT_LT(at_clip, 1.1 * best);
}

TEST(Calibrator, TooFewSamplesIsAnError) {
  Calibrator calibrator(identity_layers());
  std::vector<float> x = identity_input(kMinCalibrationSamples);
  calibrator.observe(x.data(), kMinCalibrationSamples - 1);
  EXPECT_ERROR_WITH(calibrator.ranges(), "1023 samples", "at least 1024");
  calibrator.observe(x.data(), 1);
  EXPECT_NO_THROW(calibrator.ranges());

  Calibrator few(identity_layers(), {.min_samples = 10});
  few.observe(x.data(), 10);
  ActivationRanges r = few.ranges();
  EXPECT_ERROR_WITH(check_ranges(r, identity_layers(), "bottom MLP"), "bottom MLP", "10 samples", "1024");
  EXPECT_NO_THROW(check_ranges(r, identity_layers(), "bottom MLP", 10));
}

TEST(Calibrator, RejectsNonFiniteInputAndKeepsItsState) {
  Calibrator calibrator(identity_layers(), {.min_samples = 1});
  std::vector<float> x = identity_input(300);
  calibrator.observe(x.data(), 300);
  ActivationRanges before = calibrator.ranges();
  std::vector<float> bad = identity_input(300);
  bad[3 * 299 + 1] = std::numeric_limits<float>::quiet_NaN();
  bad[0] = 1e6f;  // would widen the range if the batch were half-recorded
  EXPECT_ERROR_WITH(calibrator.observe(bad.data(), 300), "NaN or infinite");
  EXPECT_EQ(calibrator.samples(), 300);
  EXPECT_EQ(calibrator.ranges().layers[0].max, before.layers[0].max);

  // Overflow inside the MLP names the layer.
  std::vector<Layer> big = identity_layers();
  for (float& w : big[0].weight) w *= 3e38f;
  Calibrator overflow(big, {.min_samples = 1});
  EXPECT_ERROR_WITH(overflow.observe(x.data(), 300), "layer 1", "NaN or infinite");
}

TEST(Calibrator, RejectsBadOptionsAndArguments) {
  EXPECT_ERROR_WITH(Calibrator(identity_layers(), {.method = RangeMethod::kPercentile, .percentile = 0.0}),
                    "percentile");
  EXPECT_ERROR_WITH(Calibrator(identity_layers(), {.method = RangeMethod::kPercentile, .percentile = 100.5}),
                    "percentile");
  EXPECT_ERROR_WITH(Calibrator(identity_layers(), {.min_samples = 0}), "min_samples");
  EXPECT_THROW(Calibrator({}), Error);
  Calibrator calibrator(identity_layers());
  EXPECT_THROW(calibrator.observe(nullptr, -1), Error);
  calibrator.observe(nullptr, 0);
  EXPECT_EQ(calibrator.samples(), 0);
}

ModelCalibration sample_calibration() {
  std::vector<float> x = identity_input(2000);
  Calibrator bottom(identity_layers(), {.method = RangeMethod::kPercentile, .percentile = 99.9});
  bottom.observe(x.data(), 2000);
  Calibrator top(identity_layers(), {.method = RangeMethod::kMse});
  top.observe(x.data(), 1024);
  return ModelCalibration{bottom.ranges(), top.ranges(), {}, std::nullopt};
}

void expect_same(const ActivationRanges& a, const ActivationRanges& b) {
  EXPECT_EQ(a.samples, b.samples);
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.percentile, b.percentile);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t l = 0; l < a.layers.size(); ++l) {
    EXPECT_EQ(a.layers[l].width, b.layers[l].width);
    EXPECT_EQ(a.layers[l].min, b.layers[l].min);
    EXPECT_EQ(a.layers[l].max, b.layers[l].max);
    EXPECT_EQ(a.layers[l].abs_max, b.layers[l].abs_max);
    EXPECT_EQ(a.layers[l].clip, b.layers[l].clip);
  }
}

TEST(CalibrationFile, RoundTripIsExact) {
  TempDir dir;
  ModelCalibration saved = sample_calibration();
  // A value that needs all 24 bits of a float survives the decimal text.
  saved.top.layers[0].clip = std::nextafter(saved.top.layers[0].clip, 0.0f);
  fs::path file = calibration_path(dir.path());
  EXPECT_EQ(file.filename(), "calibration.json");
  save_calibration(saved, file);
  EXPECT_TRUE(dir.partial_names().empty());
  ModelCalibration loaded = load_calibration(file);
  expect_same(saved.bottom, loaded.bottom);
  expect_same(saved.top, loaded.top);
  EXPECT_NO_THROW(check_model_calibration(loaded, identity_layers(), identity_layers(), {}, file));
  EXPECT_NE(test::read_file(file).find("\"format_version\": 1"), std::string::npos);
}

// Replaces the first occurrence of `from` in the file's text.
void edit(const fs::path& file, const std::string& from, const std::string& to) {
  std::string text = test::read_file(file);
  size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << "'" << from << "' not in " << text;
  text.replace(at, from.size(), to);
  test::write_file(file, text);
}

// Sets the value of the n-th (from 0) occurrence of "field": in JSON text.
std::string set_field(std::string text, const std::string& field, int n, const std::string& value) {
  size_t at = 0;
  for (int k = 0; k <= n; ++k) {
    at = text.find("\"" + field + "\": ", k == 0 ? 0 : at + 1);
    if (at == std::string::npos) {
      ADD_FAILURE() << "no occurrence " << n << " of " << field;
      return text;
    }
  }
  size_t begin = at + field.size() + 4;
  size_t end = text.find_first_of(",\n}", begin);
  text.replace(begin, end - begin, value);
  return text;
}

TEST(CalibrationFile, BadFilesAreErrorsNamingTheFile) {
  TempDir dir;
  const fs::path file = dir / "calibration.json";
  const std::string name = file.string();
  EXPECT_ERROR_WITH(load_calibration(file), name, "does not exist", "calibrate the model");

  const ModelCalibration good = sample_calibration();
  save_calibration(good, file);
  const std::string text = test::read_file(file);

  test::write_file(file, text.substr(0, text.size() / 2));
  EXPECT_ERROR_WITH(load_calibration(file), name, "not a valid calibration file");

  test::write_file(file, "");
  EXPECT_ERROR_WITH(load_calibration(file), name, "not a valid calibration file");

  test::write_file(file, "{\"something_else\": {}}");
  EXPECT_ERROR_WITH(load_calibration(file), name, "not a valid calibration file");

  test::write_file(file, text);
  edit(file, "\"format_version\": 1", "\"format_version\": 7");
  EXPECT_ERROR_WITH(load_calibration(file), name, "format_version is 7", "reads version 1");

  test::write_file(file, text);
  edit(file, "\"clip\"", "\"klip\"");
  EXPECT_ERROR_WITH(load_calibration(file), name, "not a valid calibration file", "clip");

  test::write_file(file, text);
  edit(file, "\"width\": 3", "\"width\": \"three\"");
  EXPECT_ERROR_WITH(load_calibration(file), name, "not a valid calibration file");

  test::write_file(file, text);
  edit(file, "\"method\": \"percentile\"", "\"method\": \"entropy\"");
  EXPECT_ERROR_WITH(load_calibration(file), name, "unknown range method 'entropy'");

  test::write_file(file, text);
  edit(file, "\"width\": 3", "\"width\": 0");
  EXPECT_ERROR_WITH(load_calibration(file), name, "width 0");

  test::write_file(file, text);
  edit(file, "\"percentile\": 99.9", "\"percentile\": 120.0");
  EXPECT_ERROR_WITH(load_calibration(file), name, "percentile");

  // abs_max inconsistent with min/max (bottom layer 1), clip above abs_max (top layer 0);
  // save_calibration refuses both, so the text is edited.
  test::write_file(file, set_field(text, "abs_max", 1, "1e9"));
  EXPECT_ERROR_WITH(load_calibration(file), name, "bottom MLP", "layer 1", "abs_max");
  test::write_file(file, set_field(text, "clip", 2, "1e9"));
  EXPECT_ERROR_WITH(load_calibration(file), name, "top MLP", "layer 0", "clip");
  ModelCalibration bad = good;
  bad.top.layers[0].clip = bad.top.layers[0].abs_max * 2;
  EXPECT_ERROR_WITH(save_calibration(bad, dir / "bad.json"), "top MLP", "clip");

  // Well-formed files that do not fit the model.
  save_calibration(good, file);
  ModelCalibration loaded = load_calibration(file);
  std::vector<Layer> three = identity_layers();
  three.push_back(three.back());
  three[1].out = 3;
  three[1].weight.resize(9, 0.0f);
  three[1].bias.resize(3, 0.0f);
  EXPECT_ERROR_WITH(check_model_calibration(loaded, identity_layers(), three, {}, file), name, "top MLP",
                    "2 layers but the MLP has 3");
  std::vector<Layer> wide = identity_layers();
  wide[0].in = 4;
  wide[0].weight.resize(12, 0.0f);
  EXPECT_ERROR_WITH(check_model_calibration(loaded, wide, identity_layers(), {}, file), name, "bottom MLP",
                    "layer 0 is 3 wide", "takes 4 inputs");
  ModelCalibration few = good;
  few.top.samples = 100;
  save_calibration(few, file);
  EXPECT_ERROR_WITH(check_model_calibration(load_calibration(file), identity_layers(), identity_layers(), {}, file), name,
                    "top MLP", "100 samples", "at least 1024");

  // Saving refuses values JSON cannot carry.
  ModelCalibration nan = good;
  nan.bottom.layers[0].max = std::numeric_limits<float>::infinity();
  EXPECT_ERROR_WITH(save_calibration(nan, dir / "nan.json"), "non-finite");
  EXPECT_FALSE(fs::exists(dir / "nan.json"));
  EXPECT_TRUE(dir.partial_names().empty());
}

// Two cross layers of width 4 and rank 2 with small integer weights and
// dyadic biases: on the inputs of cross_input every product and sum is exact
// in fp32, so oneDNN and cross_net_forward_ref agree exactly.
std::vector<CrossLayer> integer_cross_layers() {
  CrossLayer a;
  a.width = 4;
  a.rank = 2;
  a.v = {1, 0, -1, 2,    // t_0
         0, 1, 1, -1};   // t_1
  a.w = {1, 0, 0, -1, 1, 1, -1, 0};  // [4, 2]
  a.bias = {0.5f, 0, -0.25f, 1};
  CrossLayer b = a;
  b.v = {0, 1, 0, 1, -1, 0, 2, 0};
  b.bias = {0, 0.5f, 0, -1};
  return {a, b};
}

// Row k: ((k mod 5 - 2) / 4, (k mod 3) / 2, -(k mod 7) / 8, 1 / 4): exact.
std::vector<float> cross_input(int rows) {
  std::vector<float> x(static_cast<size_t>(rows) * 4);
  for (int k = 0; k < rows; ++k) {
    x[4 * k] = static_cast<float>(k % 5 - 2) / 4;
    x[4 * k + 1] = static_cast<float>(k % 3) / 2;
    x[4 * k + 2] = -static_cast<float>(k % 7) / 8;
    x[4 * k + 3] = 0.25f;
  }
  return x;
}

// The range of `values` [rows, width] as Calibrator records it (clip = abs_max).
void expect_range_of(const LayerInputRange& r, const std::vector<float>& values, int rows, int width,
                     const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(r.width, width);
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  EXPECT_EQ(r.min, *lo);
  EXPECT_EQ(r.max, *hi);
  EXPECT_EQ(r.abs_max, std::max(std::fabs(*lo), std::fabs(*hi)));
  EXPECT_EQ(r.clip, r.abs_max);
  for (int i = 0; i < width; ++i) {
    double sum = 0;
    for (int b = 0; b < rows; ++b) sum += values[static_cast<size_t>(b) * width + i];
    EXPECT_EQ(r.mean[i], static_cast<float>(sum / rows)) << "column " << i;
  }
}

// Every x_l and t_l, over more rows than one chunk (256) and not a multiple of it.
TEST(CrossCalibrator, RecordsEveryLayerInputAndIntermediateExactly) {
  const int rows = 1500;
  const std::vector<CrossLayer> layers = integer_cross_layers();
  std::vector<float> x0 = cross_input(rows), out(x0.size());
  CrossNetTrace trace;
  cross_net_forward_ref(layers, x0.data(), rows, out.data(), &trace);
  CrossCalibrator calibrator(layers);
  calibrator.observe(x0.data(), 700);
  calibrator.observe(x0.data() + 700 * 4, rows - 700);
  EXPECT_EQ(calibrator.samples(), rows);
  ActivationRanges r = calibrator.ranges();
  EXPECT_EQ(r.samples, rows);
  ASSERT_EQ(r.layers.size(), 4u);
  for (size_t l = 0; l < 2; ++l) {
    expect_range_of(r.layers[2 * l], trace.layers[l].x, rows, 4, "x_" + std::to_string(l));
    expect_range_of(r.layers[2 * l + 1], trace.layers[l].t, rows, 2, "t_" + std::to_string(l));
  }
  EXPECT_TRUE(r.layers[0].is_signed());
  EXPECT_NO_THROW(check_cross_ranges(r, layers, "cross"));
}

TEST(CrossCalibrator, RejectsBadInputAndKeepsItsState) {
  const std::vector<CrossLayer> layers = integer_cross_layers();
  CrossCalibrator calibrator(layers, {.min_samples = 1});
  std::vector<float> x0 = cross_input(300);
  calibrator.observe(x0.data(), 300);
  const ActivationRanges before = calibrator.ranges();
  std::vector<float> bad = x0;
  bad[0] = 1e6f;  // would widen the range if the batch were half-recorded
  bad[4 * 299 + 2] = std::numeric_limits<float>::infinity();
  EXPECT_ERROR_WITH(calibrator.observe(bad.data(), 300), "CrossCalibrator", "x0", "NaN or infinite");
  EXPECT_EQ(calibrator.samples(), 300);
  EXPECT_EQ(calibrator.ranges().layers[0].max, before.layers[0].max);

  std::vector<CrossLayer> big = layers;
  for (float& w : big[0].w) w *= 3e38f;
  CrossCalibrator overflow(big, {.min_samples = 1});
  EXPECT_ERROR_WITH(overflow.observe(x0.data(), 300), "cross layer 1's input", "NaN or infinite");

  EXPECT_ERROR_WITH(CrossCalibrator(layers).ranges(), "CrossCalibrator", "0 samples", "at least 1024");
  EXPECT_ERROR_WITH(CrossCalibrator(layers, {.min_samples = 0}), "min_samples");
  EXPECT_ERROR_WITH(CrossCalibrator({}), "CrossCalibrator", "at least one layer");
  EXPECT_THROW(calibrator.observe(nullptr, -1), Error);
  EXPECT_THROW(calibrator.observe(nullptr, 3), Error);
}

ModelCalibration sample_dcn_calibration() {
  ModelCalibration c = sample_calibration();
  CrossCalibrator cross(integer_cross_layers(), {.method = RangeMethod::kMse});
  std::vector<float> x0 = cross_input(1100);
  cross.observe(x0.data(), 1100);
  c.cross = cross.ranges();
  return c;
}

TEST(CalibrationFile, CrossRangesRoundTripAndFitTheModel) {
  TempDir dir;
  const fs::path file = calibration_path(dir.path());
  const std::string name = file.string();
  const ModelCalibration saved = sample_dcn_calibration();
  save_calibration(saved, file);
  EXPECT_NE(test::read_file(file).find("\"cross\""), std::string::npos);
  ModelCalibration loaded = load_calibration(file);
  expect_same(saved.bottom, loaded.bottom);
  expect_same(saved.top, loaded.top);
  expect_same(saved.cross, loaded.cross);
  for (size_t l = 0; l < saved.cross.layers.size(); ++l) EXPECT_EQ(saved.cross.layers[l].mean, loaded.cross.layers[l].mean);
  const std::vector<CrossLayer> cross = integer_cross_layers();
  EXPECT_NO_THROW(check_model_calibration(loaded, identity_layers(), identity_layers(), cross, file));

  // A dot model's file has no "cross" object and loads with no cross ranges.
  save_calibration(sample_calibration(), file);
  EXPECT_EQ(test::read_file(file).find("\"cross\""), std::string::npos);
  ModelCalibration dot = load_calibration(file);
  EXPECT_TRUE(dot.cross.layers.empty());
  EXPECT_NO_THROW(check_model_calibration(dot, identity_layers(), identity_layers(), {}, file));
  EXPECT_ERROR_WITH(check_model_calibration(dot, identity_layers(), identity_layers(), cross, file), name,
                    "cross network (2 layers)", "no \"cross\" ranges", "calibrate this model again");
  EXPECT_ERROR_WITH(check_model_calibration(loaded, identity_layers(), identity_layers(), {}, file), name,
                    "ranges of a cross network but the model has none");

  // Cross ranges that do not fit the cross layers.
  std::vector<CrossLayer> three = cross;
  three.push_back(cross.back());
  EXPECT_ERROR_WITH(check_model_calibration(loaded, identity_layers(), identity_layers(), three, file), name,
                    "cross network", "4 cross ranges", "3 layers need 6");
  std::vector<CrossLayer> rank3 = cross;
  rank3[1].rank = 3;
  EXPECT_ERROR_WITH(check_cross_ranges(loaded.cross, rank3, "cross"), "cross layer 1's t = V x is 2 wide",
                    "rank is 3");
  std::vector<CrossLayer> wide = cross;
  for (CrossLayer& layer : wide) layer.width = 5;
  EXPECT_ERROR_WITH(check_cross_ranges(loaded.cross, wide, "cross"), "cross layer 0's input is 4 wide",
                    "5 wide");
  EXPECT_ERROR_WITH(check_cross_ranges(loaded.cross, cross, "cross", 2000), "1100 samples", "at least 2000");

  // A malformed "cross" object is an error naming the file.
  save_calibration(saved, file);
  const std::string text = test::read_file(file);
  const size_t at = text.find("\"cross\"");
  ASSERT_NE(at, std::string::npos);
  test::write_file(file, text.substr(0, at) + set_field(text.substr(at), "clip", 0, "-1.0"));
  EXPECT_ERROR_WITH(load_calibration(file), name, "cross network", "layer 0", "clip");
  test::write_file(file, text.substr(0, at) + set_field(text.substr(at), "samples", 0, "\"many\""));
  EXPECT_ERROR_WITH(load_calibration(file), name, "not a valid calibration file");
}

}  // namespace
}  // namespace dlrm::dense
