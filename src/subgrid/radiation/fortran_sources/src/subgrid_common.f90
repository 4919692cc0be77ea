!> Status codes and helpers shared by subgrid's Fortran modules (subgrid_radiation, subgrid_gw_drag).
!>
!> Every procedure of those modules returns a status (SUBGRID_OK = 0) and, optionally, a message;
!> none stops the program, so the host decides what to do (e.g. fall back to its own scheme).
module subgrid_common
  use, intrinsic :: iso_c_binding, only: c_char, c_null_char
  implicit none
  private

  integer, parameter, public :: SUBGRID_OK = 0
  integer, parameter, public :: SUBGRID_ERROR_ARGUMENT = 1
  integer, parameter, public :: SUBGRID_ERROR_LOAD = 2
  integer, parameter, public :: SUBGRID_ERROR_SHAPE = 3
  integer, parameter, public :: SUBGRID_ERROR_INPUT = 4
  integer, parameter, public :: SUBGRID_ERROR_RUNTIME = 5

  integer, parameter, public :: SUBGRID_MESSAGE_LENGTH = 1024

  public :: mismatch, from_c

contains

  !> "name: shape (a,b), expected (c,d)" if the shapes differ, else blank.
  function mismatch(name, actual, expected, hint) result(problem)
    character(len=*), intent(in) :: name, hint
    integer, intent(in) :: actual(:), expected(:)
    character(len=SUBGRID_MESSAGE_LENGTH) :: problem

    problem = ''
    if (all(actual == expected)) return
    problem = name // ': shape ' // trim(dims(actual)) // ', expected ' // trim(dims(expected)) // ' (' // hint // ')'
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

end module subgrid_common
