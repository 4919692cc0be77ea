!> Example 01: a host hands its columns to the radiation emulator and writes back what it returns.
!>
!>   radiation_columns ARTIFACT COLUMNS.bin OUTPUTS.bin [THREADS [EXPECTED.bin]]
!>
!> ARTIFACT: the exported directory (its emulator.json picks TorchScript or AOTInductor) or model file.
!> COLUMNS.bin (written by subgrid.radiation.fortran.write_columns; native byte order, stream access):
!>   int32 n_columns, n_levels, n_level_features, n_column_features
!>   real32 level_inputs(n_levels, n_level_features, n_columns)
!>   real32 column_inputs(n_column_features, n_columns)
!>   real32 p_interface(n_levels + 1, n_columns)
!> OUTPUTS.bin (read by subgrid.radiation.fortran.read_outputs):
!>   int32 n_columns, n_levels
!>   real32 fluxes(n_levels + 1, 4, n_columns), heating(n_levels, 2, n_columns)
!> EXPECTED.bin (optional, same format: the Python model's outputs): the program then checks its
!> fluxes against them, to 1e-5 of each column's largest flux, and heating rates to 1e-3 of the
!> column's largest, and ends with exit code 10 if they differ.
!>
!> On an emulator error the program prints the status and message and ends with the status as
!> its exit code: the library reports, the host decides.
program radiation_columns
  use, intrinsic :: iso_c_binding, only: c_float
  use, intrinsic :: iso_fortran_env, only: error_unit, int32
  use subgrid_emulator, only: radiation_emulator, SUBGRID_OK
  implicit none

  character(len=4096) :: model_path, columns_path, outputs_path, expected_path, argument
  character(len=1024) :: message
  integer(int32) :: header(4)
  integer :: n_columns, n_levels, threads, status, unit
  real(c_float), allocatable :: level_inputs(:, :, :), column_inputs(:, :), p_interface(:, :)
  real(c_float), allocatable :: fluxes(:, :, :), heating(:, :, :)
  type(radiation_emulator) :: emulator

  if (command_argument_count() < 3) then
    write (error_unit, '(a)') 'usage: radiation_columns ARTIFACT COLUMNS.bin OUTPUTS.bin [THREADS [EXPECTED.bin]]'
    error stop 1
  end if
  call get_command_argument(1, model_path)
  call get_command_argument(2, columns_path)
  call get_command_argument(3, outputs_path)
  threads = 1
  if (command_argument_count() >= 4) then
    call get_command_argument(4, argument)
    read (argument, *) threads
  end if
  expected_path = ''
  if (command_argument_count() >= 5) call get_command_argument(5, expected_path)

  open (newunit=unit, file=trim(columns_path), access='stream', form='unformatted', status='old', action='read')
  read (unit) header
  n_columns = header(1)
  n_levels = header(2)
  allocate (level_inputs(n_levels, header(3), n_columns), column_inputs(header(4), n_columns))
  allocate (p_interface(n_levels + 1, n_columns))
  read (unit) level_inputs, column_inputs, p_interface
  close (unit)

  call emulator%init(trim(model_path), n_levels, status, message, threads=threads)
  call check('init')

  ! The output sizes come from the emulator, not from constants in the host.
  allocate (fluxes(n_levels + 1, emulator%n_fluxes(), n_columns), heating(n_levels, emulator%n_heating_rates(), n_columns))
  call emulator%compute(level_inputs, column_inputs, p_interface, fluxes, heating, status, message)
  call check('compute')
  write (*, '(a, a)') 'radiation_columns: backend ', trim(emulator%backend())
  call emulator%finalize()

  open (newunit=unit, file=trim(outputs_path), access='stream', form='unformatted', status='replace', action='write')
  write (unit) int(n_columns, int32), int(n_levels, int32), fluxes, heating
  close (unit)
  write (*, '(a, i0, a, i0, a)') 'radiation_columns: ', n_columns, ' columns of ', n_levels, ' levels done'
  if (len_trim(expected_path) > 0) call compare()

contains

  subroutine check(step)
    character(len=*), intent(in) :: step
    if (status /= SUBGRID_OK) then
      write (error_unit, '(a, a, a, i0, a, a)') 'radiation_columns: ', step, ' failed with status ', status, &
        ': ', trim(message)
      call emulator%finalize()
      error stop status
    end if
  end subroutine check

  subroutine compare()
    real(c_float), allocatable :: expected_fluxes(:, :, :), expected_heating(:, :, :)
    integer(int32) :: sizes(2)
    real :: flux_error, heating_error
    integer :: column

    allocate (expected_fluxes, mold=fluxes)
    allocate (expected_heating, mold=heating)
    open (newunit=unit, file=trim(expected_path), access='stream', form='unformatted', status='old', action='read')
    read (unit) sizes, expected_fluxes, expected_heating
    close (unit)
    flux_error = 0.0
    heating_error = 0.0
    do column = 1, n_columns
      flux_error = max(flux_error, maxval(abs(fluxes(:, :, column) - expected_fluxes(:, :, column))) / &
                                   max(1.0, maxval(abs(expected_fluxes(:, :, column)))))
      heating_error = max(heating_error, maxval(abs(heating(:, :, column) - expected_heating(:, :, column))) / &
                                         max(1.0, maxval(abs(expected_heating(:, :, column)))))
    end do
    write (*, '(a, es10.3, a, es10.3)') 'radiation_columns: against expected: fluxes ', flux_error, &
      ', heating ', heating_error
    if (flux_error > 1.0e-5 .or. heating_error > 1.0e-3) error stop 10
  end subroutine compare

end program radiation_columns
