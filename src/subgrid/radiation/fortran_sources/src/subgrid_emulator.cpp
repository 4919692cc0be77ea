// LibTorch implementation of the C ABI in subgrid_emulator.h.
//
// Host arrays are wrapped with torch::from_blob (no copy): a column-major Fortran array
// x(n_levels, n_features, n_columns) has the memory of a row-major [n_columns][n_features][n_levels]
// tensor, which is the emulator's layout. Outputs are copied once into the host's arrays.
#include "subgrid_emulator.h"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

struct subgrid_emulator {
  torch::jit::script::Module module;
  int64_t n_levels;
  int64_t n_level_features;
  int64_t n_column_features;
};

namespace {

constexpr int kFluxes = 4;
constexpr int kHeatingBands = 2;
// TorchScript's profiling executor optimises the graph on the third call: do those at init.
constexpr int kWarmupCalls = 3;

int fail(int status, const std::string& text, char* message, int message_length) {
  if (message != nullptr && message_length > 0) {
    const size_t n = std::min(text.size(), static_cast<size_t>(message_length - 1));
    std::memcpy(message, text.data(), n);
    message[n] = '\0';
  }
  return status;
}

// LibTorch's own errors carry a C++ backtrace in what(); the host needs only the first line.
std::string describe(const std::exception& error) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&error)) return torch_error->what_without_backtrace();
  return error.what();
}

void clear(char* message, int message_length) {
  if (message != nullptr && message_length > 0) message[0] = '\0';
}

// First non-finite value of a [n_columns][n_features][n_values] array, as a message with 1-based
// (Fortran) indices; empty if all values are finite.
std::string first_non_finite(const char* name, const float* x, int64_t n_columns, int64_t n_features,
                             int64_t n_values) {
  const int64_t total = n_columns * n_features * n_values;
  for (int64_t i = 0; i < total; ++i) {
    if (!std::isfinite(x[i])) {
      const int64_t column = i / (n_features * n_values);
      const int64_t feature = (i / n_values) % n_features;
      const int64_t value = i % n_values;
      std::string where = "column " + std::to_string(column + 1);
      if (n_features > 1) where += ", feature " + std::to_string(feature + 1);
      if (n_values > 1) where += ", level " + std::to_string(value + 1);
      return std::string(name) + ": " + (std::isnan(x[i]) ? "NaN" : "Inf") + " at " + where + " (1-based)";
    }
  }
  return "";
}

std::vector<torch::jit::IValue> wrap(const subgrid_emulator& e, int64_t n_columns, const float* level_inputs,
                                     const float* column_inputs, const float* pressure_interface_Pa) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  // from_blob does not take ownership; the module only reads its inputs.
  return {
      torch::from_blob(const_cast<float*>(level_inputs), {n_columns, e.n_level_features, e.n_levels}, f32),
      torch::from_blob(const_cast<float*>(column_inputs), {n_columns, e.n_column_features}, f32),
      torch::from_blob(const_cast<float*>(pressure_interface_Pa), {n_columns, e.n_levels + 1}, f32),
  };
}

}  // namespace

extern "C" int subgrid_emulator_init(const char* path, int n_levels, int n_threads, subgrid_emulator** handle,
                                     char* message, int message_length) {
  clear(message, message_length);
  if (handle == nullptr || path == nullptr) {
    return fail(SUBGRID_ERROR_ARGUMENT, "subgrid_emulator_init: null path or handle", message, message_length);
  }
  *handle = nullptr;
  if (n_threads < 1) {
    return fail(SUBGRID_ERROR_ARGUMENT,
                "subgrid_emulator_init: n_threads must be >= 1, got " + std::to_string(n_threads), message,
                message_length);
  }
  subgrid_emulator* e = nullptr;
  try {
    e = new subgrid_emulator{torch::jit::load(path, torch::kCPU), 0, 0, 0};
  } catch (const std::exception& error) {
    delete e;
    return fail(SUBGRID_ERROR_LOAD, std::string(path) + ": cannot load TorchScript module (" + describe(error) + ")",
                message, message_length);
  }
  for (const char* name : {"n_levels", "n_level_features", "n_column_features"}) {
    if (!e->module.hasattr(name)) {
      delete e;
      return fail(SUBGRID_ERROR_LOAD,
                  std::string(path) + ": not a subgrid radiation emulator (no attribute " + name +
                      "); export it with subgrid.coupling.export.export_run",
                  message, message_length);
    }
  }
  e->n_levels = e->module.attr("n_levels").toInt();
  e->n_level_features = e->module.attr("n_level_features").toInt();
  e->n_column_features = e->module.attr("n_column_features").toInt();
  if (n_levels != e->n_levels) {
    const std::string text = std::string(path) + ": the emulator was trained on " + std::to_string(e->n_levels) +
                             " levels, the host has " + std::to_string(n_levels);
    delete e;
    return fail(SUBGRID_ERROR_SHAPE, text, message, message_length);
  }
  try {
    // Process-wide: LibTorch has one intra-op pool. Under MPI, one or two threads per rank avoid
    // oversubscribing the node.
    at::set_num_threads(n_threads);
    e->module.eval();
    c10::InferenceMode inference;
    std::vector<float> level(e->n_level_features * e->n_levels, 1.0f);
    std::vector<float> column(e->n_column_features, 1.0f);
    std::vector<float> pressure(e->n_levels + 1);
    for (int64_t i = 0; i <= e->n_levels; ++i) {
      pressure[i] = 1.0e5f - (1.0e5f - 20.0f) * static_cast<float>(i) / static_cast<float>(e->n_levels);
    }
    for (int call = 0; call < kWarmupCalls; ++call) {
      e->module.forward(wrap(*e, 1, level.data(), column.data(), pressure.data()));
    }
  } catch (const std::exception& error) {
    delete e;
    return fail(SUBGRID_ERROR_RUNTIME, std::string(path) + ": warm-up call failed (" + describe(error) + ")", message,
                message_length);
  }
  *handle = e;
  return SUBGRID_OK;
}

extern "C" int subgrid_emulator_compute(subgrid_emulator* handle, int n_columns, int n_levels,
                                        int n_level_features, int n_column_features, const float* level_inputs,
                                        const float* column_inputs, const float* pressure_interface_Pa,
                                        float* fluxes, float* heating, char* message, int message_length) {
  clear(message, message_length);
  if (handle == nullptr) {
    return fail(SUBGRID_ERROR_ARGUMENT, "subgrid_emulator_compute: emulator not initialised (null handle)", message,
                message_length);
  }
  if (level_inputs == nullptr || column_inputs == nullptr || pressure_interface_Pa == nullptr || fluxes == nullptr ||
      heating == nullptr) {
    return fail(SUBGRID_ERROR_ARGUMENT, "subgrid_emulator_compute: null array", message, message_length);
  }
  if (n_columns < 1) {
    return fail(SUBGRID_ERROR_ARGUMENT,
                "subgrid_emulator_compute: n_columns must be >= 1, got " + std::to_string(n_columns), message,
                message_length);
  }
  subgrid_emulator& e = *handle;
  if (n_levels != e.n_levels || n_level_features != e.n_level_features || n_column_features != e.n_column_features) {
    return fail(SUBGRID_ERROR_SHAPE,
                "subgrid_emulator_compute: host arrays have " + std::to_string(n_levels) + " levels, " +
                    std::to_string(n_level_features) + " level features, " + std::to_string(n_column_features) +
                    " column features; the emulator expects " + std::to_string(e.n_levels) + ", " +
                    std::to_string(e.n_level_features) + ", " + std::to_string(e.n_column_features),
                message, message_length);
  }
  const std::string bad[] = {
      first_non_finite("level_inputs", level_inputs, n_columns, e.n_level_features, e.n_levels),
      first_non_finite("column_inputs", column_inputs, n_columns, e.n_column_features, 1),
      first_non_finite("p_interface", pressure_interface_Pa, n_columns, 1, e.n_levels + 1),
  };
  for (const std::string& text : bad) {
    if (!text.empty()) return fail(SUBGRID_ERROR_INPUT, text, message, message_length);
  }
  try {
    c10::InferenceMode inference;
    const auto outputs =
        e.module.forward(wrap(e, n_columns, level_inputs, column_inputs, pressure_interface_Pa)).toTuple();
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
    torch::from_blob(fluxes, {n_columns, kFluxes, e.n_levels + 1}, f32).copy_(outputs->elements()[0].toTensor());
    torch::from_blob(heating, {n_columns, kHeatingBands, e.n_levels}, f32).copy_(outputs->elements()[1].toTensor());
  } catch (const std::exception& error) {
    return fail(SUBGRID_ERROR_RUNTIME, "subgrid_emulator_compute: " + describe(error), message,
                message_length);
  }
  return SUBGRID_OK;
}

extern "C" int subgrid_emulator_finalize(subgrid_emulator** handle) {
  if (handle != nullptr) {
    delete *handle;
    *handle = nullptr;
  }
  return SUBGRID_OK;
}
