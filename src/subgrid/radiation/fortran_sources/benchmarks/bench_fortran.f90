!> Seconds per call of the Fortran -> C -> LibTorch path (subgrid_emulator%compute), per batch size.
!>
!>   bench_fortran ARTIFACT COLUMNS.bin THREADS SECONDS REPEATS BATCH [BATCH ...]
!>
!> Batches are the first BATCH columns of COLUMNS.bin (format: examples/01_radiation_columns).
!> Each timing is the best of REPEATS averages over enough calls to last about SECONDS.
!> Prints one JSON object per batch size: {"batch": B, "seconds_per_call": s, "calls": n}.
program bench_fortran
  use, intrinsic :: iso_c_binding, only: c_float
  use, intrinsic :: iso_fortran_env, only: error_unit, int32, int64
  use subgrid_emulator
  implicit none

  character(len=4096) :: model_path, columns_path, argument
  character(len=1024) :: message
  integer(int32) :: header(4)
  integer :: n_columns, n_levels, threads, status, unit, i, batch, calls, call_index, repeat, repeats
  integer(int64) :: start, finish, rate
  real :: seconds, best, target_seconds
  real(c_float), allocatable :: level_inputs(:, :, :), column_inputs(:, :), p_interface(:, :)
  real(c_float), allocatable :: fluxes(:, :, :), heating(:, :, :)
  type(radiation_emulator) :: emulator

  call get_command_argument(1, model_path)
  call get_command_argument(2, columns_path)
  call get_command_argument(3, argument)
  read (argument, *) threads
  call get_command_argument(4, argument)
  read (argument, *) target_seconds
  call get_command_argument(5, argument)
  read (argument, *) repeats
  open (newunit=unit, file=trim(columns_path), access='stream', form='unformatted', status='old', action='read')
  read (unit) header
  n_columns = header(1)
  n_levels = header(2)
  allocate (level_inputs(n_levels, header(3), n_columns), column_inputs(header(4), n_columns))
  allocate (p_interface(n_levels + 1, n_columns))
  read (unit) level_inputs, column_inputs, p_interface
  close (unit)

  call emulator%init(trim(model_path), n_levels, status, message, threads=threads)
  if (status /= SUBGRID_OK) then
    write (error_unit, '(a)') trim(message)
    error stop status
  end if
  call system_clock(count_rate=rate)

  do i = 6, command_argument_count()
    call get_command_argument(i, argument)
    read (argument, *) batch
    batch = min(batch, n_columns)
    allocate (fluxes(n_levels + 1, emulator%n_fluxes(), batch), heating(n_levels, emulator%n_heating_rates(), batch))
    ! First call at a new batch size: allocations; time it to choose the number of calls.
    call system_clock(start)
    call run_once()
    call system_clock(finish)
    seconds = real(finish - start) / real(rate)
    calls = max(1, min(10000, int(target_seconds / max(seconds, 1.0e-7))))
    best = huge(1.0)
    do repeat = 1, repeats
      call system_clock(start)
      do call_index = 1, calls
        call run_once()
      end do
      call system_clock(finish)
      best = min(best, real(finish - start) / real(rate) / real(calls))
    end do
    write (*, '(a, i0, a, es12.5, a, i0, a)') '{"batch": ', batch, ', "seconds_per_call": ', best, ', "calls": ', &
      calls, '}'
    deallocate (fluxes, heating)
  end do
  call emulator%finalize()

contains

  subroutine run_once()
    call emulator%compute(level_inputs(:, :, :batch), column_inputs(:, :batch), p_interface(:, :batch), &
                          fluxes, heating, status, message)
    if (status /= SUBGRID_OK) then
      write (error_unit, '(a)') trim(message)
      error stop status
    end if
  end subroutine run_once

end program bench_fortran
