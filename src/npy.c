/* NumPy .npy files: versions 1.0, 2.0, 3.0; '<f8' and '<c16'; C order. */
#include "internal.h"

#include <parkit/mpi.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAX_HEADER (1u << 20)

/* The value after 'key': in dict d, or NULL. */
static const char *dict_value(const char *d, const char *key) {
  char pat[32];
  const char *p;

  snprintf(pat, sizeof pat, "'%s'", key);
  p = strstr(d, pat);
  if (p == NULL)
    return NULL;
  p += strlen(pat);
  while (isspace((unsigned char)*p))
    p++;
  if (*p != ':')
    return NULL;
  p++;
  while (isspace((unsigned char)*p))
    p++;
  return p;
}

/* Parse "(3, 4)" or "(5,)" or "()". */
static int parse_shape(const char *p, int *ndim, size_t *shape) {
  int n = 0;

  if (*p++ != '(')
    return -1;
  for (;;) {
    char *end;
    unsigned long long v;
    while (isspace((unsigned char)*p))
      p++;
    if (*p == ')')
      break;
    if (!isdigit((unsigned char)*p))
      return -1;
    errno = 0;
    v = strtoull(p, &end, 10);
    if (errno || v > SIZE_MAX)
      return -1;
    if (n == PK_MAX_DIMS)
      return -2;
    shape[n++] = (size_t)v;
    p = end;
    while (isspace((unsigned char)*p))
      p++;
    if (*p == ',')
      p++;
    else if (*p != ')')
      return -1;
  }
  *ndim = n;
  return 0;
}

static pk_status parse_header(pk_context *ctx, const char *path,
                              const char *h, pk_dtype *dt, int *ndim,
                              size_t *shape) {
  const char *d = dict_value(h, "descr"), *f = dict_value(h, "fortran_order");
  const char *s = dict_value(h, "shape");
  int r;

  if (d == NULL || f == NULL || s == NULL)
    return pk__error(ctx, PK_EFORMAT, "%s: the .npy header lacks descr, "
                     "fortran_order or shape", path);
  if (strncmp(d, "'<f8'", 5) == 0)
    *dt = PK_F64;
  else if (strncmp(d, "'<c16'", 6) == 0)
    *dt = PK_C128;
  else {
    int len = 0;
    while (d[len] && d[len] != ',' && len < 40)
      len++;
    return pk__error(ctx, PK_EFORMAT, "%s: dtype %.*s is not supported; "
                     "parkit reads '<f8' (float64) and '<c16' (complex128)",
                     path, len, d);
  }
  if (strncmp(f, "False", 5) != 0)
    return pk__error(ctx, PK_EFORMAT, "%s: Fortran-ordered arrays are not "
                     "supported; save a C-ordered array "
                     "(numpy.ascontiguousarray)", path);
  r = parse_shape(s, ndim, shape);
  if (r == -2)
    return pk__error(ctx, PK_ESHAPE, "%s: more than %d dimensions", path,
                     PK_MAX_DIMS);
  if (r != 0)
    return pk__error(ctx, PK_EFORMAT, "%s: cannot read the shape in the "
                     ".npy header", path);
  if (*ndim == 0)
    return pk__error(ctx, PK_ESHAPE, "%s: a 0-d array has no batch axis",
                     path);
  return PK_OK;
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
                            pk_dtype dt, int ndim, const size_t *shape) {
  size_t need = pk_dtype_size(dt);
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
                     (intmax_t)(sb.st_size - pos), need);
  return PK_OK;
}

pk_status pk_array_load_npy(pk_context *ctx, const char *path,
                            pk_array **out) {
  size_t shape[PK_MAX_DIMS];
  char *header = NULL;
  pk_array *a = NULL;
  pk_dtype dt = PK_F64;
  pk_status st;
  int ndim = 0;
  FILE *f;

  if (ctx == NULL || out == NULL)
    return PK_EINVAL;
  *out = NULL;
  pk__begin(ctx);
  if (path == NULL)
    return pk__error(ctx, PK_EINVAL, "pk_array_load_npy: path is NULL");
  f = fopen(path, "rb");
  if (f == NULL)
    return pk__error(ctx, PK_EIO, "%s: %s", path, strerror(errno));
  st = read_header(ctx, f, path, &header);
  if (st == PK_OK)
    st = parse_header(ctx, path, header, &dt, &ndim, shape);
  free(header);
  if (st == PK_OK)
    st = check_size(ctx, f, path, dt, ndim, shape);
  if (st == PK_OK)
    st = pk__array_new(ctx, dt, ndim, shape, &a);
  if (st == PK_OK && a->nbytes &&
      fread(a->data, 1, a->nbytes, f) != a->nbytes) {
    st = pk__error(ctx, PK_EFORMAT, "%s: the file holds fewer than the %zu "
                   "bytes of data its header announces", path, a->nbytes);
    pk_array_destroy(&a);
  }
  fclose(f);
  *out = a;
  return st;
}

pk_status pk_array_save_npy(pk_context *ctx, const pk_array *a,
                            const char *path) {
  char dict[256], shape[160];
  unsigned char pre[12];
  size_t len = 0, hlen, pad, pre_len;
  int i, ok;
  FILE *f;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (a == NULL || path == NULL)
    return pk__error(ctx, PK_EINVAL, "pk_array_save_npy: array and path "
                     "must not be NULL");
  /* mpi: a distributed array is one file, each rank writing its block. */
  if (a->distributed)
    return pk_mpi_save_npy(ctx, a, path);
  len += (size_t)snprintf(shape, sizeof shape, "(");
  for (i = 0; i < a->ndim; i++)
    len += (size_t)snprintf(shape + len, sizeof shape - len, "%zu%s",
                            a->shape[i], a->ndim == 1 || i + 1 < a->ndim
                                             ? (a->ndim == 1 ? "," : ", ")
                                             : "");
  snprintf(shape + len, sizeof shape - len, ")");
  hlen = (size_t)snprintf(dict, sizeof dict,
                          "{'descr': '%s', 'fortran_order': False, "
                          "'shape': %s, }",
                          a->dtype == PK_F64 ? "<f8" : "<c16", shape);
  /* Version 1.0; data aligned to 64 bytes as NumPy writes it. */
  pre_len = 10;
  pad = 64 - (pre_len + hlen + 1) % 64;
  if (pad == 64)
    pad = 0;
  memcpy(pre, "\x93NUMPY\x01\x00", 8);
  pre[8] = (unsigned char)((hlen + pad + 1) & 0xff);
  pre[9] = (unsigned char)((hlen + pad + 1) >> 8);

  f = fopen(path, "wb");
  if (f == NULL)
    return pk__error(ctx, PK_EIO, "%s: %s", path, strerror(errno));
  ok = fwrite(pre, 1, pre_len, f) == pre_len &&
       fwrite(dict, 1, hlen, f) == hlen;
  for (; ok && pad > 0; pad--)
    ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF;
  ok = ok && (a->nbytes == 0 ||
              fwrite(a->data, 1, a->nbytes, f) == a->nbytes);
  ok = (fclose(f) == 0) && ok;
  if (!ok)
    return pk__error(ctx, PK_EIO, "%s: write failed: %s", path,
                     strerror(errno));
  return PK_OK;
}

pk_status pk__npy_header(pk_context *ctx, const char *path, pk_dtype *dt,
                         int *ndim, size_t *shape, long *data_at) {
  char *header = NULL;
  pk_status st;
  FILE *f = fopen(path, "rb");

  if (f == NULL)
    return pk__error(ctx, PK_EIO, "%s: %s", path, strerror(errno));
  st = read_header(ctx, f, path, &header);
  if (st == PK_OK)
    st = parse_header(ctx, path, header, dt, ndim, shape);
  free(header);
  if (st == PK_OK)
    st = check_size(ctx, f, path, *dt, *ndim, shape);
  *data_at = ftell(f);
  fclose(f);
  return st;
}
