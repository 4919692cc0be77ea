!> The emulator's failure modes return status codes and messages, and the program carries on.
!>
!>   error_codes ARTIFACT N_LEVELS [CORRUPTED]
!>
!> ARTIFACT: an exported radiation emulator (TorchScript or AOTInductor). CORRUPTED (optional): an
!> artifact whose model file is damaged, which must give SUBGRID_ERROR_LOAD and a message.
!> Prints one line per case, "case: status <n>: <message>", and ends with an error stop if a
!> status differs from the expected one or the good call after the failures does not succeed.
program error_codes
  use, intrinsic :: iso_c_binding, only: c_float
  use, intrinsic :: ieee_arithmetic, only: ieee_quiet_nan, ieee_value
  use subgrid_emulator
  implicit none

  integer, parameter :: N_COLUMNS = 4
  character(len=4096) :: model_path, argument, corrupted_path
  character(len=1024) :: message
  integer :: n_levels, status, k, failures, n_level_features, n_column_features, n_fluxes, n_heating_rates
  real(c_float), allocatable :: level_inputs(:, :, :), column_inputs(:, :), p_interface(:, :)
  real(c_float), allocatable :: fluxes(:, :, :), heating(:, :, :), short_levels(:, :, :), short_fluxes(:, :, :)
  real(c_float), allocatable :: short_heating(:, :, :), short_pressure(:, :)
  type(radiation_emulator) :: emulator

  call get_command_argument(1, model_path)
  call get_command_argument(2, argument)
  read (argument, *) n_levels
  corrupted_path = ''
  if (command_argument_count() >= 3) call get_command_argument(3, corrupted_path)
  failures = 0
  ! Sizes for the calls before init: the emulator's own come from the handle once it is loaded.
  n_level_features = 9
  n_column_features = 7
  n_fluxes = 4
  n_heating_rates = 2

  allocate (level_inputs(n_levels, n_level_features, N_COLUMNS), column_inputs(n_column_features, N_COLUMNS))
  allocate (p_interface(n_levels + 1, N_COLUMNS))
  allocate (fluxes(n_levels + 1, n_fluxes, N_COLUMNS), heating(n_levels, n_heating_rates, N_COLUMNS))
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

  if (len_trim(corrupted_path) > 0) then
    call emulator%init(trim(corrupted_path), n_levels, status, message)
    call expect('corrupted_artifact', SUBGRID_ERROR_LOAD)
  end if
  call emulator%init(trim(model_path), n_levels, status, message)
  call expect('init', SUBGRID_OK)
  write (*, '(a, a, 5(a, i0))') 'backend ', trim(emulator%backend()), ' levels ', emulator%n_levels(), &
    ' level_features ', emulator%n_level_features(), ' column_features ', emulator%n_column_features(), &
    ' fluxes ', emulator%n_fluxes(), ' heating_rates ', emulator%n_heating_rates()
  if (emulator%n_levels() /= n_levels .or. emulator%n_level_features() /= n_level_features .or. &
      emulator%n_column_features() /= n_column_features) then
    write (*, '(a)') 'sizes: the handle reports other sizes than the artifact has'
    failures = failures + 1
  end if

  level_inputs(5, 2, 3) = ieee_value(1.0_c_float, ieee_quiet_nan)
  call emulator%compute(level_inputs, column_inputs, p_interface, fluxes, heating, status, message)
  call expect('nan_input', SUBGRID_ERROR_INPUT)
  level_inputs(5, 2, 3) = 1.0

  allocate (short_levels(n_levels - 1, n_level_features, N_COLUMNS), short_pressure(n_levels, N_COLUMNS))
  allocate (short_fluxes(n_levels, n_fluxes, N_COLUMNS), short_heating(n_levels - 1, n_heating_rates, N_COLUMNS))
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
