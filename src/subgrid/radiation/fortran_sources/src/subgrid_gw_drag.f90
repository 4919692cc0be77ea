!> Fortran interface to subgrid's gravity-wave column drag emulator (C ABI in subgrid_emulator.h).
!>
!> Column-major, surface first, single precision:
!>   u(n_levels, n_columns)          zonal wind, m s-1
!>   source_flux(n_columns)          the wave source's momentum flux, Pa
!>   spectral_width(n_columns)       the source spectrum's width, m s-1
!>   drag(n_levels, n_columns)       zonal drag, m s-1 day-1
!> n_levels comes from the loaded emulator (n_levels()).
module subgrid_gw_drag
  use, intrinsic :: iso_c_binding, only: c_associated, c_char, c_float, c_int, c_loc, c_null_char, c_null_ptr, c_ptr
  use subgrid_common
  implicit none
  private

  !> A loaded drag emulator. Load once (init), call compute every step, finalize at the end.
  type, public :: gw_drag_emulator
    private
    type(c_ptr) :: handle = c_null_ptr
  contains
    procedure :: init => drag_init
    procedure :: compute => drag_compute
    procedure :: finalize => drag_finalize
    procedure :: n_levels => drag_n_levels
  end type gw_drag_emulator

  interface
    integer(c_int) function c_init(path, n_levels, n_threads, handle, message, message_length) &
        bind(c, name="subgrid_gw_drag_init")
      import :: c_char, c_int, c_ptr
      character(kind=c_char), intent(in) :: path(*)
      integer(c_int), value :: n_levels, n_threads
      type(c_ptr), intent(out) :: handle
      character(kind=c_char), intent(out) :: message(*)
      integer(c_int), value :: message_length
    end function c_init

    integer(c_int) function c_shape(handle, n_levels) bind(c, name="subgrid_gw_drag_shape")
      import :: c_int, c_ptr
      type(c_ptr), value :: handle
      integer(c_int), intent(out) :: n_levels
    end function c_shape

    integer(c_int) function c_compute(handle, n_columns, n_levels, u, source_flux, spectral_width, drag, &
        message, message_length) bind(c, name="subgrid_gw_drag_compute")
      import :: c_char, c_int, c_ptr
      type(c_ptr), value :: handle
      integer(c_int), value :: n_columns, n_levels
      type(c_ptr), value :: u, source_flux, spectral_width, drag
      character(kind=c_char), intent(out) :: message(*)
      integer(c_int), value :: message_length
    end function c_compute

    integer(c_int) function c_finalize(handle) bind(c, name="subgrid_gw_drag_finalize")
      import :: c_int, c_ptr
      type(c_ptr), intent(inout) :: handle
    end function c_finalize
  end interface

contains

  !> Load the drag emulator artifact `path` for `n_levels` levels and warm it up (threads: as radiation_emulator).
  subroutine drag_init(self, path, n_levels, status, message, threads)
    class(gw_drag_emulator), intent(inout) :: self
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
  end subroutine drag_init

  !> The level count of the loaded emulator (0 before init).
  integer function drag_n_levels(self) result(n)
    class(gw_drag_emulator), intent(in) :: self
    integer(c_int) :: value
    n = 0
    if (.not. c_associated(self%handle)) return
    if (c_shape(self%handle, value) == SUBGRID_OK) n = value
  end function drag_n_levels

  !> Drag (m s-1 day-1) of every column; shapes as in the module header.
  subroutine drag_compute(self, u, source_flux, spectral_width, drag, status, message)
    class(gw_drag_emulator), intent(in) :: self
    real(c_float), intent(in), target, contiguous :: u(:, :), source_flux(:), spectral_width(:)
    real(c_float), intent(out), target, contiguous :: drag(:, :)
    integer, intent(out) :: status
    character(len=*), intent(out), optional :: message
    character(kind=c_char) :: buffer(SUBGRID_MESSAGE_LENGTH)
    character(len=SUBGRID_MESSAGE_LENGTH) :: text
    character(len=*), parameter :: hint = 'u sets the level and column counts'
    integer :: n_levels, n_columns

    n_levels = size(u, 1)
    n_columns = size(u, 2)
    text = mismatch('source_flux', shape(source_flux), [n_columns], hint)
    if (len_trim(text) == 0) text = mismatch('spectral_width', shape(spectral_width), [n_columns], hint)
    if (len_trim(text) == 0) text = mismatch('drag', shape(drag), [n_levels, n_columns], hint)
    if (len_trim(text) > 0) then
      status = SUBGRID_ERROR_SHAPE
      if (present(message)) message = text
      return
    end if
    status = c_compute(self%handle, n_columns, n_levels, c_loc(u), c_loc(source_flux), c_loc(spectral_width), &
                       c_loc(drag), buffer, SUBGRID_MESSAGE_LENGTH)
    if (present(message)) message = from_c(buffer)
  end subroutine drag_compute

  !> Free the emulator (safe to call twice or on an emulator never initialised).
  subroutine drag_finalize(self)
    class(gw_drag_emulator), intent(inout) :: self
    integer(c_int) :: ignored

    if (c_associated(self%handle)) ignored = c_finalize(self%handle)
    self%handle = c_null_ptr
  end subroutine drag_finalize

end module subgrid_gw_drag
