!> Example 02: a host calls the gravity-wave column drag emulator on its wind profiles.
!>
!>   gw_drag_columns ARTIFACT COLUMNS.bin DRAG.bin [EXPECTED.bin]
!>
!> ARTIFACT: the exported drag emulator (directory, emulator.json or model file).
!> COLUMNS.bin (subgrid.gravity_waves.column.export.write_drag_columns; native byte order, stream access):
!>   int32 n_columns, n_levels
!>   real32 u(n_levels, n_columns) m s-1, source_flux(n_columns) Pa, spectral_width(n_columns) m s-1
!> DRAG.bin: int32 n_columns, n_levels; real32 drag(n_levels, n_columns) m s-1 day-1
!> EXPECTED.bin (optional, DRAG.bin's format: the Python model's drag): checked to 1e-5 of each
!> column's largest drag (plus 1e-6 m s-1 day-1), exit code 10 if it differs.
!> On an emulator error: the status as exit code, the message on stderr.
program gw_drag_columns
  use, intrinsic :: iso_c_binding, only: c_float
  use, intrinsic :: iso_fortran_env, only: error_unit, int32
  use subgrid_emulator, only: gw_drag_emulator, SUBGRID_OK
  implicit none

  character(len=4096) :: model_path, columns_path, drag_path, expected_path
  character(len=1024) :: message
  integer(int32) :: header(2)
  integer :: n_columns, n_levels, status, unit
  real(c_float), allocatable :: u(:, :), source_flux(:), spectral_width(:), drag(:, :)
  type(gw_drag_emulator) :: emulator

  if (command_argument_count() < 3) then
    write (error_unit, '(a)') 'usage: gw_drag_columns ARTIFACT COLUMNS.bin DRAG.bin [EXPECTED.bin]'
    error stop 1
  end if
  call get_command_argument(1, model_path)
  call get_command_argument(2, columns_path)
  call get_command_argument(3, drag_path)
  expected_path = ''
  if (command_argument_count() >= 4) call get_command_argument(4, expected_path)

  open (newunit=unit, file=trim(columns_path), access='stream', form='unformatted', status='old', action='read')
  read (unit) header
  n_columns = header(1)
  n_levels = header(2)
  allocate (u(n_levels, n_columns), source_flux(n_columns), spectral_width(n_columns), drag(n_levels, n_columns))
  read (unit) u, source_flux, spectral_width
  close (unit)

  call emulator%init(trim(model_path), n_levels, status, message)
  call check('init')
  call emulator%compute(u, source_flux, spectral_width, drag, status, message)
  call check('compute')
  call emulator%finalize()

  open (newunit=unit, file=trim(drag_path), access='stream', form='unformatted', status='replace', action='write')
  write (unit) int(n_columns, int32), int(n_levels, int32), drag
  close (unit)
  write (*, '(a, i0, a, i0, a)') 'gw_drag_columns: ', n_columns, ' columns of ', n_levels, ' levels done'
  if (len_trim(expected_path) > 0) call compare()

contains

  subroutine check(step)
    character(len=*), intent(in) :: step
    if (status /= SUBGRID_OK) then
      write (error_unit, '(a, a, a, i0, a, a)') 'gw_drag_columns: ', step, ' failed with status ', status, &
        ': ', trim(message)
      call emulator%finalize()
      error stop status
    end if
  end subroutine check

  subroutine compare()
    real(c_float), allocatable :: expected(:, :)
    integer(int32) :: sizes(2)
    real :: worst
    integer :: column

    allocate (expected, mold=drag)
    open (newunit=unit, file=trim(expected_path), access='stream', form='unformatted', status='old', action='read')
    read (unit) sizes, expected
    close (unit)
    worst = 0.0
    do column = 1, n_columns
      worst = max(worst, maxval(abs(drag(:, column) - expected(:, column))) / &
                         (1.0e-5 * maxval(abs(expected(:, column))) + 1.0e-6))
    end do
    write (*, '(a, es10.3)') 'gw_drag_columns: largest difference / tolerance ', worst
    if (worst > 1.0) error stop 10
  end subroutine compare

end program gw_drag_columns
