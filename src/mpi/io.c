/*
 * The mpi backend's .npy files (backend.h): each rank reads and writes its
 * block by MPI-IO.
 */
#include "backend.h"

#include <limits.h>

/* ------------------------------------------------------------ .npy, MPI-IO */

/*
 * Read or write bytes at `at` collectively, in pieces MPI counts can hold:
 * every rank makes as many calls as the rank with the most pieces.
 */
static pk_status io_all(pk_context *ctx, MPI_File fh, MPI_Offset at,
                        char *buf, size_t bytes, int write,
                        const char *path) {
  mpi *m = ctx->impl;
  long pieces = (long)((bytes + PIECE - 1) / PIECE), most = 0, i;
  int rc = MPI_Allreduce(&pieces, &most, 1, MPI_LONG, MPI_MAX, m->comm);
  int first_rc = rc;
  size_t done = 0;

  for (i = 0; rc == MPI_SUCCESS && i < most; i++) {
    size_t off = (size_t)i * PIECE;
    size_t len = off < bytes ? (bytes - off < PIECE ? bytes - off : PIECE) : 0;
    MPI_Status s;
    int got = 0, r;
    r = write ? MPI_File_write_at_all(fh, at + (MPI_Offset)off, buf + off,
                                      (int)len, MPI_BYTE, &s)
              : MPI_File_read_at_all(fh, at + (MPI_Offset)off, buf + off,
                                     (int)len, MPI_BYTE, &s);
    if (r == MPI_SUCCESS)
      MPI_Get_count(&s, MPI_BYTE, &got);
    else if (first_rc == MPI_SUCCESS)
      first_rc = r;
    done += r == MPI_SUCCESS && got > 0 ? (size_t)got : 0;
  }
  if (first_rc != MPI_SUCCESS)
    return pk__mpi_fail(ctx, first_rc,
                        write ? "MPI_File_write_at_all"
                              : "MPI_File_read_at_all");
  if (done != bytes)
    return pk__error(ctx, PK_EIO, "%s: %s %zu of %zu bytes of rank %d's "
                     "block", path, write ? "wrote" : "read", done, bytes,
                     m->rank);
  return PK_OK;
}

static pk_status open_file(pk_context *ctx, const char *path, int amode,
                           MPI_File *fh) {
  mpi *m = ctx->impl;
  char s[MPI_MAX_ERROR_STRING];
  int rc = MPI_File_open(m->comm, path, amode, MPI_INFO_NULL, fh), len = 0;

  if (rc == MPI_SUCCESS)
    return PK_OK;
  *fh = MPI_FILE_NULL;
  MPI_Error_string(rc, s, &len);
  return pk__error(ctx, PK_EIO, "%s: cannot open with MPI-IO on rank %d: %s",
                   path, m->rank, s);
}

/*
 * Rank's block of a file whose elements are not the array's own, or are
 * in Fortran order, into raw (a's elements of type e), as a's elements in
 * its order.  In Fortran order the block is a run of a->shape[0] elements
 * in every column of the others: a file view of those runs makes it the
 * block, itself in Fortran order.
 */
static pk_status read_raw(pk_context *ctx, MPI_File fh, MPI_Offset at,
                          const pk__elem *e, int fortran, size_t global,
                          const pk_array *a, char *raw, const char *path) {
  size_t per = a->shape[0] ? a->count / a->shape[0] : 0, rest = 1;
  size_t bytes = a->count * e->size;
  MPI_Datatype runs;
  pk_status st;
  int rc;

  if (!fortran)
    return io_all(ctx, fh, at + (MPI_Offset)(a->offset * per * e->size),
                  raw, bytes, 0, path);
  for (int d = 1; d < a->ndim; d++)
    rest *= a->shape[d];
  /* Global figures, so that every rank refuses alike. */
  if (rest > INT_MAX || global * e->size > INT_MAX)
    return pk__error(ctx, PK_EOVERFLOW, "%s: in Fortran order, its columns "
                     "are more or longer than MPI-IO counts hold; save the "
                     "array in C order", path);
  rc = MPI_Type_create_hvector((int)rest, (int)(a->shape[0] * e->size),
                               (MPI_Aint)(global * e->size), MPI_BYTE,
                               &runs);
  if (rc == MPI_SUCCESS)
    rc = MPI_Type_commit(&runs);
  if (rc == MPI_SUCCESS)
    rc = MPI_File_set_view(fh, at + (MPI_Offset)(a->offset * e->size),
                           MPI_BYTE, runs, "native", MPI_INFO_NULL);
  if (rc != MPI_SUCCESS)
    return pk__mpi_fail(ctx, rc, "a file view of a Fortran-ordered block");
  st = io_all(ctx, fh, 0, raw, bytes, 0, path);
  MPI_Type_free(&runs);
  return st;
}

pk_status pk__mpi_load_npy(pk_context *ctx, const char *path,
                           pk_array **out) {
  mpi *m = ctx->impl;
  uint64_t meta[6 + PK_MAX_DIMS] = {0};
  size_t shape[PK_MAX_DIMS], ib;
  pk__elem e = {'f', 8, 0};
  int ndim = 0, i, ovf = 0, rc, fortran = 0;
  long at = 0;
  MPI_File fh;
  pk_status st = PK_OK;
  char *raw = NULL;

  /* Rank 0 reads the header; a refusal is its message on every rank. */
  if (m->rank == 0) {
    st = pk__npy_header(ctx, path, &e, &fortran, &ndim, shape, &at);
    meta[0] = (uint64_t)(unsigned char)e.kind;
    meta[1] = e.size;
    meta[2] = e.swap;
    meta[3] = (uint64_t)fortran;
    meta[4] = (uint64_t)ndim;
    meta[5] = (uint64_t)at;
    for (i = 0; i < ndim && st == PK_OK; i++)
      meta[6 + i] = shape[i];
  }
  if ((st = pk__mpi_agree(ctx, st)) != PK_OK)
    return st;
  rc = MPI_Bcast(meta, 6 + PK_MAX_DIMS, MPI_UINT64_T, 0, m->comm);
  if (rc != MPI_SUCCESS)
    return pk__mpi_agree(ctx, pk__mpi_fail(ctx, rc, "MPI_Bcast"));
  e.kind = (char)meta[0];
  e.size = (unsigned char)meta[1];
  e.swap = (unsigned char)meta[2];
  ndim = (int)meta[4];
  fortran = meta[3] && ndim > 1;
  at = (long)meta[5];
  for (i = 0; i < ndim; i++)
    shape[i] = (size_t)meta[6 + i];
  ib = pk__mpi_item_bytes(pk__elem_dtype(&e), ndim, shape, &ovf);

  st = pk__mpi_dist_new(ctx, path, pk__elem_dtype(&e), ndim, shape, out);
  st = pk__mpi_settle(ctx, st, out);
  if (st != PK_OK)
    return st;
  if ((!pk__elem_native(&e) || fortran) && (*out)->count > 0 &&
      (raw = malloc((*out)->count * e.size)) == NULL)
    st = pk__error(ctx, PK_ENOMEM, "%s: cannot allocate %zu bytes to "
                   "convert on rank %d", path, (*out)->count * e.size,
                   m->rank);
  if ((st = pk__mpi_settle(ctx, st, out)) != PK_OK)
    return st;
  st = open_file(ctx, path, MPI_MODE_RDONLY, &fh);
  if ((st = pk__mpi_settle(ctx, st, out)) != PK_OK) {
    free(raw);
    return st;
  }
  if (!pk__elem_native(&e) || fortran) {
    st = read_raw(ctx, fh, (MPI_Offset)at, &e, fortran, shape[0], *out,
                  raw, path);
    if (st == PK_OK && raw != NULL)
      pk__elem_convert(&e, fortran, ndim, (*out)->shape, raw, (*out)->data);
    free(raw);
    if (m->rank == 0)
      pk__log(ctx, "%s: %s%s converted to %s in C order", path,
              pk__elem_name(&e), fortran ? " in Fortran order" : "",
              e.kind == 'c' ? "complex128" : "float64");
  } else {
    st = io_all(ctx, fh, (MPI_Offset)at + (MPI_Offset)((*out)->offset * ib),
                (*out)->data, (*out)->nbytes, 0, path);
  }
  MPI_File_close(&fh);
  return pk__mpi_settle(ctx, st, out);
}

pk_status pk__mpi_save_npy(pk_context *ctx, const pk_array *a,
                           const char *path) {
  mpi *m = ctx->impl;
  char hdr[512];
  size_t hlen, ib;
  int ovf = 0, rc = MPI_SUCCESS;
  pk_status st = PK_OK;
  MPI_File fh;

  if (!a->distributed) { /* a replica: rank 0's copy */
    if (m->rank == 0)
      st = pk_array_save_npy(ctx, a, path);
    return pk__mpi_agree(ctx, st);
  }
  hlen = pk__npy_write_header(a, hdr, sizeof hdr);
  ib = pk__mpi_item_bytes(a->dtype, a->ndim, a->shape, &ovf);
  st = open_file(ctx, path, MPI_MODE_WRONLY | MPI_MODE_CREATE, &fh);
  if ((st = pk__mpi_agree(ctx, st)) != PK_OK)
    return st;
  /* A longer file of the same name loses its end. */
  rc = MPI_File_set_size(fh, (MPI_Offset)(hlen + a->global * ib));
  if (rc == MPI_SUCCESS && m->rank == 0)
    rc = MPI_File_write_at(fh, 0, hdr, (int)hlen, MPI_BYTE,
                           MPI_STATUS_IGNORE);
  st = rc == MPI_SUCCESS ? PK_OK : pk__mpi_fail(ctx, rc, "writing the header");
  {
    pk_status w = io_all(ctx, fh, (MPI_Offset)(hlen + a->offset * ib),
                         a->data, a->nbytes, 1, path);
    if (st == PK_OK)
      st = w;
  }
  rc = MPI_File_close(&fh);
  if (st == PK_OK && rc != MPI_SUCCESS)
    st = pk__mpi_fail(ctx, rc, "MPI_File_close");
  return pk__mpi_agree(ctx, st);
}
