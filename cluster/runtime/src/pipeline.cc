#include "dlrm/cluster/pipeline.h"

#include <omp.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <numeric>
#include <optional>
#include <thread>
#include <type_traits>

#include "dlrm/datasets/dataset.h"
#include "dlrm/dense/model_mlps.h"
#include "dlrm/cluster/exchange.h"
#include "dlrm/common/stats.h"
#include "dlrm/cluster/mpi_util.h"
#include "dlrm/datasets/npz.h"
#include "dlrm/cluster/report.h"
#include "dlrm/cluster/roles.h"
#include "dlrm/cluster/routing.h"
#include "dlrm/common/error.h"
#include "dlrm/common/npy.h"
#include "dlrm/dense/interaction.h"
#include "dlrm/dense/mlp.h"
#include "dlrm/shard/embedding_bag.h"
#include "dlrm/model/manifest.h"
#include "dlrm/model/shard_file.h"

namespace fs = std::filesystem;

namespace dlrm::cluster {

int effective_batch(int batch, int64_t samples, int dense_ranks) {
  return static_cast<int>(std::min<int64_t>(batch, (samples + dense_ranks - 1) / dense_ranks));
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int choose_threads(MPI_Comm comm, bool dense, int requested) {
  MPI_Comm node;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int mine = dense ? 1 : 0, dense_on_node = 0;
  MPI_Allreduce(&mine, &dense_on_node, 1, MPI_INT, MPI_SUM, node);
  MPI_Comm_free(&node);
  if (!dense) return 1;
  if (requested > 0) return requested;
  if (const char* env = std::getenv("OMP_NUM_THREADS"); env && std::atoi(env) > 0) return std::atoi(env);
  cpu_set_t set;
  CPU_ZERO(&set);
  int affinity = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, std::min(affinity, cpus / std::max(1, dense_on_node)));
}

namespace {

double now() { return steady_seconds(); }

uint64_t peak_rss_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

class StageClock {
 public:
  explicit StageClock(std::array<double, kStageCount>& seconds) : seconds_(seconds), last_(now()) {}
  // Charges the time since the previous mark to `stage`.
  void mark(Stage stage) {
    double t = now();
    seconds_[static_cast<int>(stage)] += t - last_;
    last_ = t;
  }

 private:
  std::array<double, kStageCount>& seconds_;
  double last_;
};

// Fixed-size numeric part of a RankReport, for gathering.
constexpr int kRankFields = 9 + kStageCount;

std::array<double, kRankFields> pack(const RankReport& r) {
  std::array<double, kRankFields> v{};
  v[0] = r.rank;
  v[1] = r.role == Role::kShard ? 0 : 1;
  v[2] = r.index;
  v[3] = r.threads;
  v[4] = static_cast<double>(r.peak_rss_bytes);
  v[5] = static_cast<double>(r.embedding_bytes);
  v[6] = static_cast<double>(r.embedding_resident_bytes);
  v[7] = static_cast<double>(r.samples);
  v[8] = r.load_seconds;
  for (int s = 0; s < kStageCount; ++s) v[9 + s] = r.stage_seconds[s];
  return v;
}

RankReport unpack(const double* v) {
  RankReport r;
  r.rank = static_cast<int>(v[0]);
  r.role = v[1] == 0 ? Role::kShard : Role::kDense;
  r.index = static_cast<int>(v[2]);
  r.threads = static_cast<int>(v[3]);
  r.peak_rss_bytes = static_cast<uint64_t>(v[4]);
  r.embedding_bytes = static_cast<uint64_t>(v[5]);
  r.embedding_resident_bytes = static_cast<uint64_t>(v[6]);
  r.samples = static_cast<int64_t>(v[7]);
  r.load_seconds = v[8];
  for (int s = 0; s < kStageCount; ++s) r.stage_seconds[s] = v[9 + s];
  return r;
}

class ClusterRun {
 public:
  ClusterRun(const ClusterOptions& options, MPI_Comm comm)
      : opt_(options), comm_(comm), t_entry_(options.start_time > 0 ? options.start_time : now()) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }

  ClusterOutcome outcome;
  int exit_code_ = 0;
  std::vector<float> reference_;  // rank 0: --reference predictions

  int run() {
    startup();
    loop();
    finish();
    return exit_code_;
  }

 private:
  void check(const std::string& stage, const std::string& error) { collective_check(comm_, stage, error, labels_); }

  void startup() {
    DLRM_CHECK(opt_.batch > 0, "--batch must be positive, got {}", opt_.batch);
    batch_size_ = opt_.batch;
    auto hosts = gather_strings(comm_, processor_name(), 0);
    host_ = processor_name();
    labels_.clear();
    for (int r = 0; r < static_cast<int>(hosts.size()); ++r) labels_.push_back(fmt::format("rank {} ({})", r, hosts[r]));

    check("loading the model manifest", capture([&] { manifest_ = model::load_manifest(opt_.model); }));
    const char* placement = std::getenv("DLRM_SHARD_RANKS");
    check("assigning roles", capture([&] {
            roles_ = assign_roles(rank_, size_, manifest_.num_shards(), placement ? placement : "");
          }));
    if (rank_ == 0) {
      labels_.clear();
      for (int r = 0; r < size_; ++r) {
        labels_.push_back(fmt::format("rank {} ({} {} on {})", r, to_string(roles_.role[r]), roles_.index[r], hosts[r]));
      }
      spdlog::info("model {}: {} tables, dim {}, {} shards ({} plan, {}); {} dense ranks, batch {}",
                   opt_.model.string(), manifest_.arch.num_tables(), manifest_.arch.dim, manifest_.num_shards(),
                   manifest_.plan, model::to_string(manifest_.dtype), roles_.dense_ranks(), opt_.batch);
    }
    dense_ = roles_.my_role() == Role::kDense;
    threads_ = choose_threads(comm_, dense_, opt_.threads);
    omp_set_num_threads(threads_);

    // Every rank routes: dense ranks encode requests, and every rank sizes the
    // shared-memory windows of the exchange from it.
    routing_.emplace(manifest_);
    check("loading shards and data", capture([&] { dense_ ? load_dense() : load_shard(); }));

    // Every rank learns the sample count, the number of batches and the batch
    // size the dense ranks chose (the same on all of them).
    int64_t local[3] = {dense_ ? samples_total_ : 0, dense_ ? batches_mine_ : 0, dense_ ? batch_size_ : 0};
    int64_t global[3] = {0, 0, 0};
    check_mpi(MPI_Allreduce(local, global, 3, MPI_INT64_T, MPI_MAX, comm_), "allreduce");
    samples_total_ = global[0];
    batches_ = global[1];
    batch_size_ = static_cast<int>(global[2]);
    if (rank_ == 0 && batch_size_ < opt_.batch) {
      spdlog::info("--batch {} is more than any dense rank's {} samples: batches of {}", opt_.batch, batch_size_, batch_size_);
    }

    check("checking outputs", capture([&] {
            if (rank_ != 0) return;
            for (const fs::path* p : {&opt_.out, &opt_.report}) {
              if (p->empty()) continue;
              fs::path dir = p->parent_path().empty() ? fs::path(".") : p->parent_path();
              DLRM_CHECK(fs::is_directory(dir), "output directory {} of {} does not exist; create it first",
                         dir.string(), p->string());
            }
            if (!opt_.reference.empty()) {
              // Read once, here, so a wrong file fails before the run; finish() compares with it.
              reference_ = datasets::read_reference_predictions(opt_.reference);
              const auto ref_count = static_cast<int64_t>(reference_.size());
              DLRM_CHECK(ref_count == samples_total_,
                         "{} holds {} predictions but the data has {} samples; pass the matching --reference "
                         "(or --limit)",
                         opt_.reference.string(), ref_count, samples_total_);
            }
          }));
  }

  void load_shard() {
    const int s = roles_.my_index();
    const auto& info = manifest_.shards[s];
    model::ShardFile::Options options;
    options.populate = true;
    options.verify = opt_.verify;
    options.in_memory = opt_.shard_in_memory;
    options.progress = info.embedding_bytes > (1ull << 30);
    shard_file_.emplace(model::ShardFile::open(opt_.model / info.file, options));
    model::check_against_manifest(*shard_file_, manifest_, s);
    std::vector<model::RowsView> views;
    for (size_t k = 0; k < shard_file_->slices().size(); ++k) views.push_back(shard_file_->slice_view(static_cast<int>(k)));
    server_.emplace(std::move(views), manifest_.arch.dim);
    me_.embedding_bytes = info.embedding_bytes;
  }

  void load_dense() {
    const auto& arch = manifest_.arch;
    datasets::RecordLayout layout{arch.dense_features, arch.num_tables()};
    const bool npz = datasets::is_npz(opt_.data);
    if (npz) {
      samples_total_ = datasets::npz_samples(opt_.data, layout);
    } else {
      data_.emplace(datasets::Dataset::open(opt_.data, layout));
      samples_total_ = data_->samples();
    }
    if (opt_.limit > 0) samples_total_ = std::min(samples_total_, opt_.limit);
    DLRM_CHECK(samples_total_ > 0, "{} holds no samples", opt_.data.string());
    const int d = roles_.my_index(), dense_count = roles_.dense_ranks();
    begin_ = samples_total_ * d / dense_count;
    end_ = samples_total_ * (d + 1) / dense_count;
    if (npz) {
      // Only this rank's samples are converted and held (the binary layout is mapped instead).
      npz_.emplace(datasets::read_npz_dataset(opt_.data, layout, begin_, end_ - begin_));
      data_.emplace(npz_->view());
    }
    batch_size_ = effective_batch(batch_size_, samples_total_, dense_count);
    batches_mine_ = (end_ - begin_ + batch_size_ - 1) / batch_size_;
    if (!opt_.fold_indices) {
      if (auto bad = datasets::find_bad_index(*data_, begin_, end_, arch.table_rows)) DLRM_FAIL("{}", datasets::describe(*bad, opt_.data));
    }
    mlps_.emplace(opt_.model, manifest_, opt_.mlp);
    mlps_->prepare(batch_size_);
    builders_.clear();
    for (int slot = 0; slot < Exchange::kSlots; ++slot) builders_.emplace_back(*routing_);
    shape_ = dense::InteractionShape{arch.num_tables(), arch.dim, arch.interaction_self, opt_.interaction};
    const size_t b = static_cast<size_t>(batch_size_);
    for (auto& x_in : x_in_) x_in.resize(b * arch.dense_features);
    x_.resize(b * arch.dim);
    emb_.resize(b * arch.num_tables() * arch.dim);
    table_rows_.resize(arch.num_tables());
    sample_rows_.resize(b * arch.num_tables());
    half_sample_rows_.resize(b * arch.num_tables());
    half_rows_.resize(arch.num_tables());
    top_in_.resize(b * shape_.width());
    predictions_.resize(end_ - begin_);
    labels_mine_.resize(end_ - begin_);
    for (int64_t i = begin_; i < end_; ++i) labels_mine_[i - begin_] = data_->label(i);
    me_.samples = end_ - begin_;
  }

  void loop() {
    check_mpi(MPI_Barrier(comm_), "barrier");
    me_.load_seconds = now() - t_entry_;
    open_exchange();
    if (opt_.warmup_batches > 0) {
      // Untimed: faults in buffers, builds primitives, warms caches and MPI paths.
      run_batches(std::min<int64_t>(opt_.warmup_batches, batches_));
      exchange_->drain();
      exchange_->reset_counters();
      me_.stage_seconds = {};
      latencies_ms_.clear();
      check_mpi(MPI_Barrier(comm_), "barrier");
    }
    const double t0 = now();
    run_batches(batches_);
    exchange_->finish();
    seconds_mine_ = now() - t0;
    if (!dense_) {
      // Shard ranks: pooling time, and everything else was waiting for peers.
      me_.stage_seconds[static_cast<int>(Stage::kPool)] = exchange_->pool_seconds();
      me_.stage_seconds[static_cast<int>(Stage::kShardWait)] = seconds_mine_ - exchange_->pool_seconds();
    }
  }

  // Collective; once per run (the warm-up batches use it too).
  void open_exchange() {
    check("opening the exchange", capture([&] {
            exchange_.emplace(comm_, roles_, opt_.pooled_type, opt_.transport,
                              max_response_floats(*routing_, batch_size_));
          }));
  }

  void run_batches(int64_t count) {
    if (count > 0) dense_ ? dense_loop(count) : shard_loop(count);
  }

  // Batch b's samples on this dense rank: [first, first + n).
  std::pair<int64_t, int> batch_range(int64_t b) const {
    const int64_t first = begin_ + b * batch_size_;
    return {first, static_cast<int>(std::clamp<int64_t>(end_ - first, 0, batch_size_))};
  }

  // read_input + route of batch b into slot b % 2, then post its requests.
  void prepare_batch(int64_t b, StageClock& clock) {
    const auto& arch = manifest_.arch;
    const int slot = static_cast<int>(b % Exchange::kSlots);
    const auto [first, n] = batch_range(b);
    if (n > 0) datasets::dense_transform(*data_, first, n, x_in_[slot].data());
    const int tables = arch.num_tables();
    batch_.reset(n, tables);
    for (int t = 0; t < tables; ++t) {
      const int64_t rows = arch.table_rows[t];
      for (int i = 0; i < n; ++i) {
        int64_t row = data_->indices(first + i)[t];
        if (opt_.fold_indices) row = datasets::fold_index(row, rows);
        batch_.add(t, static_cast<int32_t>(row));
        batch_.end_sample(t);
      }
    }
    clock.mark(Stage::kReadInput);
    builders_[slot].build(batch_);
    clock.mark(Stage::kRoute);
    exchange_->post_requests(slot, builders_[slot]);
    exchange_->post_pooled(slot, builders_[slot]);
    clock.mark(Stage::kExchangeIndices);
  }

  // Two batches in flight: batch b+1's indices (and the receive of its pooled
  // rows) are posted before batch b's bottom MLP, so the shard ranks pool and
  // send batch b+1 while this rank computes batch b.
  void dense_loop(int64_t count) {
    StageClock clock(me_.stage_seconds);
    prepare_batch(0, clock);
    for (int64_t b = 0; b < count; ++b) {
      const double t_batch = now();
      const int slot = static_cast<int>(b % Exchange::kSlots);
      const auto [first, n] = batch_range(b);
      if (b + 1 < count) prepare_batch(b + 1, clock);
      if (n > 0) mlps_->bottom(x_in_[slot].data(), n, x_.data());
      clock.mark(Stage::kBottomMlp);
      exchange_->wait_answers(slot);
      clock.mark(Stage::kExchangePooled);
      if (n == 0) continue;
      interact(slot, n, clock);
      mlps_->top(top_in_.data(), n, predictions_.data() + (first - begin_));
      clock.mark(Stage::kTopMlp);
      latencies_ms_.push_back((now() - t_batch) * 1e3);
    }
  }

  // Assemble (when needed) and the interaction of the batch in `slot`. The
  // answers are used where they lie when every table's are rows[n][dim], or
  // else when every sample's row of a table is whole in one answer (tables
  // split by rows, one-hot bags); 16-bit ones are widened sample by sample
  // inside the interaction. Otherwise they are widened and assembled first.
  void interact(int slot, int n, StageClock& clock) {
    const bool in_place = exchange_->pooled_type() == PooledType::kFp32
                              ? interact_in_place(slot, exchange_->widen(slot), table_rows_, sample_rows_, n, clock)
                              : interact_in_place(slot, exchange_->half_answers(slot), half_rows_, half_sample_rows_, n,
                                                  clock);
    if (in_place) return;
    builders_[slot].assemble(exchange_->widen(slot), emb_.data());
    clock.mark(Stage::kAssemble);
    dense::interaction_dot(shape_, x_.data(), emb_.data(), n, top_in_.data(), shape_.width());
    clock.mark(Stage::kInteraction);
  }

  // The interaction on the answers where they lie (T: float, or uint16_t for
  // fp16/bf16 exchanges), through table pointers or a pointer per row; false
  // when neither serves this batch.
  template <class T>
  bool interact_in_place(int slot, const std::vector<const T*>& answers, std::vector<const T*>& tables,
                         std::vector<const T*>& rows, int n, StageClock& clock) {
    const RequestBuilder& builder = builders_[slot];
    const bool strided = builder.table_rows(answers, tables.data());
    if (!strided && !builder.sample_rows(answers, rows.data())) return false;
    clock.mark(Stage::kAssemble);
    float* dst = top_in_.data();
    const int64_t width = shape_.width();
    if constexpr (std::is_same_v<T, float>) {
      if (strided) {
        dense::interaction_dot(shape_, x_.data(), tables.data(), shape_.dim, n, dst, width);
      } else {
        dense::interaction_dot_rows(shape_, x_.data(), rows.data(), n, dst, width);
      }
    } else {
      const HalfType type = half_type(exchange_->pooled_type());
      if (strided) {
        dense::interaction_dot(shape_, x_.data(), tables.data(), type, shape_.dim, n, dst, width);
      } else {
        dense::interaction_dot_rows(shape_, x_.data(), rows.data(), type, n, dst, width);
      }
    }
    clock.mark(Stage::kInteraction);
    return true;
  }

  // Each batch is pooled and answered as soon as its requests arrive; the
  // answers of batch b cross while the dense ranks compute batch b - 1.
  void shard_loop(int64_t count) {
    for (int64_t b = 0; b < count; ++b) {
      const int slot = static_cast<int>(b % Exchange::kSlots);
      exchange_->receive_requests(slot);
      int64_t bad = exchange_->serve(slot, *server_);
      DLRM_CHECK(bad == 0, "shard {}: {} requested rows lie outside the shard; the data and model disagree",
                 roles_.my_index(), bad);
      exchange_->post_answers(slot);
    }
  }

  void finish() {
    // Per-rank facts.
    me_.rank = rank_;
    me_.role = roles_.my_role();
    me_.index = roles_.my_index();
    me_.host = host_;
    me_.threads = threads_;
    me_.peak_rss_bytes = peak_rss_bytes();
    if (shard_file_) me_.embedding_resident_bytes = shard_file_->resident_bytes();
    auto packed = pack(me_);
    std::vector<double> all(rank_ == 0 ? static_cast<size_t>(size_) * kRankFields : 0);
    check_mpi(MPI_Gather(packed.data(), kRankFields, MPI_DOUBLE, all.data(), kRankFields, MPI_DOUBLE, 0, comm_),
              "gather");
    auto hosts = gather_strings(comm_, host_, 0);

    double seconds = 0;
    check_mpi(MPI_Reduce(&seconds_mine_, &seconds, 1, MPI_DOUBLE, MPI_MAX, 0, comm_), "reduce");
    uint64_t bytes_mine[2] = {exchange_->index_bytes(), exchange_->pooled_bytes()}, bytes[2] = {0, 0};
    check_mpi(MPI_Reduce(bytes_mine, bytes, 2, MPI_UINT64_T, MPI_SUM, 0, comm_), "reduce");

    // Predictions, labels and latencies, in sample order (dense blocks are ordered by dense index).
    std::vector<int> counts(size_, 0), displs(size_, 0);
    for (int d = 0; d < roles_.dense_ranks(); ++d) {
      int r = roles_.dense_rank[d];
      int64_t b = samples_total_ * d / roles_.dense_ranks(), e = samples_total_ * (d + 1) / roles_.dense_ranks();
      counts[r] = static_cast<int>(e - b);
      displs[r] = static_cast<int>(b);
    }
    std::vector<float> predictions(rank_ == 0 ? samples_total_ : 0);
    std::vector<int32_t> labels(rank_ == 0 ? samples_total_ : 0);
    int mine = dense_ ? static_cast<int>(end_ - begin_) : 0;
    check_mpi(MPI_Gatherv(predictions_.data(), mine, MPI_FLOAT, predictions.data(), counts.data(), displs.data(),
                          MPI_FLOAT, 0, comm_),
              "gatherv");
    check_mpi(MPI_Gatherv(labels_mine_.data(), mine, MPI_INT32_T, labels.data(), counts.data(), displs.data(),
                          MPI_INT32_T, 0, comm_),
              "gatherv");
    int lat_mine = static_cast<int>(latencies_ms_.size());
    std::vector<int> lat_counts(size_), lat_displs(size_);
    check_mpi(MPI_Gather(&lat_mine, 1, MPI_INT, lat_counts.data(), 1, MPI_INT, 0, comm_), "gather");
    int lat_total = 0;
    for (int r = 0; r < size_ && rank_ == 0; ++r) {
      lat_displs[r] = lat_total;
      lat_total += lat_counts[r];
    }
    std::vector<double> latencies(lat_total);
    check_mpi(MPI_Gatherv(latencies_ms_.data(), lat_mine, MPI_DOUBLE, latencies.data(), lat_counts.data(),
                          lat_displs.data(), MPI_DOUBLE, 0, comm_),
              "gatherv");
    if (rank_ != 0) return;

    Report report;
    report.model = opt_.model.string();
    report.data = opt_.data.string();
    report.dtype = model::to_string(manifest_.dtype);
    report.plan = manifest_.plan;
    report.mlp = to_string(opt_.mlp);
    report.interaction = dense::to_string(opt_.interaction);
    report.batch = batch_size_;
    report.shards = roles_.shards();
    report.dense_ranks = roles_.dense_ranks();
    report.batches = batches_;
    report.pairs = samples_total_;
    report.seconds = seconds;
    report.pairs_per_s = seconds > 0 ? samples_total_ / seconds : 0;
    for (int r = 0; r < size_; ++r) {
      RankReport rank = unpack(all.data() + static_cast<size_t>(r) * kRankFields);
      rank.host = hosts[r];
      report.load_seconds = std::max(report.load_seconds, rank.load_seconds);
      report.ranks.push_back(rank);
    }
    for (int s = 0; s < kStageCount; ++s) {
      Stage stage = static_cast<Stage>(s);
      double sum = 0;
      int n = 0;
      for (const auto& rank : report.ranks) {
        if (is_dense_stage(stage) == (rank.role == Role::kDense)) {
          sum += rank.stage_seconds[s];
          ++n;
        }
      }
      report.stage_seconds.emplace_back(stage_name(stage), n ? sum / n : 0.0);
    }
    if (!latencies.empty()) {
      report.latency_p50_ms = percentile(latencies, 50);
      report.latency_p95_ms = percentile(latencies, 95);
      report.latency_p99_ms = percentile(latencies, 99);
    }
    report.index_bytes = bytes[0];
    report.pooled_bytes = bytes[1];
    report.exchange_bytes_per_pair = static_cast<double>(bytes[0] + bytes[1]) / std::max<int64_t>(1, samples_total_);
    report.minimum_bytes_per_pair =
        manifest_.arch.num_tables() * (4.0 + manifest_.arch.dim * element_bytes(opt_.pooled_type));
    report.exchange_type = to_string(opt_.pooled_type);
    report.exchange_transport = to_string(exchange_->transport());
    double auc = roc_auc(predictions.data(), labels.data(), samples_total_);
    if (std::isfinite(auc)) report.auc = auc;
    if (!opt_.reference.empty()) {
      const std::vector<float>& ref = reference_;
      double worst = 0;
      for (int64_t i = 0; i < samples_total_; ++i) worst = std::max(worst, std::fabs(double(ref[i]) - predictions[i]));
      report.reference_max_abs_diff = worst;
      const double reference_auc = roc_auc(ref.data(), labels.data(), samples_total_);
      if (std::isfinite(reference_auc) && report.auc) {
        report.reference_auc = reference_auc;
        report.auc_budget = opt_.auc_budget;
        report.auc_within_budget = *report.auc >= (1.0 - opt_.auc_budget) * reference_auc;
      }
    }
    if (!opt_.out.empty()) write_npy_f32(opt_.out, predictions.data(), {samples_total_});
    if (!opt_.report.empty()) write_report(report, opt_.report);
    if (!opt_.quiet) std::cout << report_table(report) << std::flush;
    outcome.report = report;
    outcome.predictions = std::move(predictions);
    outcome.labels = std::move(labels);
    if (!opt_.out.empty()) spdlog::info("predictions written to {}", opt_.out.string());
    if (!opt_.report.empty()) spdlog::info("report written to {}", opt_.report.string());
    const bool quantized = manifest_.dtype != model::StorageType::kFp32 || opt_.mlp != dense::MlpPrecision::kFp32;
    if (report.auc_within_budget && !*report.auc_within_budget) {
      spdlog::error("accuracy budget exceeded: AUC {:.6f} is below {:.6f} = (1 - {}) x the reference's AUC {:.6f} "
                    "({} tables, {} MLPs); use a wider storage type, recalibrate, or raise --auc-budget",
                    *report.auc, (1.0 - opt_.auc_budget) * *report.reference_auc, opt_.auc_budget,
                    *report.reference_auc, report.dtype, report.mlp);
      exit_code_ = 3;
    } else if (quantized && !report.reference_auc && opt_.warn_unchecked_budget) {
      spdlog::warn("the accuracy budget was not checked: pass --reference with fp32 predictions on labelled data");
    }
  }

  const ClusterOptions& opt_;
  MPI_Comm comm_;
  int rank_ = 0, size_ = 0;
  int batch_size_ = 0;  // --batch, or the most samples of a dense rank when that is fewer
  double t_entry_;
  std::string host_;
  std::vector<std::string> labels_;
  model::Manifest manifest_;
  Roles roles_;
  bool dense_ = false;
  int threads_ = 1;
  int64_t samples_total_ = 0, batches_ = 0, batches_mine_ = 0;
  RankReport me_;
  double seconds_mine_ = 0;
  std::optional<Exchange> exchange_;

  // shard rank
  std::optional<model::ShardFile> shard_file_;
  std::optional<ShardServer> server_;

  // dense rank
  std::optional<datasets::NpzDataset> npz_;  // records of --data X.npz (declared before data_, which views them)
  std::optional<datasets::Dataset> data_;
  int64_t begin_ = 0, end_ = 0;
  std::optional<dense::DenseMlps> mlps_;
  std::optional<RoutingTable> routing_;  // every rank
  std::vector<RequestBuilder> builders_;  // one per exchange slot
  dense::InteractionShape shape_;
  Batch batch_;
  std::array<std::vector<float>, Exchange::kSlots> x_in_;
  std::vector<float> x_, emb_, top_in_, predictions_;
  std::vector<const float*> table_rows_;  // per table: where this batch's rows lie in the answers
  std::vector<const float*> sample_rows_;  // per (sample, table): where its row lies in the answers
  std::vector<const uint16_t*> half_sample_rows_;
  std::vector<const uint16_t*> half_rows_;  // the same for 16-bit answers
  std::vector<int32_t> labels_mine_;
  std::vector<double> latencies_ms_;
};

}  // namespace

int run_cluster(const ClusterOptions& options, MPI_Comm comm) {
  ClusterRun run(options, comm);
  return run.run();
}

ClusterOutcome run_cluster_outcome(const ClusterOptions& options, MPI_Comm comm) {
  ClusterRun run(options, comm);
  run.run();
  return std::move(run.outcome);
}

}  // namespace dlrm::cluster
