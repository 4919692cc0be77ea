!> Fortran interface to subgrid's radiation emulator (C ABI in subgrid_emulator.h, LibTorch behind it).
!>
!> Arrays are in the host's natural column-major layout, surface first, single precision, with the
!> sizes the loaded emulator reports (n_level_features(), n_column_features(), n_fluxes(),
!> n_heating_rates(): ask the handle, do not hard-code them):
!>   level_inputs(n_levels, n_level_features, n_columns)
!>   column_inputs(n_column_features, n_columns)
!>   p_interface(n_levels + 1, n_columns)                  Pa
!>   fluxes(n_levels + 1, n_fluxes, n_columns)             W m-2: lw_up, lw_down, sw_up, sw_down
!>   heating(n_levels, n_heating_rates, n_columns)         K/day: LW, SW
!> They are handed to LibTorch without copies (the memory of a Fortran (a, b, c) array is a
!> row-major [c, b, a] tensor). Feature order and units: the artifact's emulator.json.
module subgrid_radiation
  use, intrinsic :: iso_c_binding, only: c_associated, c_char, c_float, c_int, c_loc, c_null_char, c_null_ptr, c_ptr
  use subgrid_common
  implicit none
  private

  !> A loaded radiation emulator. Load once (init), call compute every radiation step, finalize at the end.
  type, public :: radiation_emulator
    private
    type(c_ptr) :: handle = c_null_ptr
  contains
    procedure :: init => radiation_init
    procedure :: compute => radiation_compute
    procedure :: finalize => radiation_finalize
    procedure :: n_levels => radiation_n_levels
    procedure :: n_level_features => radiation_n_level_features
    procedure :: n_column_features => radiation_n_column_features
    procedure :: n_fluxes => radiation_n_fluxes
    procedure :: n_heating_rates => radiation_n_heating_rates
    procedure :: backend => radiation_backend
  end type radiation_emulator

  interface
    integer(c_int) function c_init(path, n_levels, n_threads, handle, message, message_length) &
        bind(c, name="subgrid_radiation_init")
      import :: c_char, c_int, c_ptr
      character(kind=c_char), intent(in) :: path(*)
      integer(c_int), value :: n_levels, n_threads
      type(c_ptr), intent(out) :: handle
      character(kind=c_char), intent(out) :: message(*)
      integer(c_int), value :: message_length
    end function c_init

    integer(c_int) function c_shape(handle, n_levels, n_level_features, n_column_features, n_fluxes, &
        n_heating_rates) bind(c, name="subgrid_radiation_shape")
      import :: c_int, c_ptr
      type(c_ptr), value :: handle
      integer(c_int), intent(out) :: n_levels, n_level_features, n_column_features, n_fluxes, n_heating_rates
    end function c_shape

    integer(c_int) function c_backend(handle, name, length) bind(c, name="subgrid_radiation_backend")
      import :: c_char, c_int, c_ptr
      type(c_ptr), value :: handle
      character(kind=c_char), intent(out) :: name(*)
      integer(c_int), value :: length
    end function c_backend

    integer(c_int) function c_compute(handle, n_columns, n_levels, n_level_features, n_column_features, &
        level_inputs, column_inputs, p_interface, fluxes, heating, message, message_length) &
        bind(c, name="subgrid_radiation_compute")
      import :: c_char, c_int, c_ptr
      type(c_ptr), value :: handle
      integer(c_int), value :: n_columns, n_levels, n_level_features, n_column_features
      type(c_ptr), value :: level_inputs, column_inputs, p_interface, fluxes, heating
      character(kind=c_char), intent(out) :: message(*)
      integer(c_int), value :: message_length
    end function c_compute

    integer(c_int) function c_finalize(handle) bind(c, name="subgrid_radiation_finalize")
      import :: c_int, c_ptr
      type(c_ptr), intent(inout) :: handle
    end function c_finalize
  end interface

contains

  !> Load the artifact `path` (directory, emulator.json or model file; the sidecar's format picks
  !> TorchScript or AOTInductor) for `n_levels` layers and warm it up.
  !> `threads` (default 1) sets LibTorch's intra-op threads for the whole process.
  subroutine radiation_init(self, path, n_levels, status, message, threads)
    class(radiation_emulator), intent(inout) :: self
    character(len=*), intent(in) :: path
    integer, intent(in) :: n_levels
    integer, intent(out) :: status
    character(len=*), intent(out), optional :: message
    integer, intent(in), optional :: threads
    character(kind=c_char) :: buffer(SUBGRID_MESSAGE_LENGTH)
    integer :: n_threads

    n_threads = 1
    if (present(threads)) n_threads = threads
    call self%finalize()
    status = c_init(trim(path) // c_null_char, n_levels, n_threads, self%handle, buffer, SUBGRID_MESSAGE_LENGTH)
    if (present(message)) message = from_c(buffer)
  end subroutine radiation_init

  !> The sizes the loaded emulator expects (0 before init).
  integer function radiation_n_levels(self) result(n)
    class(radiation_emulator), intent(in) :: self
    integer :: sizes(5)
    sizes = shape_of(self)
    n = sizes(1)
  end function radiation_n_levels

  integer function radiation_n_level_features(self) result(n)
    class(radiation_emulator), intent(in) :: self
    integer :: sizes(5)
    sizes = shape_of(self)
    n = sizes(2)
  end function radiation_n_level_features

  integer function radiation_n_column_features(self) result(n)
    class(radiation_emulator), intent(in) :: self
    integer :: sizes(5)
    sizes = shape_of(self)
    n = sizes(3)
  end function radiation_n_column_features

  integer function radiation_n_fluxes(self) result(n)
    class(radiation_emulator), intent(in) :: self
    integer :: sizes(5)
    sizes = shape_of(self)
    n = sizes(4)
  end function radiation_n_fluxes

  integer function radiation_n_heating_rates(self) result(n)
    class(radiation_emulator), intent(in) :: self
    integer :: sizes(5)
    sizes = shape_of(self)
    n = sizes(5)
  end function radiation_n_heating_rates

  !> "torchscript" or "aoti" (blank before init).
  function radiation_backend(self) result(name)
    class(radiation_emulator), intent(in) :: self
    character(len=32) :: name
    character(kind=c_char) :: buffer(32)
    name = ''
    if (.not. c_associated(self%handle)) return
    if (c_backend(self%handle, buffer, 32) == SUBGRID_OK) name = from_c(buffer)
  end function radiation_backend

  function shape_of(self) result(sizes)
    class(radiation_emulator), intent(in) :: self
    integer :: sizes(5)
    integer(c_int) :: values(5)
    sizes = 0
    if (.not. c_associated(self%handle)) return
    if (c_shape(self%handle, values(1), values(2), values(3), values(4), values(5)) == SUBGRID_OK) sizes = values
  end function shape_of

  !> Fluxes (W m-2) and heating rates (K/day) of every column; array shapes as in the module header.
  subroutine radiation_compute(self, level_inputs, column_inputs, p_interface, fluxes, heating, status, message)
    class(radiation_emulator), intent(in) :: self
    real(c_float), intent(in), target, contiguous :: level_inputs(:, :, :), column_inputs(:, :), p_interface(:, :)
    real(c_float), intent(out), target, contiguous :: fluxes(:, :, :), heating(:, :, :)
    integer, intent(out) :: status
    character(len=*), intent(out), optional :: message
    character(kind=c_char) :: buffer(SUBGRID_MESSAGE_LENGTH)
    character(len=SUBGRID_MESSAGE_LENGTH) :: text
    integer :: n_levels, n_columns, sizes(5)

    n_levels = size(level_inputs, 1)
    n_columns = size(level_inputs, 3)
    if (c_associated(self%handle)) then
      sizes = shape_of(self)
      text = shape_problem()
      if (len_trim(text) > 0) then
        status = SUBGRID_ERROR_SHAPE
        if (present(message)) message = text
        return
      end if
    end if
    status = c_compute(self%handle, n_columns, n_levels, size(level_inputs, 2), size(column_inputs, 1), &
                       c_loc(level_inputs), c_loc(column_inputs), c_loc(p_interface), c_loc(fluxes), &
                       c_loc(heating), buffer, SUBGRID_MESSAGE_LENGTH)
    if (present(message)) message = from_c(buffer)

  contains

    !> Which array disagrees with level_inputs(n_levels, :, n_columns) and the emulator's sizes, or blank.
    function shape_problem() result(problem)
      character(len=SUBGRID_MESSAGE_LENGTH) :: problem
      character(len=*), parameter :: hint = 'level_inputs sets the level and column counts'

      problem = mismatch('column_inputs', shape(column_inputs), [sizes(3), n_columns], hint)
      if (len_trim(problem) == 0) problem = mismatch('p_interface', shape(p_interface), [n_levels + 1, n_columns], hint)
      if (len_trim(problem) == 0) &
        problem = mismatch('fluxes', shape(fluxes), [n_levels + 1, sizes(4), n_columns], hint)
      if (len_trim(problem) == 0) &
        problem = mismatch('heating', shape(heating), [n_levels, sizes(5), n_columns], hint)
    end function shape_problem

  end subroutine radiation_compute

  !> Free the emulator (safe to call twice or on an emulator never initialised).
  subroutine radiation_finalize(self)
    class(radiation_emulator), intent(inout) :: self
    integer(c_int) :: ignored

    if (c_associated(self%handle)) ignored = c_finalize(self%handle)
    self%handle = c_null_ptr
  end subroutine radiation_finalize

end module subgrid_radiation
