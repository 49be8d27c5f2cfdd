#include "dlrm/reference/reference_model.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "dlrm/dense/model_mlps.h"
#include "dlrm/common/error.h"
#include "dlrm/dense/interaction.h"
#include "dlrm/dense/mlp.h"
#include "dlrm/shard/embedding_bag.h"
#include "dlrm/model/shard_file.h"

namespace fs = std::filesystem;

namespace dlrm::reference {

namespace {

// Samples per step of predict(): bounds the working buffers (for terabyte-40m
// 256 * (13 + 128 + 26 * 128 + 479 + 1) floats = 4 MB, plus the MLPs' own
// activations) whatever n is.
constexpr int kChunk = 256;
// Gathers of at least this many floats (1 MB) use OpenMP threads.
constexpr int64_t kParallelFloats = 1 << 18;

// One column block of a row band: the slice of one shard file holding
// rows [band) x columns [col_begin, col_end) of a table.
struct Piece {
  model::RowsView rows;      // the whole slice
  int64_t slice_row_begin = 0;  // table row of the slice's first row
  int col_begin = 0;
};

// Table rows [row_begin, row_end) and the pieces covering all columns of them,
// ordered by col_begin.
struct Band {
  int64_t row_begin = 0;
  int64_t row_end = 0;
  std::vector<Piece> pieces;
};

struct TableIndex {
  std::vector<int64_t> band_begins;  // band_begins[k] == bands[k].row_begin, ascending
  std::vector<Band> bands;
};

}  // namespace

struct ReferenceModel::Impl {
  fs::path dir;
  model::Manifest manifest;
  Kernels kernels = Kernels::kRef;
  std::vector<model::ShardFile> files;
  std::vector<TableIndex> tables;
  std::vector<dense::Layer> bottom_layers;
  std::vector<dense::Layer> top_layers;
  std::optional<dense::DenseMlps> mlps;  // kFast only: MLPs and cross network
  dense::InteractionShape interaction;
  std::vector<dense::CrossLayer> cross_layers;  // dcn

  // Working buffers for one chunk.
  std::vector<float> dense_in;  // [kChunk, dense_features]
  std::vector<float> bottom_out;  // [kChunk, dim]
  std::vector<float> emb;       // dot: [kChunk, tables, dim]; dcn: x0 [kChunk, tables + 1, dim]
  std::vector<float> top_in;    // [kChunk, top_input_width]
  std::vector<float> top_out;   // [kChunk, 1]

  void index_tables();
  // Sample b's pooled row of table t at emb + b * sample_stride + t * dim.
  void gather(const datasets::Dataset& data, int64_t begin, int n, bool fold_indices, float* emb,
              int64_t sample_stride);
};

void ReferenceModel::Impl::index_tables() {
  const model::ModelArch& arch = manifest.arch;
  tables.assign(arch.num_tables(), {});
  // Every slice of every file, grouped by table.
  struct Located {
    model::Slice slice;
    model::RowsView rows;
  };
  std::vector<std::vector<Located>> by_table(arch.num_tables());
  for (const model::ShardFile& file : files) {
    for (size_t k = 0; k < file.slices().size(); ++k) {
      const model::ShardSliceRecord& rec = file.slices()[k];
      DLRM_CHECK(rec.table < static_cast<uint32_t>(arch.num_tables()), "{}: slice {} names table {} of {}",
                 file.path().string(), k, rec.table, arch.num_tables());
      Located loc;
      loc.slice.table = static_cast<int>(rec.table);
      loc.slice.row_begin = static_cast<int64_t>(rec.row_begin);
      loc.slice.row_end = static_cast<int64_t>(rec.row_end);
      loc.slice.col_begin = static_cast<int>(rec.col_begin);
      loc.slice.col_end = static_cast<int>(rec.col_end);
      loc.rows = file.slice_view(static_cast<int>(k));
      by_table[rec.table].push_back(loc);
    }
  }
  for (int t = 0; t < arch.num_tables(); ++t) {
    // Bands: the row ranges between consecutive slice boundaries; each slice
    // covers a band entirely or not at all.
    std::vector<int64_t> cuts = {0, arch.table_rows[t]};
    for (const Located& loc : by_table[t]) {
      cuts.push_back(loc.slice.row_begin);
      cuts.push_back(loc.slice.row_end);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    TableIndex& index = tables[t];
    for (size_t k = 0; k + 1 < cuts.size(); ++k) {
      Band band;
      band.row_begin = cuts[k];
      band.row_end = cuts[k + 1];
      for (const Located& loc : by_table[t]) {
        if (loc.slice.row_begin <= band.row_begin && band.row_end <= loc.slice.row_end) {
          band.pieces.push_back(Piece{loc.rows, loc.slice.row_begin, loc.slice.col_begin});
        }
      }
      std::sort(band.pieces.begin(), band.pieces.end(),
                [](const Piece& a, const Piece& b) { return a.col_begin < b.col_begin; });
      // The manifest's plan was checked at load; this re-checks the files.
      int next_col = 0;
      for (const Piece& piece : band.pieces) {
        DLRM_CHECK(piece.col_begin == next_col,
                   "model {}: table {} rows [{}, {}): the shard slices do not tile the columns (a slice "
                   "should start at column {}, one starts at {}); re-shard the model",
                   dir.string(), t, band.row_begin, band.row_end, next_col, piece.col_begin);
        next_col += piece.rows.cols;
      }
      DLRM_CHECK(next_col == arch.dim,
                 "model {}: table {} rows [{}, {}) cover {} of {} columns; re-shard the model", dir.string(),
                 t, band.row_begin, band.row_end, next_col, arch.dim);
      index.band_begins.push_back(band.row_begin);
      index.bands.push_back(std::move(band));
    }
  }
}

void ReferenceModel::Impl::gather(const datasets::Dataset& data, int64_t begin, int n, bool fold_indices,
                                  float* emb, int64_t sample_stride) {
  const int num_tables = manifest.arch.num_tables();
  const int dim = manifest.arch.dim;
  const std::vector<int64_t>& table_rows = manifest.arch.table_rows;
  int64_t lookups = 0;
  for (int t = 0; t < num_tables; ++t) lookups += data.hotness(t);
  // Indices were range-checked (or are folded here), so nothing below throws.
  // Threads only pay off when the chunk's rows are many cache misses (a small
  // model's chunk is cheaper than waking a team).
  const bool parallel = static_cast<int64_t>(n) * lookups * dim >= kParallelFloats;
#pragma omp parallel if (parallel)
  {
    std::vector<float> row(static_cast<size_t>(dim));
#pragma omp for schedule(static)
    for (int b = 0; b < n; ++b) {
      for (int t = 0; t < num_tables; ++t) {
        const int32_t* bag = data.bag(begin + b, t);
        const int hot = data.hotness(t);
        float* dst = emb + b * sample_stride + static_cast<int64_t>(t) * dim;
        // One row is decoded in place; a bag's rows are summed 0 + r0 + r1 + ...
        float* out = hot == 1 ? dst : row.data();
        if (hot != 1) std::fill_n(dst, dim, 0.0f);
        for (int k = 0; k < hot; ++k) {
          int64_t index = bag[k];
          if (fold_indices) index = datasets::fold_index(index, table_rows[t]);
          const TableIndex& ti = tables[t];
          const size_t band = static_cast<size_t>(
              std::upper_bound(ti.band_begins.begin(), ti.band_begins.end(), index) - ti.band_begins.begin() - 1);
          for (const Piece& piece : ti.bands[band].pieces) {
            shard::decode_row_ref(piece.rows, index - piece.slice_row_begin, out + piece.col_begin);
          }
          if (hot != 1) {
            for (int c = 0; c < dim; ++c) dst[c] += out[c];
          }
        }
      }
    }
  }
}

ReferenceModel::ReferenceModel() : impl_(std::make_unique<Impl>()) {}
ReferenceModel::ReferenceModel(ReferenceModel&&) noexcept = default;
ReferenceModel& ReferenceModel::operator=(ReferenceModel&&) noexcept = default;
ReferenceModel::~ReferenceModel() = default;

ReferenceModel ReferenceModel::load(const fs::path& dir, Kernels kernels, bool verify, ElementType mlp) {
  DLRM_CHECK(mlp == ElementType::kFp32 || kernels == Kernels::kFast,
             "the reference runs {} MLPs with the fast kernels only (oneDNN); use the fast kernels", to_string(mlp));
  ReferenceModel model;
  Impl& m = *model.impl_;
  m.dir = dir;
  m.kernels = kernels;
  m.manifest = model::load_manifest(dir);
  const model::ModelArch& arch = m.manifest.arch;

  // Dense weights (checksummed, checked against the architecture).
  dense::DenseLayers dense_layers = dense::load_dense_layers(dir, m.manifest);
  m.bottom_layers = std::move(dense_layers.bottom);
  m.top_layers = std::move(dense_layers.top);
  m.cross_layers = std::move(dense_layers.cross);
  m.interaction = dense::InteractionShape{arch.num_tables(), arch.dim, arch.interaction_self};
  DLRM_ASSERT(arch.dcn() || m.interaction.width() == arch.top_input_width());
  if (kernels == Kernels::kFast && mlp == ElementType::kFp32) {
    m.mlps.emplace(dense::DenseLayers{m.bottom_layers, m.top_layers, m.cross_layers}, mlp, nullptr, dir.string());
  } else if (kernels == Kernels::kFast) {
    m.mlps.emplace(dir, m.manifest, mlp);
  }

  // Shard files, mapped; rows are found through the per-table band index.
  model::ShardFile::Options options;
  options.verify = verify;
  for (int s = 0; s < m.manifest.num_shards(); ++s) {
    model::ShardFile file = model::ShardFile::open(dir / m.manifest.shards[s].file, options);
    model::check_against_manifest(file, m.manifest, s);
    m.files.push_back(std::move(file));
  }
  m.index_tables();

  m.dense_in.resize(static_cast<size_t>(kChunk) * arch.dense_features);
  m.bottom_out.resize(static_cast<size_t>(kChunk) * arch.dim);
  m.emb.resize(static_cast<size_t>(kChunk) * arch.num_features() * arch.dim);
  m.top_in.resize(static_cast<size_t>(kChunk) * arch.top_input_width());
  m.top_out.resize(static_cast<size_t>(kChunk) * arch.top_mlp.back());
  return model;
}

const model::Manifest& ReferenceModel::manifest() const { return impl_->manifest; }

void ReferenceModel::run(const datasets::Dataset& data, int64_t begin, int64_t n, bool fold_indices, bool top,
                         const ChunkSink& sink) {
  Impl& m = *impl_;
  const model::ModelArch& arch = m.manifest.arch;
  DLRM_CHECK(data.layout().dense_features == arch.dense_features && data.layout().tables == arch.num_tables(),
             "data {} has records of {} dense features and {} indices, but model {} has {} dense features and "
             "{} tables",
             data.path().string(), data.layout().dense_features, data.layout().tables, m.dir.string(),
             arch.dense_features, arch.num_tables());
  data.check_held(begin, begin + n, "predict");
  const int64_t top_width = arch.top_input_width();
  for (int64_t done = 0; done < n; done += kChunk) {
    const int64_t first = begin + done;
    const int batch = static_cast<int>(std::min<int64_t>(kChunk, n - done));
    if (!fold_indices) {
      if (auto bad = datasets::find_bad_index(data, first, first + batch, arch.table_rows)) {
        DLRM_FAIL("{}", datasets::describe(*bad, data.path()));
      }
    }
    datasets::dense_transform(data, first, batch, m.dense_in.data());
    const bool ref = m.kernels == Kernels::kRef;
    if (ref) {
      dense::mlp_forward_ref(m.bottom_layers, m.dense_in.data(), batch, m.bottom_out.data());
    } else {
      m.mlps->bottom(m.dense_in.data(), batch, m.bottom_out.data());
    }
    const float* cross_in = nullptr;
    if (arch.dcn()) {  // x0 = [bottom output, pooled rows of tables 0 .. T-1]
      const int64_t width = arch.cross_width();
      m.gather(data, first, batch, fold_indices, m.emb.data() + arch.dim, width);
      for (int b = 0; b < batch; ++b) {
        std::copy_n(m.bottom_out.data() + int64_t{b} * arch.dim, arch.dim, m.emb.data() + b * width);
      }
      cross_in = m.emb.data();
      if (ref) {
        dense::cross_net_forward_ref(m.cross_layers, cross_in, batch, m.top_in.data());
      } else {
        m.mlps->cross(cross_in, batch, m.top_in.data());
      }
    } else {
      m.gather(data, first, batch, fold_indices, m.emb.data(), int64_t{arch.num_tables()} * arch.dim);
      const auto emb = dense::EmbeddingRows::block(m.emb.data(), m.interaction.tables, m.interaction.dim);
      if (ref) {
        dense::interaction_dot_ref(m.interaction, m.bottom_out.data(), emb, batch, m.top_in.data(), top_width);
      } else {
        dense::interaction_dot(m.interaction, m.bottom_out.data(), emb, batch, m.top_in.data(), top_width);
      }
    }
    if (top && ref) dense::mlp_forward_ref(m.top_layers, m.top_in.data(), batch, m.top_out.data());
    if (top && !ref) m.mlps->top(m.top_in.data(), batch, m.top_out.data());
    sink(ChunkInputs{done, batch, m.dense_in.data(), cross_in, m.top_in.data()});
  }
}

void ReferenceModel::predict(const datasets::Dataset& data, int64_t begin, int64_t n, float* dst, bool fold_indices) {
  // The top MLP's last layer has width 1 and applies the sigmoid.
  run(data, begin, n, fold_indices, /*top=*/true,
      [&](const ChunkInputs& chunk) { std::copy_n(impl_->top_out.data(), chunk.batch, dst + chunk.offset); });
}

void ReferenceModel::features(const datasets::Dataset& data, int64_t begin, int64_t n, bool fold_indices,
                              const ChunkSink& sink) {
  run(data, begin, n, fold_indices, /*top=*/false, sink);
}

void ReferenceModel::use_mlps(dense::DenseMlps mlps) {
  DLRM_CHECK(impl_->kernels == Kernels::kFast, "ReferenceModel::use_mlps: the model runs the _ref kernels");
  impl_->mlps.emplace(std::move(mlps));
}

void ReferenceModel::replace_table(int table, const std::vector<ColumnBlock>& blocks) {
  Impl& m = *impl_;
  const model::ModelArch& arch = m.manifest.arch;
  DLRM_CHECK(table >= 0 && table < arch.num_tables(), "replace_table: no table {} (the model has {})", table,
             arch.num_tables());
  Band band;
  band.row_end = arch.table_rows[table];
  int next_col = 0;
  for (const ColumnBlock& block : blocks) {
    DLRM_CHECK(block.col_begin == next_col && block.rows.num_rows == band.row_end && block.rows.cols > 0,
               "replace_table: table {} needs blocks of {} rows tiling columns [0, {}) in order", table, band.row_end,
               arch.dim);
    band.pieces.push_back(Piece{block.rows, 0, block.col_begin});
    next_col += block.rows.cols;
  }
  DLRM_CHECK(next_col == arch.dim, "replace_table: table {}'s blocks cover {} of {} columns", table, next_col,
             arch.dim);
  m.tables[table] = TableIndex{{0}, {std::move(band)}};
}

const std::vector<dense::Layer>& ReferenceModel::bottom_layers() const { return impl_->bottom_layers; }
const std::vector<dense::Layer>& ReferenceModel::top_layers() const { return impl_->top_layers; }
const std::vector<dense::CrossLayer>& ReferenceModel::cross_layers() const { return impl_->cross_layers; }

}  // namespace dlrm::reference
