// LibTorch implementation of the C ABI in subgrid_emulator.h.
//
// Host arrays are wrapped with torch::from_blob (no copy): a column-major Fortran array
// x(n_levels, n_features, n_columns) has the memory of a row-major [n_columns][n_features][n_levels]
// tensor, which is the emulator's layout. Outputs are copied once into the host's arrays.
//
// Every entry point runs its LibTorch work inside guarded(), which turns any exception (LibTorch's
// c10::Error, std::exception, anything else) into a status and a message.
#include "subgrid_emulator.h"

#include <ATen/Parallel.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/script.h>

#include <malloc.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <iomanip>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace {

// TorchScript's profiling executor optimises the graph on the third call: do those at init.
constexpr int kWarmupCalls = 3;
constexpr const char* kSidecar = "emulator.json";

// A failure with its status; thrown inside guarded() only, never across the C boundary.
struct Failure {
  int status;
  std::string text;
};

int write_message(int status, const std::string& text, char* message, int message_length) {
  if (message != nullptr && message_length > 0) {
    const size_t n = std::min(text.size(), static_cast<size_t>(message_length - 1));
    std::memcpy(message, text.data(), n);
    message[n] = '\0';
  }
  return status;
}

void clear(char* message, int message_length) {
  if (message != nullptr && message_length > 0) message[0] = '\0';
}

// LibTorch's own errors carry a C++ backtrace in what(); the host needs only the first line.
std::string describe(const std::exception& error) {
  std::string text;
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&error)) {
    text = torch_error->what_without_backtrace();
  } else {
    text = error.what();
  }
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

// Run `body`; any exception becomes a status (`status` for unexpected ones) and a message prefixed by `where`.
int guarded(int status, const std::string& where, char* message, int message_length, const std::function<void()>& body) {
  clear(message, message_length);
  try {
    body();
    return SUBGRID_OK;
  } catch (const Failure& failure) {
    return write_message(failure.status, failure.text, message, message_length);
  } catch (const std::exception& error) {
    return write_message(status, where + " (" + describe(error) + ")", message, message_length);
  } catch (...) {
    return write_message(status, where + " (unknown C++ exception)", message, message_length);
  }
}

// Keep freed memory in the process (see subgrid_emulator.h, "Memory"): once per process.
void tune_malloc() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* setting = std::getenv("SUBGRID_MALLOC_TUNING");
    if (setting != nullptr && std::string(setting) == "0") return;
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, -1);  // as an unsigned size: never trim the top of the heap
  });
}

bool is_directory(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool is_file(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The first string value of `key` in a JSON text ("" if absent). The sidecar's top-level "format"
// and "artifact" are written before any nested object, so the first occurrence is the top-level one.
std::string json_string(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\"");
  if (at == std::string::npos) return "";
  const auto colon = json.find(':', at);
  const auto open = colon == std::string::npos ? colon : json.find('"', colon);
  const auto close = open == std::string::npos ? open : json.find('"', open + 1);
  if (close == std::string::npos) return "";
  return json.substr(open + 1, close - open - 1);
}

// SHA-256 (FIPS 180-4) of a file, as lowercase hex: the sidecar records the model file's digest.
std::string file_sha256(const std::string& path) {
  static const std::array<uint32_t, 64> k = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
      0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
      0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
      0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
      0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
      0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
      0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotate = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  auto block = [&](const unsigned char* p) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) w[i] = uint32_t(p[4 * i]) << 24 | uint32_t(p[4 * i + 1]) << 16 | uint32_t(p[4 * i + 2]) << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotate(w[i - 15], 7) ^ rotate(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotate(w[i - 2], 17) ^ rotate(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 = hh + (rotate(e, 6) ^ rotate(e, 11) ^ rotate(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      const uint32_t t2 = (rotate(a, 2) ^ rotate(a, 13) ^ rotate(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  };
  std::ifstream stream(path, std::ios::binary);
  std::vector<unsigned char> data((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  const uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  data.push_back(0x80);
  while (data.size() % 64 != 56) data.push_back(0);
  for (int i = 7; i >= 0; --i) data.push_back(static_cast<unsigned char>(bits >> (8 * i)));
  for (size_t offset = 0; offset < data.size(); offset += 64) block(data.data() + offset);
  std::ostringstream hex;
  for (uint32_t word : h) hex << std::hex << std::setw(8) << std::setfill('0') << word;
  return hex.str();
}

struct Artifact {
  std::string file;
  std::string format;
};

// Where the model file is and which backend runs it: the sidecar's "format", else the extension.
Artifact locate(const std::string& path) {
  std::string sidecar;
  std::string file;
  if (is_directory(path)) {
    sidecar = path + "/" + kSidecar;
  } else if (ends_with(path, ".json")) {
    sidecar = path;
  } else {
    file = path;
    sidecar = directory_of(path) + "/" + kSidecar;
  }
  if (is_file(sidecar)) {
    std::ifstream stream(sidecar);
    std::stringstream text;
    text << stream.rdbuf();
    const std::string format = json_string(text.str(), "format");
    const std::string artifact = json_string(text.str(), "artifact");
    if (file.empty()) {
      if (artifact.empty() || format.empty()) {
        throw Failure{SUBGRID_ERROR_LOAD, sidecar + ": no \"format\" or \"artifact\" entry (not a subgrid sidecar)"};
      }
      file = directory_of(sidecar) + "/" + artifact;
    }
    if (!format.empty() && artifact == file.substr(file.rfind('/') + 1)) {
      if (format != "torchscript" && format != "aoti") {
        throw Failure{SUBGRID_ERROR_LOAD, file + ": format " + format +
                                              " runs in Python (ONNX Runtime); the C ABI loads torchscript and aoti "
                                              "artifacts (subgrid export --format torchscript|aoti)"};
      }
      // The digest recorded at export: a damaged or replaced model file can load and run, so check it.
      if (!is_file(file)) throw Failure{SUBGRID_ERROR_LOAD, file + ": no such file"};
      const std::string recorded = json_string(text.str(), "artifact_sha256");
      if (!recorded.empty() && file_sha256(file) != recorded) {
        throw Failure{SUBGRID_ERROR_LOAD, file + ": does not match the sha256 recorded in " + sidecar +
                                              " (corrupted or replaced); re-export it"};
      }
      return {file, format};
    }
  } else if (file.empty()) {
    throw Failure{SUBGRID_ERROR_LOAD, path + ": no " + kSidecar + " (not an exported subgrid emulator)"};
  }
  if (!is_file(file)) throw Failure{SUBGRID_ERROR_LOAD, file + ": no such file"};
  return {file, ends_with(file, ".pt2") ? "aoti" : "torchscript"};
}

// One loaded model: runs a list of tensors and returns the output tensors, whatever the backend.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::vector<at::Tensor> run(std::vector<at::Tensor> inputs) = 0;
  // An integer the artifact records about itself (module attribute / package metadata), or -1.
  virtual int64_t integer(const std::string& name) = 0;
  virtual std::string text(const std::string& name) = 0;
};

class TorchScriptBackend : public Backend {
 public:
  explicit TorchScriptBackend(const std::string& file) : module_(torch::jit::load(file, torch::kCPU)) {
    module_.eval();
  }
  std::vector<at::Tensor> run(std::vector<at::Tensor> inputs) override {
    std::vector<torch::jit::IValue> values(inputs.begin(), inputs.end());
    const auto output = module_.forward(values);
    std::vector<at::Tensor> outputs;
    if (output.isTuple()) {
      for (const auto& element : output.toTupleRef().elements()) outputs.push_back(element.toTensor());
    } else {
      outputs.push_back(output.toTensor());
    }
    return outputs;
  }
  int64_t integer(const std::string& name) override {
    if (!module_.hasattr(name)) return -1;
    const auto value = module_.attr(name);
    return value.isInt() ? value.toInt() : -1;
  }
  std::string text(const std::string& name) override {
    if (!module_.hasattr(name)) return "";
    const auto value = module_.attr(name);
    return value.isString() ? value.toStringRef() : "";
  }

 private:
  torch::jit::script::Module module_;
};

class AotiBackend : public Backend {
 public:
  explicit AotiBackend(const std::string& file)
      : loader_(std::make_unique<torch::inductor::AOTIModelPackageLoader>(file, "model", /*run_single_threaded=*/true)),
        metadata_(loader_->get_metadata()) {}
  std::vector<at::Tensor> run(std::vector<at::Tensor> inputs) override { return loader_->run(inputs); }
  int64_t integer(const std::string& name) override {
    const auto found = metadata_.find(name);
    if (found == metadata_.end()) return -1;
    try {
      return std::stoll(found->second);
    } catch (const std::exception&) {
      return -1;
    }
  }
  std::string text(const std::string& name) override {
    const auto found = metadata_.find(name);
    return found == metadata_.end() ? "" : found->second;
  }

 private:
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
  std::unordered_map<std::string, std::string> metadata_;
};

struct Loaded {
  std::unique_ptr<Backend> backend;
  std::string format;
  std::string file;
};

Loaded load(const std::string& path) {
  const Artifact artifact = locate(path);
  Loaded loaded{nullptr, artifact.format, artifact.file};
  try {
    if (artifact.format == "aoti") {
      loaded.backend = std::make_unique<AotiBackend>(artifact.file);
    } else {
      loaded.backend = std::make_unique<TorchScriptBackend>(artifact.file);
    }
  } catch (const std::exception& error) {
    throw Failure{SUBGRID_ERROR_LOAD,
                  artifact.file + ": cannot load " + (artifact.format == "aoti" ? "AOTInductor package" : "TorchScript module") +
                      " (" + describe(error) + ")"};
  }
  return loaded;
}

// The artifact's recorded size `name`, which must be a positive integer.
int64_t recorded_size(Loaded& loaded, const char* name, const char* kind) {
  const int64_t value = loaded.backend->integer(name);
  if (value < 1) {
    throw Failure{SUBGRID_ERROR_LOAD, loaded.file + ": not a subgrid " + kind + " emulator (no positive integer " + name +
                                          "); export it with subgrid export"};
  }
  return value;
}

void check_kind(Loaded& loaded, const char* kind) {
  const std::string recorded = loaded.backend->text("kind");
  if (!recorded.empty() && recorded != kind) {
    throw Failure{SUBGRID_ERROR_LOAD, loaded.file + ": a " + recorded + " emulator, not a " + kind + " emulator"};
  }
}

void check_threads(const char* where, int n_threads) {
  if (n_threads < 1) {
    throw Failure{SUBGRID_ERROR_ARGUMENT, std::string(where) + ": n_threads must be >= 1, got " + std::to_string(n_threads)};
  }
}

void check_levels(const Loaded& loaded, int64_t trained, int host) {
  if (host != trained) {
    throw Failure{SUBGRID_ERROR_SHAPE, loaded.file + ": the emulator was trained on " + std::to_string(trained) +
                                           " levels, the host has " + std::to_string(host)};
  }
}

// First non-finite value of a [n_columns][n_features][n_values] array, as a message with 1-based
// (Fortran) indices; empty if all values are finite.
std::string first_non_finite(const char* name, const float* x, int64_t n_columns, int64_t n_features, int64_t n_values) {
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

void check_finite(const std::vector<std::string>& problems) {
  for (const std::string& text : problems) {
    if (!text.empty()) throw Failure{SUBGRID_ERROR_INPUT, text};
  }
}

at::Tensor wrap(const float* values, at::IntArrayRef shape) {
  // from_blob does not take ownership; the model only reads its inputs.
  return torch::from_blob(const_cast<float*>(values), shape, torch::TensorOptions().dtype(torch::kFloat32));
}

// Copy `output` into the host's array of `shape`, after checking the model returned that shape.
void copy_out(const at::Tensor& output, float* destination, at::IntArrayRef shape, const char* name) {
  if (output.sizes() != shape || output.scalar_type() != torch::kFloat32) {
    throw Failure{SUBGRID_ERROR_RUNTIME, std::string("the model returned ") + name + " of shape " +
                                             c10::str(output.sizes()) + ", expected " + c10::str(shape) + " float32"};
  }
  torch::from_blob(destination, shape, torch::TensorOptions().dtype(torch::kFloat32)).copy_(output);
}

void warm_up(Backend& backend, const std::function<std::vector<at::Tensor>()>& one_column) {
  c10::InferenceMode inference;
  for (int call = 0; call < kWarmupCalls; ++call) backend.run(one_column());
}

std::vector<float> standard_pressure(int64_t n_levels) {
  std::vector<float> pressure(n_levels + 1);
  for (int64_t i = 0; i <= n_levels; ++i) {
    pressure[i] = 1.0e5f - (1.0e5f - 20.0f) * static_cast<float>(i) / static_cast<float>(n_levels);
  }
  return pressure;
}

int copy_name(const std::string& text, char* name, int length) {
  if (name == nullptr || length < 1) return SUBGRID_ERROR_ARGUMENT;
  write_message(SUBGRID_OK, text, name, length);
  return SUBGRID_OK;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Radiation

struct subgrid_radiation {
  Loaded model;
  int64_t n_levels;
  int64_t n_level_features;
  int64_t n_column_features;
};

namespace {
constexpr int64_t kFluxes = 4;
constexpr int64_t kHeatingBands = 2;
// subgrid.models.radiation.MIN_GRID_LEVELS: the fewest levels a grid-agnostic emulator takes.
constexpr int kMinGridLevels = 5;
}  // namespace

extern "C" int subgrid_radiation_init(const char* path, int n_levels, int n_threads, subgrid_radiation** handle,
                                      char* message, int message_length) {
  if (handle == nullptr || path == nullptr) {
    clear(message, message_length);
    return write_message(SUBGRID_ERROR_ARGUMENT, "subgrid_radiation_init: null path or handle", message, message_length);
  }
  *handle = nullptr;
  const std::string where = std::string(path) + ": loading failed";
  return guarded(SUBGRID_ERROR_LOAD, where, message, message_length, [&] {
    check_threads("subgrid_radiation_init", n_threads);
    tune_malloc();
    auto e = std::make_unique<subgrid_radiation>();
    e->model = load(path);
    check_kind(e->model, "radiation");
    if (e->model.backend->integer("n_levels") == 0) {
      // A grid-agnostic emulator (n_levels recorded as 0): it takes the host's level count, given here.
      if (n_levels < kMinGridLevels) {
        throw Failure{SUBGRID_ERROR_SHAPE, e->model.file + ": a grid-agnostic emulator needs at least " +
                                               std::to_string(kMinGridLevels) + " levels, the host has " +
                                               std::to_string(n_levels)};
      }
      e->n_levels = n_levels;
    } else {
      e->n_levels = recorded_size(e->model, "n_levels", "radiation");
      check_levels(e->model, e->n_levels, n_levels);
    }
    e->n_level_features = recorded_size(e->model, "n_level_features", "radiation");
    e->n_column_features = recorded_size(e->model, "n_column_features", "radiation");
    // Process-wide: LibTorch has one intra-op pool. Under MPI, one or two threads per rank.
    at::set_num_threads(n_threads);
    std::vector<float> level(e->n_level_features * e->n_levels, 1.0f);
    std::vector<float> column(e->n_column_features, 1.0f);
    const std::vector<float> pressure = standard_pressure(e->n_levels);
    try {
      warm_up(*e->model.backend, [&] {
        return std::vector<at::Tensor>{wrap(level.data(), {1, e->n_level_features, e->n_levels}),
                                       wrap(column.data(), {1, e->n_column_features}),
                                       wrap(pressure.data(), {1, e->n_levels + 1})};
      });
    } catch (const std::exception& error) {
      throw Failure{SUBGRID_ERROR_RUNTIME, e->model.file + ": warm-up call failed (" + describe(error) + ")"};
    }
    *handle = e.release();
  });
}

extern "C" int subgrid_radiation_shape(const subgrid_radiation* handle, int* n_levels, int* n_level_features,
                                       int* n_column_features, int* n_fluxes, int* n_heating_rates) {
  if (handle == nullptr) return SUBGRID_ERROR_ARGUMENT;
  if (n_levels != nullptr) *n_levels = static_cast<int>(handle->n_levels);
  if (n_level_features != nullptr) *n_level_features = static_cast<int>(handle->n_level_features);
  if (n_column_features != nullptr) *n_column_features = static_cast<int>(handle->n_column_features);
  if (n_fluxes != nullptr) *n_fluxes = static_cast<int>(kFluxes);
  if (n_heating_rates != nullptr) *n_heating_rates = static_cast<int>(kHeatingBands);
  return SUBGRID_OK;
}

extern "C" int subgrid_radiation_backend(const subgrid_radiation* handle, char* name, int length) {
  if (handle == nullptr) return SUBGRID_ERROR_ARGUMENT;
  return copy_name(handle->model.format, name, length);
}

extern "C" int subgrid_radiation_compute(subgrid_radiation* handle, int n_columns, int n_levels, int n_level_features,
                                         int n_column_features, const float* level_inputs, const float* column_inputs,
                                         const float* pressure_interface_Pa, float* fluxes, float* heating,
                                         char* message, int message_length) {
  return guarded(SUBGRID_ERROR_RUNTIME, "subgrid_radiation_compute", message, message_length, [&] {
    if (handle == nullptr) {
      throw Failure{SUBGRID_ERROR_ARGUMENT, "subgrid_radiation_compute: emulator not initialised (null handle)"};
    }
    if (level_inputs == nullptr || column_inputs == nullptr || pressure_interface_Pa == nullptr || fluxes == nullptr ||
        heating == nullptr) {
      throw Failure{SUBGRID_ERROR_ARGUMENT, "subgrid_radiation_compute: null array"};
    }
    if (n_columns < 1) {
      throw Failure{SUBGRID_ERROR_ARGUMENT,
                    "subgrid_radiation_compute: n_columns must be >= 1, got " + std::to_string(n_columns)};
    }
    const subgrid_radiation& e = *handle;
    if (n_levels != e.n_levels || n_level_features != e.n_level_features || n_column_features != e.n_column_features) {
      throw Failure{SUBGRID_ERROR_SHAPE,
                    "subgrid_radiation_compute: host arrays have " + std::to_string(n_levels) + " levels, " +
                        std::to_string(n_level_features) + " level features, " + std::to_string(n_column_features) +
                        " column features; the emulator expects " + std::to_string(e.n_levels) + ", " +
                        std::to_string(e.n_level_features) + ", " + std::to_string(e.n_column_features)};
    }
    const int64_t n = n_columns;
    check_finite({first_non_finite("level_inputs", level_inputs, n, e.n_level_features, e.n_levels),
                  first_non_finite("column_inputs", column_inputs, n, e.n_column_features, 1),
                  first_non_finite("p_interface", pressure_interface_Pa, n, 1, e.n_levels + 1)});
    c10::InferenceMode inference;
    const auto outputs = e.model.backend->run({wrap(level_inputs, {n, e.n_level_features, e.n_levels}),
                                               wrap(column_inputs, {n, e.n_column_features}),
                                               wrap(pressure_interface_Pa, {n, e.n_levels + 1})});
    if (outputs.size() != 2) {
      throw Failure{SUBGRID_ERROR_RUNTIME, "subgrid_radiation_compute: the model returned " +
                                               std::to_string(outputs.size()) + " outputs, expected 2"};
    }
    copy_out(outputs[0], fluxes, {n, kFluxes, e.n_levels + 1}, "fluxes");
    copy_out(outputs[1], heating, {n, kHeatingBands, e.n_levels}, "heating");
  });
}

extern "C" int subgrid_radiation_finalize(subgrid_radiation** handle) {
  if (handle != nullptr) {
    try {
      delete *handle;
    } catch (...) {  // a destructor that throws must not reach the host
    }
    *handle = nullptr;
  }
  return SUBGRID_OK;
}

// ---------------------------------------------------------------------------------------------
// Gravity-wave column drag

struct subgrid_gw_drag {
  Loaded model;
  int64_t n_levels;
};

extern "C" int subgrid_gw_drag_init(const char* path, int n_levels, int n_threads, subgrid_gw_drag** handle,
                                    char* message, int message_length) {
  if (handle == nullptr || path == nullptr) {
    clear(message, message_length);
    return write_message(SUBGRID_ERROR_ARGUMENT, "subgrid_gw_drag_init: null path or handle", message, message_length);
  }
  *handle = nullptr;
  const std::string where = std::string(path) + ": loading failed";
  return guarded(SUBGRID_ERROR_LOAD, where, message, message_length, [&] {
    check_threads("subgrid_gw_drag_init", n_threads);
    tune_malloc();
    auto e = std::make_unique<subgrid_gw_drag>();
    e->model = load(path);
    const std::string kind = e->model.backend->text("kind");
    if (kind != "gw_drag") {
      throw Failure{SUBGRID_ERROR_LOAD, e->model.file + ": " +
                                            (kind.empty() ? std::string("not a subgrid") : "a " + kind) +
                                            " emulator, not a gw_drag emulator (subgrid gw-column export)"};
    }
    e->n_levels = recorded_size(e->model, "n_levels", "gw_drag");
    check_levels(e->model, e->n_levels, n_levels);
    at::set_num_threads(n_threads);
    std::vector<float> u(e->n_levels, 1.0f);
    const float flux = 1.0e-3f, width = 10.0f;
    try {
      warm_up(*e->model.backend, [&] {
        return std::vector<at::Tensor>{wrap(u.data(), {1, e->n_levels}), wrap(&flux, {1}), wrap(&width, {1})};
      });
    } catch (const std::exception& error) {
      throw Failure{SUBGRID_ERROR_RUNTIME, e->model.file + ": warm-up call failed (" + describe(error) + ")"};
    }
    *handle = e.release();
  });
}

extern "C" int subgrid_gw_drag_shape(const subgrid_gw_drag* handle, int* n_levels) {
  if (handle == nullptr) return SUBGRID_ERROR_ARGUMENT;
  if (n_levels != nullptr) *n_levels = static_cast<int>(handle->n_levels);
  return SUBGRID_OK;
}

extern "C" int subgrid_gw_drag_compute(subgrid_gw_drag* handle, int n_columns, int n_levels, const float* u_m_per_s,
                                       const float* source_flux_Pa, const float* spectral_width_m_per_s, float* drag,
                                       char* message, int message_length) {
  return guarded(SUBGRID_ERROR_RUNTIME, "subgrid_gw_drag_compute", message, message_length, [&] {
    if (handle == nullptr) {
      throw Failure{SUBGRID_ERROR_ARGUMENT, "subgrid_gw_drag_compute: emulator not initialised (null handle)"};
    }
    if (u_m_per_s == nullptr || source_flux_Pa == nullptr || spectral_width_m_per_s == nullptr || drag == nullptr) {
      throw Failure{SUBGRID_ERROR_ARGUMENT, "subgrid_gw_drag_compute: null array"};
    }
    if (n_columns < 1) {
      throw Failure{SUBGRID_ERROR_ARGUMENT, "subgrid_gw_drag_compute: n_columns must be >= 1, got " +
                                                std::to_string(n_columns)};
    }
    const subgrid_gw_drag& e = *handle;
    if (n_levels != e.n_levels) {
      throw Failure{SUBGRID_ERROR_SHAPE, "subgrid_gw_drag_compute: host arrays have " + std::to_string(n_levels) +
                                             " levels; the emulator expects " + std::to_string(e.n_levels)};
    }
    const int64_t n = n_columns;
    check_finite({first_non_finite("u", u_m_per_s, n, 1, e.n_levels),
                  first_non_finite("source_flux", source_flux_Pa, n, 1, 1),
                  first_non_finite("spectral_width", spectral_width_m_per_s, n, 1, 1)});
    c10::InferenceMode inference;
    const auto outputs = e.model.backend->run(
        {wrap(u_m_per_s, {n, e.n_levels}), wrap(source_flux_Pa, {n}), wrap(spectral_width_m_per_s, {n})});
    if (outputs.size() != 1) {
      throw Failure{SUBGRID_ERROR_RUNTIME, "subgrid_gw_drag_compute: the model returned " +
                                               std::to_string(outputs.size()) + " outputs, expected 1"};
    }
    copy_out(outputs[0], drag, {n, e.n_levels}, "drag");
  });
}

extern "C" int subgrid_gw_drag_finalize(subgrid_gw_drag** handle) {
  if (handle != nullptr) {
    try {
      delete *handle;
    } catch (...) {  // a destructor that throws must not reach the host
    }
    *handle = nullptr;
  }
  return SUBGRID_OK;
}
