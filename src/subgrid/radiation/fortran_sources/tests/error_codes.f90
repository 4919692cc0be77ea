!> The emulator's failure modes return status codes and messages, and the program carries on.
!>
!>   error_codes MODEL.pt N_LEVELS
!>
!> Prints one line per case, "case: status <n>: <message>", and ends with an error stop if a
!> status differs from the expected one or the good call after the failures does not succeed.
program error_codes
  use, intrinsic :: iso_c_binding, only: c_float
  use, intrinsic :: ieee_arithmetic, only: ieee_quiet_nan, ieee_value
  use subgrid_emulator
  implicit none

  integer, parameter :: N_COLUMNS = 4
  character(len=4096) :: model_path, argument
  character(len=1024) :: message
  integer :: n_levels, status, k, failures
  real(c_float), allocatable :: level_inputs(:, :, :), column_inputs(:, :), p_interface(:, :)
  real(c_float), allocatable :: fluxes(:, :, :), heating(:, :, :), short_levels(:, :, :), short_fluxes(:, :, :)
  real(c_float), allocatable :: short_heating(:, :, :), short_pressure(:, :)
  type(radiation_emulator) :: emulator

  call get_command_argument(1, model_path)
  call get_command_argument(2, argument)
  read (argument, *) n_levels
  failures = 0

  allocate (level_inputs(n_levels, SUBGRID_N_LEVEL_FEATURES, N_COLUMNS), column_inputs(SUBGRID_N_COLUMN_FEATURES, N_COLUMNS))
  allocate (p_interface(n_levels + 1, N_COLUMNS))
  allocate (fluxes(n_levels + 1, SUBGRID_N_FLUXES, N_COLUMNS), heating(n_levels, SUBGRID_N_HEATING_RATES, N_COLUMNS))
  level_inputs = 1.0
  column_inputs = 1.0
  do k = 1, n_levels + 1
    p_interface(k, :) = 1.0e5 - (1.0e5 - 20.0) * real(k - 1) / real(n_levels)
  end do

  call emulator%compute(level_inputs, column_inputs, p_interface, fluxes, heating, status, message)
  call expect('compute_before_init', SUBGRID_ERROR_ARGUMENT)
  call emulator%init('no/such/emulator.pt', n_levels, status, message)
  call expect('missing_file', SUBGRID_ERROR_LOAD)
  call emulator%init(trim(model_path), n_levels + 1, status, message)
  call expect('wrong_level_count_at_init', SUBGRID_ERROR_SHAPE)
  call emulator%init(trim(model_path), n_levels, status, message, threads=0)
  call expect('zero_threads', SUBGRID_ERROR_ARGUMENT)

  call emulator%init(trim(model_path), n_levels, status, message)
  call expect('init', SUBGRID_OK)

  level_inputs(5, 2, 3) = ieee_value(1.0_c_float, ieee_quiet_nan)
  call emulator%compute(level_inputs, column_inputs, p_interface, fluxes, heating, status, message)
  call expect('nan_input', SUBGRID_ERROR_INPUT)
  level_inputs(5, 2, 3) = 1.0

  allocate (short_levels(n_levels - 1, SUBGRID_N_LEVEL_FEATURES, N_COLUMNS), short_pressure(n_levels, N_COLUMNS))
  allocate (short_fluxes(n_levels, SUBGRID_N_FLUXES, N_COLUMNS), short_heating(n_levels - 1, SUBGRID_N_HEATING_RATES, N_COLUMNS))
  short_levels = 1.0
  short_pressure = p_interface(:n_levels, :)
  call emulator%compute(short_levels, column_inputs, short_pressure, short_fluxes, short_heating, status, message)
  call expect('wrong_level_count_at_compute', SUBGRID_ERROR_SHAPE)
  call emulator%compute(level_inputs, column_inputs, p_interface, short_fluxes, heating, status, message)
  call expect('wrong_output_shape', SUBGRID_ERROR_SHAPE)

  call emulator%compute(level_inputs, column_inputs, p_interface, fluxes, heating, status, message)
  call expect('compute_after_errors', SUBGRID_OK)
  if (status == SUBGRID_OK .and. .not. all(fluxes == fluxes)) then
    write (*, '(a)') 'compute_after_errors: non-finite output'
    failures = failures + 1
  end if
  call emulator%finalize()
  call emulator%finalize()

  if (failures > 0) error stop 1
  write (*, '(a)') 'all cases as expected'

contains

  subroutine expect(name, expected)
    character(len=*), intent(in) :: name
    integer, intent(in) :: expected
    write (*, '(a, a, i0, a, a)') name, ': status ', status, ': ', trim(message)
    if (status /= expected) then
      write (*, '(a, a, i0)') name, ': expected status ', expected
      failures = failures + 1
    end if
  end subroutine expect

end program error_codes
