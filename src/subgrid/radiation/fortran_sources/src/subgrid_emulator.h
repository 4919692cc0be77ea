/* C ABI of subgrid's radiation-emulator adapter over LibTorch.
 *
 * An emulator is an opaque handle: load it once with subgrid_emulator_init (which also warms it
 * up), call subgrid_emulator_compute every radiation step, free it with subgrid_emulator_finalize.
 * Every function returns a status (SUBGRID_OK = 0 on success) and, on failure, writes a
 * NUL-terminated message into `message` (at most `message_length` bytes). Nothing here exits or
 * aborts the host process; LibTorch exceptions are caught and turned into statuses.
 *
 * Arrays are float32, row-major, surface first:
 *   level_inputs[n_columns][n_level_features][n_levels]      (Fortran: level_inputs(n_levels, n_level_features, n_columns))
 *   column_inputs[n_columns][n_column_features]               (Fortran: column_inputs(n_column_features, n_columns))
 *   pressure_interface_Pa[n_columns][n_levels + 1]            (Fortran: p_interface(n_levels + 1, n_columns))
 *   fluxes[n_columns][4][n_levels + 1]  W m-2: lw_up, lw_down, sw_up, sw_down
 *   heating[n_columns][2][n_levels]     K/day: LW, SW
 * Inputs are read in place (no copy); feature order and units are in the artifact's emulator.json.
 */
#ifndef SUBGRID_EMULATOR_H
#define SUBGRID_EMULATOR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct subgrid_emulator subgrid_emulator;

enum subgrid_status {
  SUBGRID_OK = 0,
  SUBGRID_ERROR_ARGUMENT = 1, /* null handle or pointer, thread count < 1, no columns */
  SUBGRID_ERROR_LOAD = 2,     /* file missing or not a subgrid TorchScript emulator */
  SUBGRID_ERROR_SHAPE = 3,    /* level or feature count differs from the model's */
  SUBGRID_ERROR_INPUT = 4,    /* NaN or Inf in an input */
  SUBGRID_ERROR_RUNTIME = 5   /* LibTorch failed while computing */
};

/* Load the TorchScript artifact at `path` (emulator.pt) for hosts with `n_levels` layers, set
 * LibTorch's intra-op thread count to `n_threads` (process-wide) and warm the model up. */
int subgrid_emulator_init(const char* path, int n_levels, int n_threads, subgrid_emulator** handle,
                          char* message, int message_length);

/* Fluxes and heating rates of `n_columns` columns, written into the caller's `fluxes`, `heating`. */
int subgrid_emulator_compute(subgrid_emulator* handle, int n_columns, int n_levels, int n_level_features,
                             int n_column_features, const float* level_inputs, const float* column_inputs,
                             const float* pressure_interface_Pa, float* fluxes, float* heating, char* message,
                             int message_length);

/* Free the emulator and set *handle to NULL; a NULL handle is accepted. */
int subgrid_emulator_finalize(subgrid_emulator** handle);

#ifdef __cplusplus
}
#endif

#endif
