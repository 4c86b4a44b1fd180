! parkit's Fortran module: the library's calls over Fortran's own arrays.
!
! A batch is an array whose last dimension counts the items: a(n, n, count)
! holds the matrices a(:, :, k), and parkit_det gives d(count).  Nothing is
! reversed by hand and nothing is copied: Fortran's a(n1, n2, count) is, in
! memory, the C-ordered batch of count items of shape (n2, n1) that the
! library maps, and each result comes back in Fortran's order the same
! way.  det, slogdet and the transforms give the same values on an item
! and on its transpose, so every kernel means what its name says, with one
! convention to know: parkit_rfft2 halves the FIRST dimension, as FFTW's
! own Fortran interface does (b(h/2 + 1, w, count) from a(h, w, count)).
!
! Every call takes a context (parkit_init) and sets status to PK_OK or a
! negative PK_E* value; parkit_errmsg(ctx) then says what went wrong, and
! parkit_failed(ctx) which items failed (1-based).  Under MPI, pass your
! communicator's integer handle (mpi_f08: comm%MPI_VAL) as comm.
module parkit
  use, intrinsic :: iso_c_binding
  implicit none
  private

  integer, parameter, public :: PK_OK = 0, PK_EINVAL = -1, PK_ENOMEM = -2, &
       PK_EDTYPE = -3, PK_ESHAPE = -4, PK_EOVERFLOW = -5, PK_EBACKEND = -6, &
       PK_EKERNEL = -7, PK_EWORKER = -8, PK_EIO = -9, PK_EFORMAT = -10, &
       PK_ESTATE = -11, PK_ETIMEDOUT = -12, PK_EMPI = -13, PK_ESYS = -14, &
       PK_ERANK = -15, PK_EINTR = -16, PK_ECANCELED = -17
  integer, parameter, public :: PK_AUTOCORR_AUTO = 0, &
       PK_AUTOCORR_DIRECT = 1, PK_AUTOCORR_FFT = 2
  integer, parameter, public :: PK_MODE_FULL = 0, PK_MODE_VALID = 1, &
       PK_MODE_SAME = 2

  type, public :: parkit_context
     type(c_ptr) :: p = c_null_ptr
  end type parkit_context

  public :: parkit_init, parkit_finalize, parkit_errmsg, parkit_failed, &
       parkit_backend, parkit_workers, parkit_isa, parkit_rank, parkit_ranks, parkit_det, parkit_slogdet, &
       parkit_fft2, parkit_ifft2, parkit_rfft2, parkit_autocorr2d, &
       parkit_correlate2d, parkit_convolve2d, parkit_map
  public :: pk_kernel_det, pk_kernel_slogdet, pk_kernel_fft2, &
       pk_kernel_ifft2, pk_kernel_rfft2, pk_kernel_irfft2, &
       pk_kernel_autocorr2d

  integer(c_int), parameter :: F64 = 1, C128 = 2

  ! pk_config, field for field.
  type, bind(C) :: config_t
     type(c_ptr) :: backend = c_null_ptr
     integer(c_int) :: workers = 0
     integer(c_int) :: verbose = 0
     type(c_ptr) :: mpi_comm = c_null_ptr
     type(c_ptr) :: isa = c_null_ptr
     type(c_ptr) :: mpi_fcomm = c_null_ptr
  end type config_t

  ! Run a user's kernel (a pk_kernel pointer, from a bind(C) function of
  ! the kernel's library, or one of pk_kernel_*) over a batch.
  interface parkit_map
     module procedure map_r3_r1, map_r3_r2, map_r3_r3, map_r3_c3, &
          map_c3_c3
  end interface parkit_map

  interface parkit_fft2
     module procedure fft2_r, fft2_c
  end interface parkit_fft2

  ! Real or complex matrices (complex: d, and s, complex too).
  interface parkit_det
     module procedure det_r, det_c
  end interface parkit_det

  interface parkit_slogdet
     module procedure slogdet_r, slogdet_c
  end interface parkit_slogdet

  interface
     function c_init(ctx, argc, argv, cfg) bind(C, name="pk_init_config")
       import :: c_ptr, c_int, config_t
       type(c_ptr), intent(out) :: ctx
       type(c_ptr), value :: argc, argv
       type(config_t), intent(in) :: cfg
       integer(c_int) :: c_init
     end function c_init
     function c_finalize(ctx) bind(C, name="pk_finalize")
       import :: c_ptr, c_int
       type(c_ptr), intent(inout) :: ctx
       integer(c_int) :: c_finalize
     end function c_finalize
     function c_errmsg(ctx) bind(C, name="pk_errmsg")
       import :: c_ptr
       type(c_ptr), value :: ctx
       type(c_ptr) :: c_errmsg
     end function c_errmsg
     function c_backend(ctx) bind(C, name="pk_backend")
       import :: c_ptr
       type(c_ptr), value :: ctx
       type(c_ptr) :: c_backend
     end function c_backend
     function c_isa_of(ctx) bind(C, name="pk_isa_of")
       import :: c_ptr, c_int
       type(c_ptr), value :: ctx
       integer(c_int) :: c_isa_of
     end function c_isa_of
     function c_isa_name(isa) bind(C, name="pk_isa_name")
       import :: c_ptr, c_int
       integer(c_int), value :: isa
       type(c_ptr) :: c_isa_name
     end function c_isa_name
     function c_workers(ctx) bind(C, name="pk_workers")
       import :: c_ptr, c_int
       type(c_ptr), value :: ctx
       integer(c_int) :: c_workers
     end function c_workers
     function c_rank(ctx) bind(C, name="pk_mpi_rank")
       import :: c_ptr, c_int
       type(c_ptr), value :: ctx
       integer(c_int) :: c_rank
     end function c_rank
     function c_ranks(ctx) bind(C, name="pk_mpi_size")
       import :: c_ptr, c_int
       type(c_ptr), value :: ctx
       integer(c_int) :: c_ranks
     end function c_ranks
     function c_failed(ctx, n) bind(C, name="pk_failed")
       import :: c_ptr, c_size_t
       type(c_ptr), value :: ctx
       integer(c_size_t), intent(out) :: n
       type(c_ptr) :: c_failed
     end function c_failed
     function c_wrap(ctx, dtype, ndim, shape, data, out) &
          bind(C, name="pk_array_wrap")
       import :: c_ptr, c_int, c_size_t
       type(c_ptr), value :: ctx
       integer(c_int), value :: dtype, ndim
       integer(c_size_t), intent(in) :: shape(*)
       type(c_ptr), value :: data
       type(c_ptr), intent(out) :: out
       integer(c_int) :: c_wrap
     end function c_wrap
     subroutine c_destroy(a) bind(C, name="pk_array_destroy")
       import :: c_ptr
       type(c_ptr), intent(inout) :: a
     end subroutine c_destroy
     function c_map(ctx, kernel, in, out, opts) bind(C, name="pk_map")
       import :: c_ptr, c_int
       type(c_ptr), value :: ctx, kernel, in, opts
       type(c_ptr), intent(inout) :: out
       integer(c_int) :: c_map
     end function c_map
     function c_map_n(ctx, kernel, nin, in, nout, out, opts) &
          bind(C, name="pk_map_n")
       import :: c_ptr, c_int
       type(c_ptr), value :: ctx, kernel, opts
       integer(c_int), value :: nin, nout
       type(c_ptr), intent(in) :: in(*)
       type(c_ptr), intent(inout) :: out(*)
       integer(c_int) :: c_map_n
     end function c_map_n
     function pk_kernel_correlate2d(mode, method) &
          bind(C, name="pk_kernel_correlate2d")
       import :: c_ptr, c_int
       integer(c_int), value :: mode, method
       type(c_ptr) :: pk_kernel_correlate2d
     end function pk_kernel_correlate2d
     function pk_kernel_convolve2d(mode, method) &
          bind(C, name="pk_kernel_convolve2d")
       import :: c_ptr, c_int
       integer(c_int), value :: mode, method
       type(c_ptr) :: pk_kernel_convolve2d
     end function pk_kernel_convolve2d
     function c_strlen(s) bind(C, name="strlen")
       import :: c_ptr, c_size_t
       type(c_ptr), value :: s
       integer(c_size_t) :: c_strlen
     end function c_strlen
     function pk_kernel_det() bind(C, name="pk_kernel_det")
       import :: c_ptr
       type(c_ptr) :: pk_kernel_det
     end function pk_kernel_det
     function pk_kernel_slogdet() bind(C, name="pk_kernel_slogdet")
       import :: c_ptr
       type(c_ptr) :: pk_kernel_slogdet
     end function pk_kernel_slogdet
     function pk_kernel_fft2() bind(C, name="pk_kernel_fft2")
       import :: c_ptr
       type(c_ptr) :: pk_kernel_fft2
     end function pk_kernel_fft2
     function pk_kernel_ifft2() bind(C, name="pk_kernel_ifft2")
       import :: c_ptr
       type(c_ptr) :: pk_kernel_ifft2
     end function pk_kernel_ifft2
     function pk_kernel_rfft2() bind(C, name="pk_kernel_rfft2")
       import :: c_ptr
       type(c_ptr) :: pk_kernel_rfft2
     end function pk_kernel_rfft2
     function pk_kernel_irfft2() bind(C, name="pk_kernel_irfft2")
       import :: c_ptr
       type(c_ptr) :: pk_kernel_irfft2
     end function pk_kernel_irfft2
     function pk_kernel_autocorr2d(method) &
          bind(C, name="pk_kernel_autocorr2d")
       import :: c_ptr, c_int
       integer(c_int), value :: method
       type(c_ptr) :: pk_kernel_autocorr2d
     end function pk_kernel_autocorr2d
  end interface

contains

  ! A C string as a Fortran one ("" for NULL).
  function from_c(s) result(f)
    type(c_ptr), intent(in) :: s
    character(len=:), allocatable :: f
    character(kind=c_char), pointer :: c(:)
    integer :: i, n

    if (.not. c_associated(s)) then
       f = ""
       return
    end if
    n = int(c_strlen(s))
    call c_f_pointer(s, c, [n])
    allocate(character(len=n) :: f)
    do i = 1, n
       f(i:i) = c(i)
    end do
  end function from_c

  ! Start a context.  backend: "serial", "openmp", "fork" or "mpi";
  ! workers: threads or processes (per rank under mpi); comm: a Fortran
  ! MPI communicator handle to work on (default MPI_COMM_WORLD); verbose:
  ! say what parkit decides on stderr; isa: the instruction-set path,
  ! "generic", "avx2", "avx512" or "auto" (one wider than the CPU has is
  ! refused, PK_EINVAL, with a message naming what it has).  Unset: as
  ! pk_init (PARKIT_BACKEND, PARKIT_WORKERS, PARKIT_ISA, else the
  ! defaults).
  subroutine parkit_init(ctx, status, backend, workers, comm, verbose, isa)
    type(parkit_context), intent(out) :: ctx
    integer, intent(out) :: status
    character(len=*), intent(in), optional :: backend, isa
    integer, intent(in), optional :: workers, comm
    logical, intent(in), optional :: verbose
    character(kind=c_char, len=64), target :: name, path
    integer(c_int), target :: fcomm
    type(config_t) :: cfg

    if (present(backend)) then
       if (len_trim(backend) >= len(name)) then
          status = PK_EINVAL
          return
       end if
       name = trim(backend) // c_null_char
       cfg%backend = c_loc(name)
    end if
    if (present(isa)) then
       if (len_trim(isa) >= len(path)) then
          status = PK_EINVAL
          return
       end if
       path = trim(isa) // c_null_char
       cfg%isa = c_loc(path)
    end if
    if (present(workers)) cfg%workers = int(workers, c_int)
    if (present(comm)) then
       fcomm = int(comm, c_int)
       cfg%mpi_fcomm = c_loc(fcomm)
    end if
    if (present(verbose)) then
       if (verbose) cfg%verbose = 1
    end if
    status = int(c_init(ctx%p, c_null_ptr, c_null_ptr, cfg))
  end subroutine parkit_init

  subroutine parkit_finalize(ctx, status)
    type(parkit_context), intent(inout) :: ctx
    integer, intent(out) :: status

    status = int(c_finalize(ctx%p))
  end subroutine parkit_finalize

  ! The last error's message (for a context whose init failed, why).
  function parkit_errmsg(ctx) result(msg)
    type(parkit_context), intent(in) :: ctx
    character(len=:), allocatable :: msg

    msg = from_c(c_errmsg(ctx%p))
  end function parkit_errmsg

  function parkit_backend(ctx) result(name)
    type(parkit_context), intent(in) :: ctx
    character(len=:), allocatable :: name

    name = from_c(c_backend(ctx%p))
  end function parkit_backend

  ! The instruction-set path the context's maps run: "generic", "avx2" or
  ! "avx512".
  function parkit_isa(ctx) result(name)
    type(parkit_context), intent(in) :: ctx
    character(len=:), allocatable :: name

    name = from_c(c_isa_name(c_isa_of(ctx%p)))
  end function parkit_isa

  integer function parkit_workers(ctx)
    type(parkit_context), intent(in) :: ctx

    parkit_workers = int(c_workers(ctx%p))
  end function parkit_workers

  ! This process's rank in the context's communicator, from 0, and the
  ! number of ranks (0 and 1 on a backend other than mpi).
  integer function parkit_rank(ctx)
    type(parkit_context), intent(in) :: ctx

    parkit_rank = int(c_rank(ctx%p))
  end function parkit_rank

  integer function parkit_ranks(ctx)
    type(parkit_context), intent(in) :: ctx

    parkit_ranks = int(c_ranks(ctx%p))
  end function parkit_ranks

  ! The items the last call failed on, counted from 1.
  function parkit_failed(ctx) result(items)
    type(parkit_context), intent(in) :: ctx
    integer(c_size_t), allocatable :: items(:)
    integer(c_size_t), pointer :: p(:)
    integer(c_size_t) :: n
    type(c_ptr) :: list

    list = c_failed(ctx%p, n)
    allocate(items(n))
    if (n > 0) then
       call c_f_pointer(list, p, [n])
       items = p + 1
    end if
  end function parkit_failed

  ! The core of every call: wrap both arrays (Fortran's dimensions, which
  ! are C's reversed) and map kernel from one to the other.
  integer function run(ctx, kernel, tin, pin, din, tout, pout, dout)
    type(parkit_context), intent(in) :: ctx
    type(c_ptr), intent(in) :: kernel, pin, pout
    integer(c_int), intent(in) :: tin, tout
    integer, intent(in) :: din(:), dout(:)
    integer(c_size_t) :: sin(size(din)), sout(size(dout))
    type(c_ptr) :: a, b
    integer :: i

    do i = 1, size(din)
       sin(i) = int(din(size(din) + 1 - i), c_size_t)
    end do
    do i = 1, size(dout)
       sout(i) = int(dout(size(dout) + 1 - i), c_size_t)
    end do
    a = c_null_ptr
    b = c_null_ptr
    run = int(c_wrap(ctx%p, tin, int(size(din), c_int), sin, pin, a))
    if (run == PK_OK) &
         run = int(c_wrap(ctx%p, tout, int(size(dout), c_int), sout, pout, b))
    if (run == PK_OK) run = int(c_map(ctx%p, kernel, a, b, c_null_ptr))
    call c_destroy(a)
    call c_destroy(b)
  end function run

  ! d(k) = det(a(:, :, k)).
  subroutine det_r(ctx, a, d, status)
    type(parkit_context), intent(in) :: ctx
    real(c_double), intent(in), target, contiguous :: a(:, :, :)
    real(c_double), intent(out), target, contiguous :: d(:)
    integer, intent(out) :: status

    status = run(ctx, pk_kernel_det(), F64, c_loc(a), shape(a), F64, &
         c_loc(d), shape(d))
  end subroutine det_r

  subroutine det_c(ctx, a, d, status)
    type(parkit_context), intent(in) :: ctx
    complex(c_double_complex), intent(in), target, contiguous :: a(:, :, :)
    complex(c_double_complex), intent(out), target, contiguous :: d(:)
    integer, intent(out) :: status

    status = run(ctx, pk_kernel_det(), C128, c_loc(a), shape(a), C128, &
         c_loc(d), shape(d))
  end subroutine det_c

  ! s(1, k) the sign and s(2, k) the log of |det(a(:, :, k))|, as
  ! numpy.linalg.slogdet; for complex a, the sign is complex (of modulus
  ! 1) and the log is the real part of s(2, k).
  subroutine slogdet_r(ctx, a, s, status)
    type(parkit_context), intent(in) :: ctx
    real(c_double), intent(in), target, contiguous :: a(:, :, :)
    real(c_double), intent(out), target, contiguous :: s(:, :)
    integer, intent(out) :: status

    status = run(ctx, pk_kernel_slogdet(), F64, c_loc(a), shape(a), F64, &
         c_loc(s), shape(s))
  end subroutine slogdet_r

  subroutine slogdet_c(ctx, a, s, status)
    type(parkit_context), intent(in) :: ctx
    complex(c_double_complex), intent(in), target, contiguous :: a(:, :, :)
    complex(c_double_complex), intent(out), target, contiguous :: s(:, :)
    integer, intent(out) :: status

    status = run(ctx, pk_kernel_slogdet(), C128, c_loc(a), shape(a), C128, &
         c_loc(s), shape(s))
  end subroutine slogdet_c

  ! b(:, :, k) = the 2-D DFT of a(:, :, k), unnormalised (FFTW's forward
  ! transform, numpy.fft.fft2).
  subroutine fft2_r(ctx, a, b, status)
    type(parkit_context), intent(in) :: ctx
    real(c_double), intent(in), target, contiguous :: a(:, :, :)
    complex(c_double_complex), intent(out), target, contiguous :: b(:, :, :)
    integer, intent(out) :: status

    status = run(ctx, pk_kernel_fft2(), F64, c_loc(a), shape(a), C128, &
         c_loc(b), shape(b))
  end subroutine fft2_r

  subroutine fft2_c(ctx, a, b, status)
    type(parkit_context), intent(in) :: ctx
    complex(c_double_complex), intent(in), target, contiguous :: a(:, :, :)
    complex(c_double_complex), intent(out), target, contiguous :: b(:, :, :)
    integer, intent(out) :: status

    status = run(ctx, pk_kernel_fft2(), C128, c_loc(a), shape(a), C128, &
         c_loc(b), shape(b))
  end subroutine fft2_c

  ! The inverse, scaled by 1 / (h w).
  subroutine parkit_ifft2(ctx, a, b, status)
    type(parkit_context), intent(in) :: ctx
    complex(c_double_complex), intent(in), target, contiguous :: a(:, :, :)
    complex(c_double_complex), intent(out), target, contiguous :: b(:, :, :)
    integer, intent(out) :: status

    status = run(ctx, pk_kernel_ifft2(), C128, c_loc(a), shape(a), C128, &
         c_loc(b), shape(b))
  end subroutine parkit_ifft2

  ! Real a(h, w, count) to b(h/2 + 1, w, count): the first dimension is
  ! halved, as in FFTW's Fortran interface.
  subroutine parkit_rfft2(ctx, a, b, status)
    type(parkit_context), intent(in) :: ctx
    real(c_double), intent(in), target, contiguous :: a(:, :, :)
    complex(c_double_complex), intent(out), target, contiguous :: b(:, :, :)
    integer, intent(out) :: status

    status = run(ctx, pk_kernel_rfft2(), F64, c_loc(a), shape(a), C128, &
         c_loc(b), shape(b))
  end subroutine parkit_rfft2

  ! r(:, :, k) = the full 2-D autocorrelation of a(:, :, k), of size
  ! (2h - 1, 2w - 1), as scipy.signal.correlate2d(a, a); exact integers
  ! for integer-valued input.  method: PK_AUTOCORR_AUTO (default),
  ! PK_AUTOCORR_DIRECT or PK_AUTOCORR_FFT.
  subroutine parkit_autocorr2d(ctx, a, r, status, method)
    type(parkit_context), intent(in) :: ctx
    real(c_double), intent(in), target, contiguous :: a(:, :, :)
    real(c_double), intent(out), target, contiguous :: r(:, :, :)
    integer, intent(out) :: status
    integer, intent(in), optional :: method
    integer(c_int) :: m

    m = PK_AUTOCORR_AUTO
    if (present(method)) m = int(method, c_int)
    status = run(ctx, pk_kernel_autocorr2d(m), F64, c_loc(a), shape(a), &
         F64, c_loc(r), shape(r))
  end subroutine parkit_autocorr2d

  ! Wrap a Fortran batch of images x(h, w, n) as C's (n, w, h).
  integer function wrap3(ctx, x, d, arr)
    type(parkit_context), intent(in) :: ctx
    type(c_ptr), intent(in) :: x
    integer, intent(in) :: d(3)
    type(c_ptr), intent(out) :: arr
    integer(c_size_t) :: s(3)

    s = int([d(3), d(2), d(1)], c_size_t)
    arr = c_null_ptr
    wrap3 = int(c_wrap(ctx%p, F64, 3_c_int, s, x, arr))
  end function wrap3

  ! The pairs (a(:, :, k), b(:, :, k)) through a kernel of two inputs; b
  ! of one image pairs with every image of a.
  integer function run_pair(ctx, kernel, a, da, b, db, r, dr)
    type(parkit_context), intent(in) :: ctx
    type(c_ptr), intent(in) :: kernel, a, b, r
    integer, intent(in) :: da(3), db(3), dr(3)
    type(c_ptr) :: ins(2), outs(1)

    ins = c_null_ptr
    outs = c_null_ptr
    run_pair = wrap3(ctx, a, da, ins(1))
    if (run_pair == PK_OK) run_pair = wrap3(ctx, b, db, ins(2))
    if (run_pair == PK_OK) run_pair = wrap3(ctx, r, dr, outs(1))
    if (run_pair == PK_OK) run_pair = int(c_map_n(ctx%p, kernel, 2_c_int, &
         ins, 1_c_int, outs, c_null_ptr))
    call c_destroy(ins(1))
    call c_destroy(ins(2))
    call c_destroy(outs(1))
  end function run_pair

  ! r(:, :, k) = scipy.signal.correlate2d(a(:, :, k), b(:, :, k), mode),
  ! rows being a's first index: in full mode r(i, j, k) = sum over p, q of
  ! b(p, q, k) a(p + i - h2, q + j - w2, k) (zero outside a), of size
  ! (h1 + h2 - 1, w1 + w2 - 1); valid and same keep scipy's windows.  b may
  ! hold one image for all.  mode: PK_MODE_FULL (default), PK_MODE_VALID,
  ! PK_MODE_SAME; method as parkit_autocorr2d's (exact integers with
  ! auto).
  subroutine parkit_correlate2d(ctx, a, b, r, status, mode, method)
    type(parkit_context), intent(in) :: ctx
    real(c_double), intent(in), target, contiguous :: a(:, :, :), b(:, :, :)
    real(c_double), intent(out), target, contiguous :: r(:, :, :)
    integer, intent(out) :: status
    integer, intent(in), optional :: mode, method

    call pair(ctx, .false., a, b, r, status, mode, method)
  end subroutine parkit_correlate2d

  ! r(:, :, k) = scipy.signal.convolve2d(a(:, :, k), b(:, :, k), mode): as
  ! parkit_correlate2d with b turned by 180 degrees.
  subroutine parkit_convolve2d(ctx, a, b, r, status, mode, method)
    type(parkit_context), intent(in) :: ctx
    real(c_double), intent(in), target, contiguous :: a(:, :, :), b(:, :, :)
    real(c_double), intent(out), target, contiguous :: r(:, :, :)
    integer, intent(out) :: status
    integer, intent(in), optional :: mode, method

    call pair(ctx, .true., a, b, r, status, mode, method)
  end subroutine parkit_convolve2d

  ! Both, by their kernel of mode and method (defaults full and auto).
  subroutine pair(ctx, conv, a, b, r, status, mode, method)
    type(parkit_context), intent(in) :: ctx
    logical, intent(in) :: conv
    real(c_double), intent(in), target, contiguous :: a(:, :, :), b(:, :, :)
    real(c_double), intent(out), target, contiguous :: r(:, :, :)
    integer, intent(out) :: status
    integer, intent(in), optional :: mode, method
    integer(c_int) :: md, m
    type(c_ptr) :: kernel

    md = PK_MODE_FULL
    m = PK_AUTOCORR_AUTO
    if (present(mode)) md = int(mode, c_int)
    if (present(method)) m = int(method, c_int)
    if (conv) then
       kernel = pk_kernel_convolve2d(md, m)
    else
       kernel = pk_kernel_correlate2d(md, m)
    end if
    status = run_pair(ctx, kernel, c_loc(a), shape(a), c_loc(b), shape(b), &
         c_loc(r), shape(r))
  end subroutine pair

  subroutine map_r3_r1(ctx, kernel, a, b, status)
    type(parkit_context), intent(in) :: ctx
    type(c_ptr), intent(in) :: kernel
    real(c_double), intent(in), target, contiguous :: a(:, :, :)
    real(c_double), intent(inout), target, contiguous :: b(:)
    integer, intent(out) :: status

    status = run(ctx, kernel, F64, c_loc(a), shape(a), F64, c_loc(b), &
         shape(b))
  end subroutine map_r3_r1

  subroutine map_r3_r2(ctx, kernel, a, b, status)
    type(parkit_context), intent(in) :: ctx
    type(c_ptr), intent(in) :: kernel
    real(c_double), intent(in), target, contiguous :: a(:, :, :)
    real(c_double), intent(inout), target, contiguous :: b(:, :)
    integer, intent(out) :: status

    status = run(ctx, kernel, F64, c_loc(a), shape(a), F64, c_loc(b), &
         shape(b))
  end subroutine map_r3_r2

  subroutine map_r3_r3(ctx, kernel, a, b, status)
    type(parkit_context), intent(in) :: ctx
    type(c_ptr), intent(in) :: kernel
    real(c_double), intent(in), target, contiguous :: a(:, :, :)
    real(c_double), intent(inout), target, contiguous :: b(:, :, :)
    integer, intent(out) :: status

    status = run(ctx, kernel, F64, c_loc(a), shape(a), F64, c_loc(b), &
         shape(b))
  end subroutine map_r3_r3

  subroutine map_r3_c3(ctx, kernel, a, b, status)
    type(parkit_context), intent(in) :: ctx
    type(c_ptr), intent(in) :: kernel
    real(c_double), intent(in), target, contiguous :: a(:, :, :)
    complex(c_double_complex), intent(inout), target, contiguous :: &
         b(:, :, :)
    integer, intent(out) :: status

    status = run(ctx, kernel, F64, c_loc(a), shape(a), C128, c_loc(b), &
         shape(b))
  end subroutine map_r3_c3

  subroutine map_c3_c3(ctx, kernel, a, b, status)
    type(parkit_context), intent(in) :: ctx
    type(c_ptr), intent(in) :: kernel
    complex(c_double_complex), intent(in), target, contiguous :: a(:, :, :)
    complex(c_double_complex), intent(inout), target, contiguous :: &
         b(:, :, :)
    integer, intent(out) :: status

    status = run(ctx, kernel, C128, c_loc(a), shape(a), C128, c_loc(b), &
         shape(b))
  end subroutine map_c3_c3

end module parkit
