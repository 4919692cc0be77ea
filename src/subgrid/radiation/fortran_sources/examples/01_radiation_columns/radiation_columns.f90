!> Example 01: a host hands its columns to the radiation emulator and writes back what it returns.
!>
!>   radiation_columns MODEL.pt COLUMNS.bin OUTPUTS.bin [THREADS]
!>
!> COLUMNS.bin (written by subgrid.coupling.fortran.write_columns; native byte order, stream access):
!>   int32 n_columns, n_levels, n_level_features, n_column_features
!>   real32 level_inputs(n_levels, n_level_features, n_columns)
!>   real32 column_inputs(n_column_features, n_columns)
!>   real32 p_interface(n_levels + 1, n_columns)
!> OUTPUTS.bin (read by subgrid.coupling.fortran.read_outputs):
!>   int32 n_columns, n_levels
!>   real32 fluxes(n_levels + 1, 4, n_columns), heating(n_levels, 2, n_columns)
!>
!> On an emulator error the program prints the status and message and ends with the status as
!> its exit code: the library reports, the host decides.
program radiation_columns
  use, intrinsic :: iso_c_binding, only: c_float
  use, intrinsic :: iso_fortran_env, only: error_unit, int32
  use subgrid_emulator, only: radiation_emulator, SUBGRID_OK, SUBGRID_N_FLUXES, SUBGRID_N_HEATING_RATES
  implicit none

  character(len=4096) :: model_path, columns_path, outputs_path, argument
  character(len=1024) :: message
  integer(int32) :: header(4)
  integer :: n_columns, n_levels, threads, status, unit
  real(c_float), allocatable :: level_inputs(:, :, :), column_inputs(:, :), p_interface(:, :)
  real(c_float), allocatable :: fluxes(:, :, :), heating(:, :, :)
  type(radiation_emulator) :: emulator

  if (command_argument_count() < 3) then
    write (error_unit, '(a)') 'usage: radiation_columns MODEL.pt COLUMNS.bin OUTPUTS.bin [THREADS]'
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

  allocate (fluxes(n_levels + 1, SUBGRID_N_FLUXES, n_columns), heating(n_levels, SUBGRID_N_HEATING_RATES, n_columns))
  call emulator%compute(level_inputs, column_inputs, p_interface, fluxes, heating, status, message)
  call check('compute')
  call emulator%finalize()

  open (newunit=unit, file=trim(outputs_path), access='stream', form='unformatted', status='replace', action='write')
  write (unit) int(n_columns, int32), int(n_levels, int32), fluxes, heating
  close (unit)
  write (*, '(a, i0, a, i0, a)') 'radiation_columns: ', n_columns, ' columns of ', n_levels, ' levels done'

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

end program radiation_columns
