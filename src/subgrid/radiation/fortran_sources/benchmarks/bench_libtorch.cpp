// Seconds per call of an artifact called directly from C++ (the floor under the Fortran adapter):
// the same inputs, threads and timing as bench_fortran.f90, without the adapter.
//
//   bench_libtorch MODEL.pt|MODEL.pt2 COLUMNS.bin THREADS SECONDS REPEATS BATCH [BATCH ...]
//
// Like the adapter, it keeps freed memory in the process (mallopt) unless SUBGRID_MALLOC_TUNING=0.
// SUBGRID_PROBE (comma-separated) turns on the candidate fixes examined for the LibTorch slowdown
// (fortran_sources/README.md): interop1 (at::set_num_interop_threads(1)), ftz (flush denormals to
// zero), no_mkldnn (oneDNN off), simple_executor (profiling executor and mode off), no_optimize
// (graph executor optimisation off), no_grad (NoGradGuard instead of InferenceMode), freeze
// (torch::jit::optimize_for_inference).
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/csrc/jit/passes/frozen_graph_optimizations.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {
bool probe(const std::string& name) {
  const char* value = std::getenv("SUBGRID_PROBE");
  if (value == nullptr) return false;
  const std::string list = std::string(",") + value + ",";
  return list.find("," + name + ",") != std::string::npos;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: bench_libtorch MODEL COLUMNS.bin THREADS SECONDS REPEATS BATCH [BATCH ...]\n");
    return 1;
  }
  const char* tuning = std::getenv("SUBGRID_MALLOC_TUNING");
  if (tuning == nullptr || std::string(tuning) != "0") {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, -1);
  }
  std::ifstream file(argv[2], std::ios::binary);
  int32_t header[4];
  file.read(reinterpret_cast<char*>(header), sizeof header);
  const int64_t n_columns = header[0], n_levels = header[1], n_level_features = header[2];
  const int64_t n_column_features = header[3];
  std::vector<float> level(n_columns * n_level_features * n_levels), column(n_columns * n_column_features);
  std::vector<float> pressure(n_columns * (n_levels + 1));
  for (auto* v : {&level, &column, &pressure}) file.read(reinterpret_cast<char*>(v->data()), v->size() * sizeof(float));
  if (!file) {
    std::fprintf(stderr, "%s: truncated columns file\n", argv[2]);
    return 1;
  }

  at::set_num_threads(std::stoi(argv[3]));
  if (probe("interop1")) at::set_num_interop_threads(1);
  if (probe("ftz")) at::globalContext().setFlushDenormal(true);
  if (probe("no_mkldnn")) at::globalContext().setUserEnabledMkldnn(false);
  if (probe("simple_executor")) {
    torch::jit::getProfilingMode() = false;
    torch::jit::getExecutorMode() = false;
  }
  if (probe("no_optimize")) torch::jit::setGraphExecutorOptimize(false);
  const double target_seconds = std::stod(argv[4]);
  const int repeats = std::stoi(argv[5]);
  const std::string path = argv[1];
  const bool aoti = path.size() > 4 && path.substr(path.size() - 4) == ".pt2";

  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> package;
  torch::jit::script::Module module;
  if (aoti) {
    package = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, "model", true);
  } else {
    module = torch::jit::load(path);
    module.eval();
    if (probe("freeze")) module = torch::jit::optimize_for_inference(module);
  }
  std::optional<c10::InferenceMode> inference;
  std::optional<torch::NoGradGuard> no_grad;
  if (probe("no_grad")) {
    no_grad.emplace();
  } else {
    inference.emplace();
  }
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  auto call = [&](int64_t batch) {
    std::vector<at::Tensor> inputs{torch::from_blob(level.data(), {batch, n_level_features, n_levels}, f32),
                                   torch::from_blob(column.data(), {batch, n_column_features}, f32),
                                   torch::from_blob(pressure.data(), {batch, n_levels + 1}, f32)};
    if (aoti) {
      package->run(inputs);
    } else {
      module.forward(std::vector<torch::jit::IValue>(inputs.begin(), inputs.end()));
    }
  };
  for (int i = 0; i < 3; ++i) call(1);  // the adapter warms up the same way at init

  using clock = std::chrono::steady_clock;
  for (int arg = 6; arg < argc; ++arg) {
    const int64_t batch = std::min<int64_t>(std::stoll(argv[arg]), n_columns);
    auto start = clock::now();
    call(batch);
    const double first = std::chrono::duration<double>(clock::now() - start).count();
    const int calls = std::max(1, std::min(10000, static_cast<int>(target_seconds / std::max(first, 1e-7))));
    double best = std::numeric_limits<double>::max();
    for (int repeat = 0; repeat < repeats; ++repeat) {
      start = clock::now();
      for (int i = 0; i < calls; ++i) call(batch);
      best = std::min(best, std::chrono::duration<double>(clock::now() - start).count() / calls);
    }
    std::printf("{\"batch\": %lld, \"seconds_per_call\": %.5e, \"calls\": %d}\n", static_cast<long long>(batch), best,
                calls);
  }
  return 0;
}
