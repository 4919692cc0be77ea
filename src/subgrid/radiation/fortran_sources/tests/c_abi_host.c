/* A host in plain C calling the radiation C ABI directly: the sizes asked of the handle, the
 * columns of COLUMNS.bin in, OUTPUTS.bin out (formats of examples/01_radiation_columns).
 *
 *   c_abi_host ARTIFACT COLUMNS.bin OUTPUTS.bin
 *
 * On a failure it prints "status N: message" and exits with N; it never crashes on a bad artifact.
 * Before loading it checks that NULL handles and pointers give SUBGRID_ERROR_ARGUMENT (exit 20 if not).
 */
#include "subgrid_emulator.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MESSAGE_LENGTH 1024

static int report(int status, const char* message) {
  printf("status %d: %s\n", status, message);
  return status;
}

int main(int argc, char** argv) {
  char message[MESSAGE_LENGTH];
  subgrid_radiation* radiation = NULL;
  int32_t header[4];
  int n_levels, n_level_features, n_column_features, n_fluxes, n_heating_rates, status;
  if (argc != 4) {
    fprintf(stderr, "usage: c_abi_host ARTIFACT COLUMNS.bin OUTPUTS.bin\n");
    return 1;
  }
  if (subgrid_radiation_compute(NULL, 1, 1, 1, 1, NULL, NULL, NULL, NULL, NULL, message, MESSAGE_LENGTH) !=
          SUBGRID_ERROR_ARGUMENT ||
      subgrid_radiation_init(NULL, 1, 1, &radiation, message, MESSAGE_LENGTH) != SUBGRID_ERROR_ARGUMENT ||
      subgrid_radiation_shape(NULL, &n_levels, NULL, NULL, NULL, NULL) != SUBGRID_ERROR_ARGUMENT ||
      subgrid_radiation_finalize(NULL) != SUBGRID_OK) {
    printf("NULL arguments were not refused\n");
    return 20;
  }

  FILE* file = fopen(argv[2], "rb");
  if (file == NULL || fread(header, sizeof header, 1, file) != 1) return report(1, "cannot read the columns file");
  const size_t n_columns = (size_t)header[0];
  n_levels = header[1];
  const size_t n_level_values = n_columns * (size_t)header[2] * (size_t)n_levels;
  const size_t n_column_values = n_columns * (size_t)header[3];
  const size_t n_pressures = n_columns * (size_t)(n_levels + 1);
  float* level = malloc(n_level_values * sizeof(float));
  float* column = malloc(n_column_values * sizeof(float));
  float* pressure = malloc(n_pressures * sizeof(float));
  if (fread(level, sizeof(float), n_level_values, file) != n_level_values ||
      fread(column, sizeof(float), n_column_values, file) != n_column_values ||
      fread(pressure, sizeof(float), n_pressures, file) != n_pressures) {
    return report(1, "truncated columns file");
  }
  fclose(file);

  status = subgrid_radiation_init(argv[1], n_levels, 1, &radiation, message, MESSAGE_LENGTH);
  if (status != SUBGRID_OK) return report(status, message);
  char backend[32];
  subgrid_radiation_backend(radiation, backend, sizeof backend);
  subgrid_radiation_shape(radiation, NULL, &n_level_features, &n_column_features, &n_fluxes, &n_heating_rates);
  printf("backend %s, %d level features, %d column features\n", backend, n_level_features, n_column_features);

  const size_t n_flux_values = n_columns * (size_t)n_fluxes * (size_t)(n_levels + 1);
  const size_t n_heating_values = n_columns * (size_t)n_heating_rates * (size_t)n_levels;
  float* fluxes = malloc(n_flux_values * sizeof(float));
  float* heating = malloc(n_heating_values * sizeof(float));
  status = subgrid_radiation_compute(radiation, (int)n_columns, n_levels, n_level_features, n_column_features, level,
                                     column, pressure, fluxes, heating, message, MESSAGE_LENGTH);
  subgrid_radiation_finalize(&radiation);
  if (status != SUBGRID_OK) return report(status, message);
  if (radiation != NULL) return report(20, "finalize did not clear the handle");

  file = fopen(argv[3], "wb");
  const int32_t sizes[2] = {(int32_t)n_columns, n_levels};
  fwrite(sizes, sizeof sizes, 1, file);
  fwrite(fluxes, sizeof(float), n_flux_values, file);
  fwrite(heating, sizeof(float), n_heating_values, file);
  fclose(file);
  printf("%zu columns done\n", n_columns);
  return 0;
}
