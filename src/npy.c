/* NumPy .npy files: versions 1.0, 2.0, 3.0; every number type numpy
   writes, in C or Fortran order (read); '<f8' and '<c16' in C order
   (written). */
#include "internal.h"

#include <parkit/mpi.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#define NPY_MAX_HEADER (1u << 20)

/*
 * The header is a Python dict literal, as numpy writes and reads it (with
 * ast.literal_eval): exactly the keys 'descr', 'fortran_order' and 'shape',
 * in any order, with a string, True or False, and a tuple of integers; a
 * key given twice takes its last value, as in Python.  Anything else is
 * refused, as numpy refuses it: looking keys up by text found 'shape'
 * inside another value and read the wrong shape.
 */
typedef struct cursor {
  const char *p;
} cursor;

static void skip(cursor *c) {
  while (isspace((unsigned char)*c->p))
    c->p++;
}

/* A quoted string ('...' or "...", no escapes) into buf: 0, or -1 if
   there is none or it does not fit. */
static int string(cursor *c, char *buf, size_t len) {
  char q = *c->p;
  const char *end;

  if (q != '\'' && q != '"')
    return -1;
  end = strchr(c->p + 1, q);
  if (end == NULL || memchr(c->p + 1, '\\', (size_t)(end - c->p - 1)) ||
      (size_t)(end - c->p - 1) >= len)
    return -1;
  memcpy(buf, c->p + 1, (size_t)(end - c->p - 1));
  buf[end - c->p - 1] = '\0';
  c->p = end + 1;
  return 0;
}

/* A Python name (True, False), whole: 1 if it is word. */
static int word(cursor *c, const char *w) {
  size_t n = strlen(w);

  if (strncmp(c->p, w, n) != 0 || isalnum((unsigned char)c->p[n]) ||
      c->p[n] == '_')
    return 0;
  c->p += n;
  return 1;
}

/* "(3, 4)", "(5,)", "()": 0; -2 for too many dimensions; -1 otherwise
   ("(5)" is an integer in Python, not a tuple). */
static int tuple(cursor *c, int *ndim, size_t *shape) {
  int n = 0, comma = 0;

  if (*c->p != '(')
    return -1;
  c->p++;
  for (skip(c); *c->p != ')'; skip(c)) {
    char *end;
    unsigned long long v;
    if (!isdigit((unsigned char)*c->p))
      return -1;
    errno = 0;
    v = strtoull(c->p, &end, 10);
    if (errno || v > SIZE_MAX)
      return -1;
    if (n == PK_MAX_DIMS)
      return -2;
    shape[n++] = (size_t)v;
    c->p = end;
    skip(c);
    comma = *c->p == ',';
    if (comma)
      c->p++;
    else if (*c->p != ')')
      return -1;
  }
  if (n == 1 && !comma)
    return -1;
  c->p++;
  *ndim = n;
  return 0;
}

static pk_status parse_header(pk_context *ctx, const char *path,
                              const char *h, pk__elem *e, int *fortran,
                              int *ndim, size_t *shape) {
  cursor c = {h};
  char key[32], descr[64] = "", why[256];
  int seen = 0, r = 0;

  *fortran = 0;

  skip(&c);
  if (*c.p++ != '{')
    goto bad;
  for (skip(&c); *c.p != '}'; skip(&c)) {
    int k;
    if (string(&c, key, sizeof key) < 0)
      goto bad;
    k = strcmp(key, "descr") == 0           ? 1
        : strcmp(key, "fortran_order") == 0 ? 2
        : strcmp(key, "shape") == 0         ? 4
                                            : 0;
    skip(&c);
    if (k == 0 || *c.p++ != ':')
      goto bad;
    seen |= k;
    skip(&c);
    if (k == 1 && *c.p == '[')
      return pk__error(ctx, PK_EDTYPE, "%s: a structured dtype (records) "
                       "is not supported; save one numeric field (numpy: "
                       "np.save(path, a['name']))", path);
    if (k == 1 && string(&c, descr, sizeof descr) < 0)
      goto bad;
    if (k == 2 && !(*fortran = word(&c, "True")) && !word(&c, "False"))
      goto bad;
    if (k == 4 && (r = tuple(&c, ndim, shape)) != 0)
      break;
    skip(&c);
    if (*c.p == ',')
      c.p++;
    else if (*c.p != '}')
      goto bad;
  }
  if (r == -2)
    return pk__error(ctx, PK_ESHAPE, "%s: more than %d dimensions", path,
                     PK_MAX_DIMS);
  if (r != 0)
    return pk__error(ctx, PK_EFORMAT, "%s: cannot read the shape in the "
                     ".npy header", path);
  c.p++;
  skip(&c);
  if (*c.p != '\0' || seen != 7)
    goto bad;
  if (pk__elem_parse(descr, e, why, sizeof why) != PK_OK)
    return pk__error(ctx, PK_EDTYPE, "%s: %s", path, why);
  if (*ndim == 0)
    return pk__error(ctx, PK_ESHAPE, "%s: a 0-d array has no batch axis",
                     path);
  return PK_OK;
bad:
  return pk__error(ctx, PK_EFORMAT, "%s: the .npy header is not a dict of "
                   "exactly 'descr', 'fortran_order' and 'shape' (near "
                   "\"%.24s\")", path, c.p > h ? c.p - 1 : c.p);
}

/* Read the magic, version and header; leave f at the data. */
static pk_status read_header(pk_context *ctx, FILE *f, const char *path,
                             char **header) {
  unsigned char pre[12];
  size_t hlen, lenbytes;
  char *h;

  if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\x93NUMPY", 6) != 0)
    return pk__error(ctx, PK_EFORMAT, "%s: not a .npy file (no \\x93NUMPY "
                     "magic)", path);
  if (pre[6] < 1 || pre[6] > 3)
    return pk__error(ctx, PK_EFORMAT, "%s: .npy format version %d.%d is "
                     "not supported (1.0 to 3.0 are)", path, pre[6], pre[7]);
  lenbytes = pre[6] == 1 ? 2 : 4;
  if (fread(pre + 8, 1, lenbytes, f) != lenbytes)
    return pk__error(ctx, PK_EFORMAT, "%s: truncated .npy header", path);
  hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
  if (lenbytes == 4)
    hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  if (hlen > NPY_MAX_HEADER)
    return pk__error(ctx, PK_EFORMAT, "%s: .npy header of %zu bytes is too "
                     "long", path, hlen);
  h = malloc(hlen + 1);
  if (h == NULL)
    return pk__error(ctx, PK_ENOMEM, "%s: out of memory", path);
  if (fread(h, 1, hlen, f) != hlen) {
    free(h);
    return pk__error(ctx, PK_EFORMAT, "%s: truncated .npy header", path);
  }
  h[hlen] = '\0';
  *header = h;
  return PK_OK;
}

/* Refuse a header that announces more data than the file holds, before
 * allocating for it. */
static pk_status check_size(pk_context *ctx, FILE *f, const char *path,
                            const pk__elem *e, int ndim, const size_t *shape) {
  size_t need = e->size;
  struct stat sb;
  long pos = ftell(f);
  int i, ovf = 0;

  for (i = 0; i < ndim; i++)
    need = pk__mul(need, shape[i], &ovf);
  if (ovf)
    return pk__error(ctx, PK_EOVERFLOW, "%s: the array's size in bytes "
                     "does not fit in size_t", path);
  if (pos < 0 || fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
    return PK_OK; /* not a plain file: the read itself will tell */
  if (sb.st_size < pos || (uintmax_t)(sb.st_size - pos) < need)
    return pk__error(ctx, PK_EFORMAT, "%s: the file holds %jd bytes of "
                     "data, fewer than the %zu its header announces", path,
                     (intmax_t)(sb.st_size < pos ? 0 : sb.st_size - pos),
                     need); /* shorter than the header read: cut since */
  return PK_OK;
}

/* The data of f, ndim dimensions of shape, of element type e in the given
   order, into a's C-ordered elements. */
static pk_status read_data(pk_context *ctx, FILE *f, const char *path,
                           const pk__elem *e, int fortran, pk_array *a) {
  size_t raw = a->count * e->size;
  void *buf = a->data;

  if (raw == 0)
    return PK_OK;
  if (!pk__elem_native(e) || (fortran && a->ndim > 1)) {
    if ((buf = malloc(raw)) == NULL)
      return pk__error(ctx, PK_ENOMEM, "%s: cannot allocate %zu bytes to "
                       "convert", path, raw);
  }
  if (fread(buf, 1, raw, f) != raw) {
    if (buf != a->data)
      free(buf);
    return pk__error(ctx, PK_EFORMAT, "%s: the file holds fewer than the "
                     "%zu bytes of data its header announces", path, raw);
  }
  if (buf != a->data) {
    pk__elem_convert(e, fortran, a->ndim, a->shape, buf, a->data);
    free(buf);
    pk__log(ctx, "%s: %s%s converted to %s in C order", path,
            pk__elem_name(e), fortran && a->ndim > 1 ? " in Fortran order" : "",
            a->dtype == PK_C128 ? "complex128" : "float64");
  }
  return PK_OK;
}

pk_status pk_array_load_npy(pk_context *ctx, const char *path,
                            pk_array **out) {
  size_t shape[PK_MAX_DIMS];
  char *header = NULL;
  pk_array *a = NULL;
  pk__elem e = {'f', 8, 0};
  pk_status st;
  int ndim = 0, fortran = 0;
  FILE *f;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (out == NULL)
    return pk__error(ctx, PK_EINVAL, "pk_array_load_npy: out is NULL");
  *out = NULL;
  if (path == NULL)
    return pk__error(ctx, PK_EINVAL, "pk_array_load_npy: path is NULL");
  f = fopen(path, "rb");
  if (f == NULL)
    return pk__error(ctx, PK_EIO, "%s: %s", path, strerror(errno));
  st = read_header(ctx, f, path, &header);
  if (st == PK_OK)
    st = parse_header(ctx, path, header, &e, &fortran, &ndim, shape);
  free(header);
  if (st == PK_OK)
    st = check_size(ctx, f, path, &e, ndim, shape);
  if (st == PK_OK)
    st = pk__array_new(ctx, "pk_array_load_npy", pk__elem_dtype(&e), ndim,
                       shape, &a);
  if (st == PK_OK && (st = read_data(ctx, f, path, &e, fortran, a)) != PK_OK)
    pk_array_destroy(&a);
  fclose(f);
  *out = a;
  return st;
}

/*
 * The format 1.0 header of a (of its global shape, if distributed) into
 * buf, as NumPy writes it: data aligned to 64 bytes.  Returns its length,
 * 0 if cap is too small.  pk_array_save_npy and the MPI-IO writer share it.
 */
size_t pk__npy_write_header(const pk_array *a, char *buf, size_t cap) {
  char dict[256], shape[160];
  size_t len = 0, hlen, pad, g = a->distributed ? a->global : a->shape[0];

  len += (size_t)snprintf(shape, sizeof shape, "(");
  for (int i = 0; i < a->ndim; i++)
    len += (size_t)snprintf(shape + len, sizeof shape - len, "%zu%s",
                            i ? a->shape[i] : g,
                            a->ndim == 1 ? "," : i + 1 < a->ndim ? ", " : "");
  snprintf(shape + len, sizeof shape - len, ")");
  /* The data as it is in memory: the host's byte order. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  const char *descr = a->dtype == PK_F64 ? ">f8" : ">c16";
#else
  const char *descr = a->dtype == PK_F64 ? "<f8" : "<c16";
#endif
  hlen = (size_t)snprintf(dict, sizeof dict,
                          "{'descr': '%s', 'fortran_order': False, "
                          "'shape': %s, }",
                          descr, shape);
  pad = 64 - (10 + hlen + 1) % 64;
  if (pad == 64)
    pad = 0;
  if (10 + hlen + pad + 1 > cap)
    return 0;
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (char)((hlen + pad + 1) & 0xff);
  buf[9] = (char)((hlen + pad + 1) >> 8);
  memcpy(buf + 10, dict, hlen);
  memset(buf + 10 + hlen, ' ', pad);
  buf[10 + hlen + pad] = '\n';
  return 10 + hlen + pad + 1;
}

/*
 * Where the file goes.  A regular file (or none yet) is written whole to a
 * new file beside it, which then replaces it by rename: a write that fails
 * (a full disk, a quota) leaves the old file as it was, and
 * processes saving the same path at once (every rank of a replica) leave
 * one whole file, never a mix or a file cut short while another process
 * reads it.  The new file takes the old one's permissions.  A symbolic
 * link is followed and its target replaced.  Written in place, as before:
 * a FIFO, a device (/dev/stdout), a file with other hard links (they would
 * keep the old data), or one in a folder this process cannot create files
 * in.  *tmp is "" when in place.
 */
static FILE *open_for_save(const char *path, char *tmp, size_t cap,
                           char *target, size_t tcap) {
  static unsigned long serial;
  struct stat sb;
  int have = stat(path, &sb) == 0, fd = -1;
  const char *slash;
  char *real;

  tmp[0] = '\0';
  if ((size_t)snprintf(target, tcap, "%s", path) >= tcap ||
      (have ? !S_ISREG(sb.st_mode) || sb.st_nlink > 1
            : lstat(path, &sb) == 0)) /* a link to nothing yet */
    return fopen(path, "wb");
  if (have && (real = realpath(path, NULL)) != NULL) {
    /* a link's target, or path */
    size_t n = (size_t)snprintf(target, tcap, "%s", real);
    free(real);
    if (n >= tcap)
      return fopen(path, "wb");
  }
  slash = strrchr(target, '/');
  for (int i = 0; i < 100 && fd < 0; i++) {
    unsigned long k = __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED);
    int len = slash ? (int)(slash - target + 1) : 0;
    if ((size_t)snprintf(tmp, cap, "%.*s.%s.%ld.%lu.tmp", len, target,
                         slash ? slash + 1 : target, (long)getpid(),
                         k) >= cap)
      break;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST)
      break;
  }
  if (fd < 0) {
    tmp[0] = '\0';
    return fopen(path, "wb");
  }
  if (have) { /* the old file's mode and, where allowed, owner */
    (void)fchmod(fd, sb.st_mode & 07777);
    if (fchown(fd, sb.st_uid, sb.st_gid) != 0)
      (void)fchmod(fd, sb.st_mode & 0777);
  }
  FILE *f = fdopen(fd, "wb");
  if (f == NULL) {
    close(fd);
    unlink(tmp);
    tmp[0] = '\0';
  }
  return f;
}

pk_status pk_array_save_npy(pk_context *ctx, const pk_array *a,
                            const char *path) {
  char hdr[512], tmp[4200], target[4096];
  size_t hlen;
  int ok, err;
  FILE *f;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (a == NULL || path == NULL)
    return pk__error(ctx, PK_EINVAL, "pk_array_save_npy: array and path "
                     "must not be NULL");
  if (pk__no_view(ctx, "pk_array_save_npy", a) != PK_OK)
    return PK_EINVAL;
  /* mpi: a distributed array is one file, each rank writing its block. */
  if (a->distributed)
    return pk_mpi_save_npy(ctx, a, path);
  hlen = pk__npy_write_header(a, hdr, sizeof hdr);
  f = open_for_save(path, tmp, sizeof tmp, target, sizeof target);
  if (f == NULL)
    return pk__error(ctx, PK_EIO, "%s: %s", path, strerror(errno));
  errno = 0;
  ok = fwrite(hdr, 1, hlen, f) == hlen;
  ok = ok && (a->nbytes == 0 ||
              fwrite(a->data, 1, a->nbytes, f) == a->nbytes);
  err = errno;
  ok = (fclose(f) == 0) && ok;
  if (ok && tmp[0] && rename(tmp, target) != 0)
    ok = 0;
  if (!ok) {
    err = err ? err : errno;
    if (tmp[0])
      unlink(tmp);
    return pk__error(ctx, PK_EIO, "%s: write failed: %s%s", path,
                     strerror(err ? err : EIO),
                     tmp[0] ? " (the file is as it was)" : "");
  }
  return PK_OK;
}

pk_status pk__npy_header(pk_context *ctx, const char *path, pk__elem *e,
                         int *fortran, int *ndim, size_t *shape,
                         long *data_at) {
  char *header = NULL;
  pk_status st;
  FILE *f = fopen(path, "rb");

  if (f == NULL)
    return pk__error(ctx, PK_EIO, "%s: %s", path, strerror(errno));
  st = read_header(ctx, f, path, &header);
  if (st == PK_OK)
    st = parse_header(ctx, path, header, e, fortran, ndim, shape);
  free(header);
  if (st == PK_OK)
    st = check_size(ctx, f, path, e, *ndim, shape);
  *data_at = ftell(f);
  fclose(f);
  return st;
}

/* ------------------------------------------- one file from every process */

/* parkit/mpi.h's .npy calls: a distributed array's blocks by the backend's
   MPI-IO, else pk_array_load_npy / pk_array_save_npy. */
pk_status pk_mpi_load_npy(pk_context *ctx, const char *path,
                          pk_array **out) {
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  if ((st = pk__begin_out(ctx, "pk_mpi_load_npy", out, path != NULL,
                          "path is NULL")) != PK_OK ||
      (st = pk__same(ctx, "pk_mpi_load_npy", "the path", path,
                     strlen(path))) != PK_OK)
    return st;
  if (ctx->ops->dist != NULL)
    return ctx->ops->dist->load_npy(ctx, path, out);
  return pk_array_load_npy(ctx, path, out);
}

pk_status pk_mpi_save_npy(pk_context *ctx, const pk_array *a,
                          const char *path) {
  pk_status st = PK_OK;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (a == NULL || path == NULL || a->ctx != ctx)
    st = pk__error(ctx, PK_EINVAL, "pk_mpi_save_npy: the array and path "
                   "must not be NULL, and the array must belong to this "
                   "context");
  else
    st = pk__no_view(ctx, "pk_mpi_save_npy", a);
  if ((st = pk__agree(ctx, st)) != PK_OK ||
      (st = pk__same(ctx, "pk_mpi_save_npy", "the path", path,
                     strlen(path))) != PK_OK)
    return st;
  if (ctx->ops->dist != NULL)
    return ctx->ops->dist->save_npy(ctx, a, path);
  return pk_array_save_npy(ctx, a, path);
}
