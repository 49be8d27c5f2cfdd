// The endpoint's request path without a network: parsing and checking a
// request (REST JSON, gRPC raw) and writing its answer, for 1 and 256 pairs
// of the terabyte model's shape (13 dense features, 26 tables of 40M rows).
//   build/bin/bench-serve-parse
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "dlrm/serve/grpc_codec.h"
#include "dlrm/serve/protocol.h"
#include "inference.pb.h"

namespace {

using dlrm::serve::InferRequest;
using dlrm::serve::ModelSignature;

ModelSignature terabyte() {
  ModelSignature m;
  m.table_rows.assign(26, 40000000);
  return m;
}

struct Inputs {
  std::vector<int32_t> dense, sparse;
};

Inputs inputs(int pairs) {
  std::mt19937 rng(7);
  Inputs in{std::vector<int32_t>(pairs * 13), std::vector<int32_t>(pairs * 26)};
  for (auto& x : in.dense) x = static_cast<int32_t>(rng() % 100000);
  for (auto& x : in.sparse) x = static_cast<int32_t>(rng() % 40000000);
  return in;
}

std::string json_body(int pairs) {
  const Inputs in = inputs(pairs);
  auto list = [](const std::vector<int32_t>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) {
      if (i > 0) s.push_back(',');
      s.append(std::to_string(v[i]));
    }
    return s;
  };
  return "{\"inputs\":[{\"name\":\"dense\",\"shape\":[" + std::to_string(pairs) +
         ",13],\"datatype\":\"INT32\",\"data\":[" + list(in.dense) + "]},{\"name\":\"sparse\",\"shape\":[" +
         std::to_string(pairs) + ",26],\"datatype\":\"INT32\",\"data\":[" + list(in.sparse) + "]}]}";
}

void HttpJson(benchmark::State& state) {
  const int pairs = static_cast<int>(state.range(0));
  const ModelSignature model = terabyte();
  const std::string body = json_body(pairs);
  const std::vector<float> answer(pairs, 0.25f);
  for (auto _ : state) {
    const InferRequest r = dlrm::serve::parse_http_request(body, {}, model);
    benchmark::DoNotOptimize(dlrm::serve::http_response(model, r, answer).body.size());
  }
  state.SetItemsProcessed(state.iterations() * pairs);
  state.counters["body_bytes"] = static_cast<double>(body.size());
}

void GrpcRaw(benchmark::State& state) {
  const int pairs = static_cast<int>(state.range(0));
  const ModelSignature model = terabyte();
  const Inputs in = inputs(pairs);
  inference::ModelInferRequest message;
  message.set_model_name("dlrm");
  for (const auto& [name, values, cols] : {std::tuple{"dense", &in.dense, 13}, std::tuple{"sparse", &in.sparse, 26}}) {
    auto* t = message.add_inputs();
    t->set_name(name);
    t->set_datatype("INT32");
    t->add_shape(pairs);
    t->add_shape(cols);
    message.add_raw_input_contents(std::string(reinterpret_cast<const char*>(values->data()), values->size() * 4));
  }
  const std::string wire = message.SerializeAsString();
  const std::vector<float> answer(pairs, 0.25f);
  for (auto _ : state) {
    inference::ModelInferRequest parsed;
    parsed.ParseFromString(wire);
    const InferRequest r = dlrm::serve::parse_grpc_request(parsed, model);
    inference::ModelInferResponse out;
    dlrm::serve::grpc_response(model, r, answer, out);
    benchmark::DoNotOptimize(out.ByteSizeLong());
  }
  state.SetItemsProcessed(state.iterations() * pairs);
}

BENCHMARK(HttpJson)->Arg(1)->Arg(256);
BENCHMARK(GrpcRaw)->Arg(1)->Arg(256);

}  // namespace

BENCHMARK_MAIN();
