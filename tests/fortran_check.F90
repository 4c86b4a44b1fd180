! The parkit module from Fortran, on every backend given on the command
! line (default: serial openmp fork): det, slogdet (real and complex),
! fft2, rfft2, autocorr2d, correlate2d and convolve2d (one kernel image
! for all) of
! Fortran-ordered batches a(:, :, k) against references
! computed here, in Fortran, from their definitions; a wrongly sized result
! is refused with a message.  With "mpi" as an argument (under mpirun):
! the ranks split into two communicators and each works on its own,
! passed by its Fortran handle; with "isa" (and with no argument): the
! serial checks on every instruction-set path this CPU runs, chosen by
! name.  Exits 1 on any mismatch.
program fortran_check
  use, intrinsic :: iso_c_binding
  use parkit
  implicit none
  integer, parameter :: n = 7, h = 5, w = 6, count = 9, hc = 3 ! h/2 + 1
  real(c_double) :: a(n, n, count), d(count), s(2, count), x(h, w, count)
  real(c_double) :: r(2 * h - 1, 2 * w - 1, count), bad(count + 1)
  real(c_double) :: kb(3, 2, 1), cf(h + 2, w + 1, count), cs(h, w, count)
  complex(c_double_complex) :: f(h, w, count), rf(hc, w, count)
  character(len=16) :: arg
  integer :: i, nargs, nbad

  call fill(a)
  call fill(x)
  call fill(kb)
  nbad = 0
  nargs = command_argument_count()
  if (nargs == 0) then
     call check_isa()
     call check("serial")
     call check("openmp")
     call check("fork")
  end if
  do i = 1, nargs
     call get_command_argument(i, arg)
     if (trim(arg) == "mpi") then
        call check_mpi()
     else if (trim(arg) == "isa") then
        call check_isa()
     else
        call check(trim(arg))
     end if
  end do
  if (nbad > 0) then
     print '(a, i0, a)', "fortran_check: ", nbad, " failures"
     stop 1
  end if
  print '(a)', "fortran_check: all passed"

contains

  ! Integers in [-5, 5) from a fixed linear congruential sequence.
  subroutine fill(v)
    real(c_double), intent(out) :: v(:, :, :)
    integer(c_int64_t) :: state
    integer :: i, j, k

    state = 12345
    do k = 1, size(v, 3)
       do j = 1, size(v, 2)
          do i = 1, size(v, 1)
             state = mod(state * 48271_c_int64_t, 2147483647_c_int64_t)
             v(i, j, k) = real(mod(state, 10_c_int64_t) - 5, c_double)
          end do
       end do
    end do
  end subroutine fill

  subroutine expect(ok, what, backend)
    logical, intent(in) :: ok
    character(len=*), intent(in) :: what, backend

    if (.not. ok) then
       print '(4a)', "FAIL: ", backend, ": ", what
       nbad = nbad + 1
    end if
  end subroutine expect

  ! det of a real matrix: naive_zdet's, imaginary parts 0.
  real(c_double) function naive_det(m0)
    real(c_double), intent(in) :: m0(:, :)

    naive_det = real(naive_zdet(cmplx(m0, 0, c_double_complex)), c_double)
  end function naive_det

  ! det by Gaussian elimination with partial pivoting (by modulus), here.
  complex(c_double_complex) function naive_zdet(m0)
    complex(c_double_complex), intent(in) :: m0(:, :)
    complex(c_double_complex) :: m(size(m0, 1), size(m0, 2))
    complex(c_double_complex) :: row(size(m0, 2))
    integer :: i, j, p

    m = m0
    naive_zdet = 1
    do j = 1, size(m, 1)
       p = j - 1 + maxloc(abs(m(j:, j)), 1)
       if (m(p, j) == 0) then
          naive_zdet = 0
          return
       end if
       if (p /= j) then
          row = m(j, :)
          m(j, :) = m(p, :)
          m(p, :) = row
          naive_zdet = -naive_zdet
       end if
       naive_zdet = naive_zdet * m(j, j)
       do i = j + 1, size(m, 1)
          m(i, j:) = m(i, j:) - m(i, j) / m(j, j) * m(j, j:)
       end do
    end do
  end function naive_zdet

  ! The 2-D DFT from its definition.
  complex(c_double_complex) function dft(v, u, q)
    real(c_double), intent(in) :: v(:, :)
    integer, intent(in) :: u, q
    real(c_double), parameter :: pi = 3.14159265358979323846_c_double
    integer :: i, j

    dft = 0
    do j = 1, size(v, 2)
       do i = 1, size(v, 1)
          dft = dft + v(i, j) * exp(cmplx(0, -2 * pi * (real((u - 1) * (i - 1), &
               c_double) / size(v, 1) + real((q - 1) * (j - 1), c_double) / &
               size(v, 2)), c_double_complex))
       end do
    end do
  end function dft

  subroutine check_on(ctx, backend)
    type(parkit_context), intent(in) :: ctx
    character(len=*), intent(in) :: backend
    real(c_double) :: ref, tol, sum
    complex(c_double_complex) :: z(n, n, count), zd(count), zs(2, count), zref
    integer :: st, i, j, k, p, q

    ! Complex matrices: a + i a(:, :, reversed).
    do k = 1, count
       z(:, :, k) = cmplx(a(:, :, k), a(:, :, count + 1 - k), c_double_complex)
    end do
    call parkit_det(ctx, z, zd, st)
    call expect(st == PK_OK, "complex det: " // parkit_errmsg(ctx), backend)
    call parkit_slogdet(ctx, z, zs, st)
    call expect(st == PK_OK, "complex slogdet: " // parkit_errmsg(ctx), &
         backend)
    do k = 1, count
       zref = naive_zdet(z(:, :, k))
       call expect(abs(zd(k) - zref) <= 1e-9_c_double * abs(zref), &
            "complex det against elimination", backend)
       call expect(abs(zs(1, k) - zref / abs(zref)) <= 1e-12_c_double .and. &
            abs(real(zs(2, k), c_double) - log(abs(zref))) <= &
            1e-12_c_double * max(1.0_c_double, log(abs(zref))) .and. &
            aimag(zs(2, k)) == 0, "complex slogdet", backend)
    end do
    call parkit_det(ctx, a, d, st)
    call expect(st == PK_OK, "det: " // parkit_errmsg(ctx), backend)
    call parkit_slogdet(ctx, a, s, st)
    call expect(st == PK_OK, "slogdet: " // parkit_errmsg(ctx), backend)
    do k = 1, count
       ref = naive_det(a(:, :, k))
       call expect(abs(d(k) - ref) <= 1e-9_c_double * max(1.0_c_double, &
            abs(ref)), "det against elimination", backend)
       call expect(s(1, k) == sign(1.0_c_double, ref) .and. &
            abs(s(2, k) - log(abs(ref))) <= 1e-12_c_double * &
            max(1.0_c_double, log(abs(ref))), "slogdet", backend)
    end do

    call parkit_fft2(ctx, x, f, st)
    call expect(st == PK_OK, "fft2: " // parkit_errmsg(ctx), backend)
    call parkit_rfft2(ctx, x, rf, st)
    call expect(st == PK_OK, "rfft2: " // parkit_errmsg(ctx), backend)
    do k = 1, count
       do j = 1, w
          do i = 1, h
             tol = 1e-9_c_double * 5 * h * w
             call expect(abs(f(i, j, k) - dft(x(:, :, k), i, j)) <= tol, &
                  "fft2 against the definition", backend)
             if (i <= hc) call expect(abs(rf(i, j, k) - f(i, j, k)) &
                  <= tol, "rfft2: the first half of fft2", backend)
          end do
       end do
    end do

    call parkit_autocorr2d(ctx, x, r, st)
    call expect(st == PK_OK, "autocorr2d: " // parkit_errmsg(ctx), backend)
    do k = 1, count
       do j = 1, 2 * w - 1
          do i = 1, 2 * h - 1
             sum = 0
             do q = 1, w
                do p = 1, h
                   if (p + i - h >= 1 .and. p + i - h <= h .and. &
                        q + j - w >= 1 .and. q + j - w <= w) &
                        sum = sum + x(p, q, k) * x(p + i - h, q + j - w, k)
                end do
             end do
             call expect(r(i, j, k) == sum, "autocorr2d: exact integers", &
                  backend)
          end do
       end do
    end do

    ! correlate2d in full mode, convolve2d in same mode (its window starts
    ! at (h2 - 1) / 2 of the full one, as scipy's), kb paired with every
    ! image; integers, so exact.
    call parkit_correlate2d(ctx, x, kb, cf, st)
    call expect(st == PK_OK, "correlate2d: " // parkit_errmsg(ctx), backend)
    call parkit_convolve2d(ctx, x, kb, cs, st, mode=PK_MODE_SAME)
    call expect(st == PK_OK, "convolve2d: " // parkit_errmsg(ctx), backend)
    do k = 1, count
       do j = 1, w + 1
          do i = 1, h + 2
             sum = 0
             do q = 1, 2
                do p = 1, 3
                   if (p + i - 3 >= 1 .and. p + i - 3 <= h .and. &
                        q + j - 2 >= 1 .and. q + j - 2 <= w) &
                        sum = sum + kb(p, q, 1) * x(p + i - 3, q + j - 2, k)
                end do
             end do
             call expect(cf(i, j, k) == sum, "correlate2d: full, exact", &
                  backend)
          end do
       end do
       do j = 1, w
          do i = 1, h
             sum = 0
             do q = 1, 2
                do p = 1, 3
                   if (i + 1 - p + 1 >= 1 .and. i + 1 - p + 1 <= h .and. &
                        j - q + 1 >= 1 .and. j - q + 1 <= w) &
                        sum = sum + kb(p, q, 1) * x(i + 1 - p + 1, j - q + 1, k)
                end do
             end do
             call expect(cs(i, j, k) == sum, "convolve2d: same, exact", &
                  backend)
          end do
       end do
    end do
    call parkit_correlate2d(ctx, x, kb, cs, st)
    call expect(st == PK_ESHAPE .and. len(parkit_errmsg(ctx)) > 0, &
         "correlate2d: a result of the wrong size is refused", backend)

    call parkit_map(ctx, pk_kernel_det(), a, bad, st)
    call expect(st /= PK_OK .and. len(parkit_errmsg(ctx)) > 0, &
         "a result of the wrong size is refused with a message", backend)
  end subroutine check_on

  subroutine check(backend)
    character(len=*), intent(in) :: backend
    type(parkit_context) :: ctx
    integer :: st

    call parkit_init(ctx, st, backend=backend, workers=2)
    call expect(st == PK_OK, "init: " // parkit_errmsg(ctx), backend)
    if (st /= PK_OK) return
    call expect(parkit_backend(ctx) == backend, "the backend asked for", &
         backend)
    call check_on(ctx, backend)
    call parkit_finalize(ctx, st)
    call expect(st == PK_OK, "finalize", backend)
  end subroutine check

  ! The instruction-set paths, chosen by name: every kernel's check on
  ! each path this CPU runs (generic runs everywhere); a path it lacks is
  ! refused with a message naming it, as is a name that is no path.
  subroutine check_isa()
    character(len=8), parameter :: paths(3) = [character(len=8) :: &
         "generic", "avx2", "avx512"]
    type(parkit_context) :: ctx
    integer :: st, i
    character(len=:), allocatable :: msg

    call parkit_init(ctx, st, backend="serial")
    call expect(st == PK_OK, "init: " // parkit_errmsg(ctx), "isa")
    if (st /= PK_OK) return
    call expect(any(paths == parkit_isa(ctx)), "the default path is a path: " &
         // parkit_isa(ctx), "isa")
    call parkit_finalize(ctx, st)
    do i = 1, size(paths)
       call parkit_init(ctx, st, backend="serial", isa=trim(paths(i)))
       if (st == PK_OK) then
          print '(2a)', "fortran_check: path ", trim(paths(i))
          call expect(parkit_isa(ctx) == trim(paths(i)), &
               "the path asked for: " // parkit_isa(ctx), trim(paths(i)))
          call check_on(ctx, "serial " // trim(paths(i)))
          call parkit_finalize(ctx, st)
          call expect(st == PK_OK, "finalize", trim(paths(i)))
       else
          msg = parkit_errmsg(ctx)
          call expect(i > 1 .and. st == PK_EINVAL .and. &
               index(msg, trim(paths(i))) > 0, "refused: " // msg, &
               trim(paths(i)))
       end if
    end do
    call parkit_init(ctx, st, backend="serial", isa="sse9")
    msg = parkit_errmsg(ctx)
    call expect(st == PK_EINVAL .and. index(msg, "sse9") > 0, &
         "an unknown path refused: " // msg, "isa")
    if (st == PK_OK) call parkit_finalize(ctx, st)
  end subroutine check_isa

  ! Two communicators of half the ranks each, passed by their handles.
  subroutine check_mpi()
#ifdef PK_HAVE_MPI
    use mpi_f08
    type(MPI_Comm) :: half
    type(parkit_context) :: ctx
    integer :: rank, st, color, size

    call MPI_Init()
    call MPI_Comm_rank(MPI_COMM_WORLD, rank)
    color = mod(rank, 2)
    call MPI_Comm_split(MPI_COMM_WORLD, color, rank, half)
    call parkit_init(ctx, st, backend="mpi", workers=1, comm=half%MPI_VAL)
    call expect(st == PK_OK, "init on a split communicator: " // &
         parkit_errmsg(ctx), "mpi")
    if (st == PK_OK) then
       call MPI_Comm_size(half, size)
       call expect(parkit_ranks(ctx) == size .and. parkit_rank(ctx) == &
            rank / 2, "the ranks of the communicator passed", "mpi")
       call check_on(ctx, "mpi")
       call parkit_finalize(ctx, st)
    end if
    call MPI_Comm_free(half)
    call MPI_Finalize()
#else
    call expect(.false., "built without MPI", "mpi")
#endif
  end subroutine check_mpi

end program fortran_check
