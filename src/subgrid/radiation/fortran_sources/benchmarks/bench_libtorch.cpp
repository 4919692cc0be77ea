// Seconds per call of the TorchScript artifact called directly from C++ (the floor under the
// Fortran adapter): the same inputs, threads and timing as bench_fortran.f90, without the adapter.
//
//   bench_libtorch MODEL.pt COLUMNS.bin THREADS SECONDS REPEATS BATCH [BATCH ...]
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: bench_libtorch MODEL.pt COLUMNS.bin THREADS SECONDS REPEATS BATCH [BATCH ...]\n");
    return 1;
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
  const double target_seconds = std::stod(argv[4]);
  const int repeats = std::stoi(argv[5]);
  torch::jit::script::Module module = torch::jit::load(argv[1]);
  module.eval();
  c10::InferenceMode inference;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  auto call = [&](int64_t batch) {
    module.forward({torch::from_blob(level.data(), {batch, n_level_features, n_levels}, f32),
                    torch::from_blob(column.data(), {batch, n_column_features}, f32),
                    torch::from_blob(pressure.data(), {batch, n_levels + 1}, f32)});
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
