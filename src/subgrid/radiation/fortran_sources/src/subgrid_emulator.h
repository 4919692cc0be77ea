/* C ABI of subgrid's emulators (radiation; gravity-wave column drag) over LibTorch.
 *
 * Each emulator is an opaque handle: load it once with *_init (which also warms it up), call
 * *_compute every step, free it with *_finalize. Every function returns a status (SUBGRID_OK = 0
 * on success) and, on failure, writes a NUL-terminated message into `message` (at most
 * `message_length` bytes). Every LibTorch call is inside a try block: nothing here throws through
 * the C boundary, exits or aborts the host process, whatever the artifact file holds.
 *
 * Backends: an artifact directory holds the model file and its sidecar emulator.json; the sidecar's
 * "format" picks the backend: "torchscript" (emulator.pt, torch::jit) or "aoti" (emulator.pt2, an
 * AOTInductor package, torch::inductor::AOTIModelPackageLoader). `path` may be the directory, the
 * sidecar or the model file (without a sidecar beside it, the file's extension decides: .pt2 is
 * AOTI). ONNX artifacts are for ONNX Runtime in Python and are refused with SUBGRID_ERROR_LOAD.
 *
 * Sizes come from the artifact: ask the handle (subgrid_radiation_shape, subgrid_gw_drag_shape)
 * rather than hard-coding them. Arrays are float32, row-major (the memory of the column-major
 * Fortran arrays in brackets), surface first, read in place without copies:
 *   radiation  level_inputs[n_columns][n_level_features][n_levels]   (level_inputs(n_levels, n_level_features, n_columns))
 *              column_inputs[n_columns][n_column_features]            (column_inputs(n_column_features, n_columns))
 *              pressure_interface_Pa[n_columns][n_levels + 1]         (p_interface(n_levels + 1, n_columns))
 *              fluxes[n_columns][n_fluxes][n_levels + 1]  W m-2: lw_up, lw_down, sw_up, sw_down
 *              heating[n_columns][n_heating_rates][n_levels]  K/day: LW, SW
 *   gw drag    u_m_per_s[n_columns][n_levels], source_flux_Pa[n_columns], spectral_width_m_per_s[n_columns]
 *              drag[n_columns][n_levels]  m s-1 day-1
 * Feature order and units are in the artifact's emulator.json.
 *
 * Threads: n_threads sets LibTorch's intra-op pool, which is process-wide. A handle may be used
 * by one thread at a time.
 *
 * Memory: the first *_init sets glibc's malloc to keep freed memory (mallopt: no trimming, no
 * mmap for large blocks), because returning the activations' pages to the kernel after every call
 * and faulting them in again on the next made calls up to 2x slower (fortran_sources/README.md).
 * Set SUBGRID_MALLOC_TUNING=0 in the environment to leave malloc as it is.
 */
#ifndef SUBGRID_EMULATOR_H
#define SUBGRID_EMULATOR_H

#ifdef __cplusplus
extern "C" {
#endif

enum subgrid_status {
  SUBGRID_OK = 0,
  SUBGRID_ERROR_ARGUMENT = 1, /* null handle or pointer, thread count < 1, no columns */
  SUBGRID_ERROR_LOAD = 2,     /* file missing, corrupted, or not a subgrid emulator of this kind */
  SUBGRID_ERROR_SHAPE = 3,    /* level or feature count differs from the model's */
  SUBGRID_ERROR_INPUT = 4,    /* NaN or Inf in an input */
  SUBGRID_ERROR_RUNTIME = 5   /* LibTorch failed while computing */
};

/* ---- radiation: (level_inputs, column_inputs, p_interface) -> (fluxes, heating) ---- */

typedef struct subgrid_radiation subgrid_radiation;

/* Load the artifact at `path` for hosts with `n_levels` layers, set LibTorch's intra-op thread
 * count to `n_threads` (process-wide) and warm the model up. */
int subgrid_radiation_init(const char* path, int n_levels, int n_threads, subgrid_radiation** handle, char* message,
                           int message_length);

/* The sizes the artifact expects and returns (any pointer may be NULL). */
int subgrid_radiation_shape(const subgrid_radiation* handle, int* n_levels, int* n_level_features,
                            int* n_column_features, int* n_fluxes, int* n_heating_rates);

/* The backend in use, "torchscript" or "aoti", as a NUL-terminated string of at most `length` bytes. */
int subgrid_radiation_backend(const subgrid_radiation* handle, char* name, int length);

/* Fluxes and heating rates of `n_columns` columns, written into the caller's `fluxes`, `heating`. */
int subgrid_radiation_compute(subgrid_radiation* handle, int n_columns, int n_levels, int n_level_features,
                              int n_column_features, const float* level_inputs, const float* column_inputs,
                              const float* pressure_interface_Pa, float* fluxes, float* heating, char* message,
                              int message_length);

/* Free the emulator and set *handle to NULL; a NULL handle is accepted. */
int subgrid_radiation_finalize(subgrid_radiation** handle);

/* ---- gravity-wave column drag: (u, source_flux, spectral_width) -> drag ---- */

typedef struct subgrid_gw_drag subgrid_gw_drag;

int subgrid_gw_drag_init(const char* path, int n_levels, int n_threads, subgrid_gw_drag** handle, char* message,
                         int message_length);

int subgrid_gw_drag_shape(const subgrid_gw_drag* handle, int* n_levels);

int subgrid_gw_drag_compute(subgrid_gw_drag* handle, int n_columns, int n_levels, const float* u_m_per_s,
                            const float* source_flux_Pa, const float* spectral_width_m_per_s, float* drag,
                            char* message, int message_length);

int subgrid_gw_drag_finalize(subgrid_gw_drag** handle);

#ifdef __cplusplus
}
#endif

#endif
