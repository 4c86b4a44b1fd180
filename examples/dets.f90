! The determinants of a batch from Fortran: a(n, n, count) with random
! integer entries in [-5, 5), d(k) = det(a(:, :, k)), on the backend given
! as the first argument (default: parkit's choice), with their sum.
!   examples/dets_f [serial|openmp|fork] [count]
program dets_f
  use, intrinsic :: iso_c_binding
  use parkit
  implicit none
  integer, parameter :: n = 10
  real(c_double), allocatable :: a(:, :, :), d(:)
  character(len=16) :: backend, arg
  type(parkit_context) :: ctx
  integer :: count, status

  backend = ""
  count = 100000
  if (command_argument_count() >= 1) call get_command_argument(1, backend)
  if (command_argument_count() >= 2) then
     call get_command_argument(2, arg)
     read (arg, *) count
  end if
  allocate(a(n, n, count), d(count))
  call random_number(a)
  a = real(floor(10 * a) - 5, c_double)

  if (len_trim(backend) > 0) then
     call parkit_init(ctx, status, backend=trim(backend))
  else
     call parkit_init(ctx, status)
  end if
  if (status /= PK_OK) then
     print '(2a)', "dets_f: ", parkit_errmsg(ctx)
     stop 1
  end if
  call parkit_det(ctx, a, d, status)
  if (status /= PK_OK) then
     print '(2a)', "dets_f: ", parkit_errmsg(ctx)
     stop 1
  end if
  print '(a, i0, a, i0, a, i0, 3a, i0, a)', "dets_f: ", count, " matrices ", &
       n, "x", n, ", backend ", parkit_backend(ctx), ", ", &
       parkit_workers(ctx), " workers"
  print '(a, es24.16)', "sum of determinants: ", sum(d)
  call parkit_finalize(ctx, status)
end program dets_f
