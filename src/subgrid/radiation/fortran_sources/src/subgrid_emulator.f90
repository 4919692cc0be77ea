!> Fortran interface to subgrid's radiation emulator (C ABI in subgrid_emulator.h, LibTorch behind it).
!>
!> Arrays are in the host's natural column-major layout, surface first, single precision:
!>   level_inputs(n_levels, SUBGRID_N_LEVEL_FEATURES, n_columns)
!>   column_inputs(SUBGRID_N_COLUMN_FEATURES, n_columns)
!>   p_interface(n_levels + 1, n_columns)                      Pa
!>   fluxes(n_levels + 1, SUBGRID_N_FLUXES, n_columns)         W m-2: lw_up, lw_down, sw_up, sw_down
!>   heating(n_levels, SUBGRID_N_HEATING_RATES, n_columns)     K/day: LW, SW
!> They are handed to LibTorch without copies (the memory of a Fortran (a, b, c) array is a
!> row-major [c, b, a] tensor). Feature order and units: the artifact's emulator.json.
!>
!> Every procedure returns a status (SUBGRID_OK = 0) and, optionally, a message; none stops the
!> program, so the host decides what to do (e.g. fall back to its own radiation scheme).
module subgrid_emulator
  use, intrinsic :: iso_c_binding, only: c_associated, c_char, c_float, c_int, c_loc, c_null_char, c_null_ptr, c_ptr
  implicit none
  private

  integer, parameter, public :: SUBGRID_OK = 0
  integer, parameter, public :: SUBGRID_ERROR_ARGUMENT = 1
  integer, parameter, public :: SUBGRID_ERROR_LOAD = 2
  integer, parameter, public :: SUBGRID_ERROR_SHAPE = 3
  integer, parameter, public :: SUBGRID_ERROR_INPUT = 4
  integer, parameter, public :: SUBGRID_ERROR_RUNTIME = 5

  integer, parameter, public :: SUBGRID_N_LEVEL_FEATURES = 9
  integer, parameter, public :: SUBGRID_N_COLUMN_FEATURES = 7
  integer, parameter, public :: SUBGRID_N_FLUXES = 4
  integer, parameter, public :: SUBGRID_N_HEATING_RATES = 2

  integer, parameter :: MESSAGE_LENGTH = 1024

  !> A loaded emulator. Load once (init), call compute every radiation step, finalize at the end.
  type, public :: radiation_emulator
    private
    type(c_ptr) :: handle = c_null_ptr
  contains
    procedure :: init => emulator_init
    procedure :: compute => emulator_compute
    procedure :: finalize => emulator_finalize
  end type radiation_emulator

  interface
    integer(c_int) function c_init(path, n_levels, n_threads, handle, message, message_length) &
        bind(c, name="subgrid_emulator_init")
      import :: c_char, c_int, c_ptr
      character(kind=c_char), intent(in) :: path(*)
      integer(c_int), value :: n_levels, n_threads
      type(c_ptr), intent(out) :: handle
      character(kind=c_char), intent(out) :: message(*)
      integer(c_int), value :: message_length
    end function c_init

    integer(c_int) function c_compute(handle, n_columns, n_levels, n_level_features, n_column_features, &
        level_inputs, column_inputs, p_interface, fluxes, heating, message, message_length) &
        bind(c, name="subgrid_emulator_compute")
      import :: c_char, c_int, c_ptr
      type(c_ptr), value :: handle
      integer(c_int), value :: n_columns, n_levels, n_level_features, n_column_features
      type(c_ptr), value :: level_inputs, column_inputs, p_interface, fluxes, heating
      character(kind=c_char), intent(out) :: message(*)
      integer(c_int), value :: message_length
    end function c_compute

    integer(c_int) function c_finalize(handle) bind(c, name="subgrid_emulator_finalize")
      import :: c_int, c_ptr
      type(c_ptr), intent(inout) :: handle
    end function c_finalize
  end interface

contains

  !> Load the TorchScript artifact `path` (emulator.pt) for `n_levels` layers and warm it up.
  !> `threads` (default 1) sets LibTorch's intra-op threads for the whole process.
  subroutine emulator_init(self, path, n_levels, status, message, threads)
    class(radiation_emulator), intent(inout) :: self
    character(len=*), intent(in) :: path
    integer, intent(in) :: n_levels
    integer, intent(out) :: status
    character(len=*), intent(out), optional :: message
    integer, intent(in), optional :: threads
    character(kind=c_char) :: buffer(MESSAGE_LENGTH)
    integer :: n_threads

    n_threads = 1
    if (present(threads)) n_threads = threads
    call self%finalize()
    status = c_init(trim(path) // c_null_char, n_levels, n_threads, self%handle, buffer, MESSAGE_LENGTH)
    if (present(message)) message = from_c(buffer)
  end subroutine emulator_init

  !> Fluxes (W m-2) and heating rates (K/day) of every column; array shapes as in the module header.
  subroutine emulator_compute(self, level_inputs, column_inputs, p_interface, fluxes, heating, status, message)
    class(radiation_emulator), intent(in) :: self
    real(c_float), intent(in), target, contiguous :: level_inputs(:, :, :), column_inputs(:, :), p_interface(:, :)
    real(c_float), intent(out), target, contiguous :: fluxes(:, :, :), heating(:, :, :)
    integer, intent(out) :: status
    character(len=*), intent(out), optional :: message
    character(kind=c_char) :: buffer(MESSAGE_LENGTH)
    character(len=MESSAGE_LENGTH) :: text
    integer :: n_levels, n_columns

    n_levels = size(level_inputs, 1)
    n_columns = size(level_inputs, 3)
    text = shape_problem()
    if (len_trim(text) > 0) then
      status = SUBGRID_ERROR_SHAPE
      if (present(message)) message = text
      return
    end if
    status = c_compute(self%handle, n_columns, n_levels, size(level_inputs, 2), size(column_inputs, 1), &
                       c_loc(level_inputs), c_loc(column_inputs), c_loc(p_interface), c_loc(fluxes), &
                       c_loc(heating), buffer, MESSAGE_LENGTH)
    if (present(message)) message = from_c(buffer)

  contains

    !> Which array disagrees with level_inputs(n_levels, :, n_columns), or blank.
    function shape_problem() result(problem)
      character(len=MESSAGE_LENGTH) :: problem

      problem = mismatch('column_inputs', shape(column_inputs), [SUBGRID_N_COLUMN_FEATURES, n_columns])
      if (len_trim(problem) == 0) problem = mismatch('p_interface', shape(p_interface), [n_levels + 1, n_columns])
      if (len_trim(problem) == 0) &
        problem = mismatch('fluxes', shape(fluxes), [n_levels + 1, SUBGRID_N_FLUXES, n_columns])
      if (len_trim(problem) == 0) &
        problem = mismatch('heating', shape(heating), [n_levels, SUBGRID_N_HEATING_RATES, n_columns])
    end function shape_problem

  end subroutine emulator_compute

  !> Free the emulator (safe to call twice or on an emulator never initialised).
  subroutine emulator_finalize(self)
    class(radiation_emulator), intent(inout) :: self
    integer(c_int) :: ignored

    if (c_associated(self%handle)) ignored = c_finalize(self%handle)
    self%handle = c_null_ptr
  end subroutine emulator_finalize

  !> "name: shape (a,b), expected (c,d)" if the shapes differ, else blank.
  function mismatch(name, actual, expected) result(problem)
    character(len=*), intent(in) :: name
    integer, intent(in) :: actual(:), expected(:)
    character(len=MESSAGE_LENGTH) :: problem

    problem = ''
    if (all(actual == expected)) return
    problem = name // ': shape ' // trim(dims(actual)) // ', expected ' // trim(dims(expected)) // &
      ' (level_inputs sets the level and column counts)'
  end function mismatch

  !> "(a,b,c)"
  function dims(values) result(text)
    integer, intent(in) :: values(:)
    character(len=96) :: text
    character(len=16) :: item
    integer :: i

    text = '('
    do i = 1, size(values)
      write (item, '(i0)') values(i)
      text = trim(text) // trim(item)
      if (i < size(values)) text = trim(text) // ','
    end do
    text = trim(text) // ')'
  end function dims

  !> A Fortran string from a NUL-terminated C buffer.
  pure function from_c(buffer) result(text)
    character(kind=c_char), intent(in) :: buffer(:)
    character(len=size(buffer)) :: text
    integer :: i

    text = ''
    do i = 1, size(buffer)
      if (buffer(i) == c_null_char) exit
      text(i:i) = buffer(i)
    end do
  end function from_c

end module subgrid_emulator
