/*
 * numpy's element types into parkit's: bool, integers, floats and complex
 * numbers of either byte order, in C or Fortran order, to float64 or
 * complex128 in C order, each value as numpy's astype gives it.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 on a little-endian host. */
static int little(void) {
  const uint16_t one = 1;
  return *(const unsigned char *)&one == 1;
}

pk_status pk__elem_parse(const char *typestr, pk__elem *e, char *why,
                         size_t len) {
  const char *s = typestr;
  char order, kind;
  long size;
  char *end;

  memset(e, 0, sizeof *e);
  order = *s == '<' || *s == '>' || *s == '|' || *s == '=' ? *s++ : '=';
  kind = *s ? *s++ : '\0';
  size = *s >= '0' && *s <= '9' ? strtol(s, &end, 10) : -1;
  if (size < 0 || *end != '\0' || strchr("biufc", kind) == NULL || !kind) {
    snprintf(why, len, "dtype '%s' is not a number type: parkit reads bool, "
             "integers, float16/32/64 and complex64/128; convert it first "
             "(numpy: a.astype(np.float64))", typestr);
    return PK_EDTYPE;
  }
  int ok = kind == 'b'   ? size == 1
           : kind == 'i' ? size == 1 || size == 2 || size == 4 || size == 8
           : kind == 'u' ? size == 1 || size == 2 || size == 4 || size == 8
           : kind == 'f' ? size == 2 || size == 4 || size == 8
                         : size == 8 || size == 16;
  if (!ok) {
    snprintf(why, len, "dtype '%s' is not supported%s; convert it first "
             "(numpy: a.astype(np.%s))", typestr,
             kind == 'f' || kind == 'c' ? " (extended precision does not "
                                          "fit float64)" : "",
             kind == 'c' ? "complex128" : "float64");
    return PK_EDTYPE;
  }
  e->kind = kind;
  e->size = (unsigned char)size;
  e->swap = size > 1 && order != '=' && order != '|' &&
            (order == '<') != little();
  return PK_OK;
}

pk_dtype pk__elem_dtype(const pk__elem *e) {
  return e->kind == 'c' ? PK_C128 : PK_F64;
}

int pk__elem_native(const pk__elem *e) {
  return !e->swap && (e->kind == 'f' || e->kind == 'c') &&
         e->size == (e->kind == 'f' ? 8 : 16);
}

const char *pk__elem_name(const pk__elem *e) {
  switch (e->kind) {
  case 'b':
    return "bool";
  case 'i':
    return e->size == 1 ? "int8" : e->size == 2 ? "int16"
           : e->size == 4 ? "int32" : "int64";
  case 'u':
    return e->size == 1 ? "uint8" : e->size == 2 ? "uint16"
           : e->size == 4 ? "uint32" : "uint64";
  case 'f':
    return e->size == 2 ? "float16" : e->size == 4 ? "float32" : "float64";
  default:
    return e->size == 8 ? "complex64" : "complex128";
  }
}

/* IEEE binary16 to double, exactly (every half is a double). */
static double half(uint16_t h) {
  int exp = (h >> 10) & 0x1f;
  double m = h & 0x3ff, v;

  if (exp == 0x1f)
    v = m ? NAN : INFINITY;
  else if (exp == 0)
    v = ldexp(m, -24);
  else
    v = ldexp(m + 1024, exp - 25);
  return h & 0x8000 ? -v : v;
}

/* The real number of size bytes at p (one part of a complex number). */
static double real_at(const unsigned char *p, const pk__elem *e,
                      unsigned size) {
  unsigned char b[8];
  uint64_t u = 0;

  if (e->swap)
    for (unsigned i = 0; i < size; i++)
      b[i] = p[size - 1 - i];
  else
    memcpy(b, p, size);
  switch (e->kind) {
  case 'b':
    return b[0] != 0;
  case 'i':
    switch (size) {
    case 1: { int8_t v; memcpy(&v, b, 1); return v; }
    case 2: { int16_t v; memcpy(&v, b, 2); return v; }
    case 4: { int32_t v; memcpy(&v, b, 4); return v; }
    default: { int64_t v; memcpy(&v, b, 8); return (double)v; }
    }
  case 'u':
    memcpy(&u, b, size); /* little-endian host: the low bytes */
    if (!little())
      u >>= 8 * (8 - size);
    return (double)u;
  default: /* 'f', or one part of 'c' */
    switch (size) {
    case 2: { uint16_t v; memcpy(&v, b, 2); return half(v); }
    case 4: { float v; memcpy(&v, b, 4); return v; }
    default: { double v; memcpy(&v, b, 8); return v; }
    }
  }
}

/* Element k of src (its byte offset in units of e->size) into dst[i]. */
static void put(const pk__elem *e, const unsigned char *src, size_t k,
                void *dst, size_t i) {
  const unsigned char *p = src + k * e->size;

  if (e->kind == 'c') {
    unsigned half_size = e->size / 2u;
    ((double *)dst)[2 * i] = real_at(p, e, half_size);
    ((double *)dst)[2 * i + 1] = real_at(p + half_size, e, half_size);
  } else {
    ((double *)dst)[i] = real_at(p, e, e->size);
  }
}

void pk__elem_convert(const pk__elem *e, int fortran, int ndim,
                      const size_t *shape, const void *src, void *dst) {
  size_t count = 1, idx[PK_MAX_DIMS] = {0}, stride[PK_MAX_DIMS], k = 0;
  int d;

  for (d = 0; d < ndim; d++)
    count *= shape[d];
  if (count == 0)
    return;
  if (!fortran || ndim < 2) {
    if (pk__elem_native(e))
      memcpy(dst, src, count * e->size);
    else
      for (size_t i = 0; i < count; i++)
        put(e, src, i, dst, i);
    return;
  }
  /* Fortran order: walk dst in C order, keeping src's element offset k. */
  for (d = 0; d < ndim; d++)
    stride[d] = d == 0 ? 1 : stride[d - 1] * shape[d - 1];
  for (size_t i = 0; i < count; i++) {
    put(e, src, k, dst, i);
    for (d = ndim - 1; d >= 0; d--) {
      k += stride[d];
      if (++idx[d] < shape[d])
        break;
      k -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
}

pk_status pk_array_convert(pk_context *ctx, const char *typestr, int fortran,
                           int ndim, const size_t *shape, const void *data,
                           pk_array **out) {
  char why[256];
  pk__elem e;
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (out != NULL)
    *out = NULL;
  if (out == NULL || typestr == NULL || shape == NULL)
    return pk__error(ctx, PK_EINVAL, "pk_array_convert: typestr, shape and "
                     "out must not be NULL");
  if (pk__elem_parse(typestr, &e, why, sizeof why) != PK_OK)
    return pk__error(ctx, PK_EDTYPE, "pk_array_convert: %s", why);
  st = pk__array_new(ctx, "pk_array_convert", pk__elem_dtype(&e), ndim,
                      shape, out);
  if (st != PK_OK)
    return st;
  if (data == NULL && (*out)->count > 0) {
    size_t n = (*out)->count;
    pk_array_destroy(out);
    return pk__error(ctx, PK_EINVAL, "pk_array_convert: data is NULL for "
                     "%zu elements", n);
  }
  pk__elem_convert(&e, fortran, ndim, shape, data, (*out)->data);
  return PK_OK;
}

/* ------------------------------------------------------- the batch axis */

/*
 * The checks pk_array_moveaxis and pk_array_view share; a as (P, B, Q), B
 * its axis `axis`, in shape the batch first and then the others.
 */
static pk_status split_axis(pk_context *ctx, const char *fn,
                            const pk_array *a, int axis, pk_array **out,
                            size_t *shape, size_t *P, size_t *Q) {
  int d, k = 1;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (out != NULL)
    *out = NULL;
  if (out == NULL || a == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: the array and out must not be "
                     "NULL", fn);
  if (a->ctx != ctx)
    return pk__error(ctx, PK_EINVAL, "%s: the array belongs to another "
                     "context", fn);
  if (axis < -a->ndim || axis >= a->ndim)
    return pk__error(ctx, PK_EINVAL, "%s: axis %d is not one of this %d-d "
                     "array's (%d to %d)", fn, axis, a->ndim, -a->ndim,
                     a->ndim - 1);
  if (pk__no_view(ctx, fn, a) != PK_OK)
    return PK_EINVAL;
  if (axis < 0)
    axis += a->ndim;
  if (a->distributed && axis != 0)
    return pk__error(ctx, PK_EINVAL, "%s: a distributed array is split "
                     "along axis 0; move the axis before distributing it "
                     "(pk_mpi_scatter)", fn);
  shape[0] = a->shape[axis];
  *P = *Q = 1;
  for (d = 0; d < a->ndim; d++) {
    if (d == axis)
      continue;
    shape[k++] = a->shape[d];
    if (d < axis)
      *P *= a->shape[d];
    else
      *Q *= a->shape[d];
  }
  return PK_OK;
}

pk_status pk_array_moveaxis(pk_context *ctx, const pk_array *a, int axis,
                            pk_array **out) {
  size_t shape[PK_MAX_DIMS], P = 1, B, Q = 1, es;
  pk_status st;

  if ((st = split_axis(ctx, "pk_array_moveaxis", a, axis, out, shape, &P,
                       &Q)) != PK_OK)
    return st;
  B = shape[0];
  /* a as (P, B, Q), out as (B, P, Q). */
  if ((st = pk__array_new(ctx, "pk_array_moveaxis", a->dtype, a->ndim, shape,
                             out)) != PK_OK)
    return st;
  es = pk_dtype_size(a->dtype) * Q; /* bytes of one (p, b) run */
  const char *src = a->data;
  char *dst = (*out)->data;
  /* Tiles of 16 x 16 runs, so that both sides stay in cache when a run
     is one element (the batch last). */
  for (size_t p0 = 0; p0 < P; p0 += 16)
    for (size_t b0 = 0; b0 < B; b0 += 16)
      for (size_t p = p0; p < P && p < p0 + 16; p++)
        for (size_t b = b0; b < B && b < b0 + 16; b++) {
          char *to = dst + (b * P + p) * es;
          const char *from = src + (p * B + b) * es;
          if (es == 8) /* one double: a copy the compiler sees the size of */
            memcpy(to, from, 8);
          else
            memcpy(to, from, es);
        }
  return PK_OK;
}

pk_status pk_array_view(pk_context *ctx, const pk_array *a, int axis,
                        pk_array **out) {
  size_t shape[PK_MAX_DIMS], P = 1, Q = 1, es;
  pk_array *v;
  pk_status st;

  if ((st = split_axis(ctx, "pk_array_view", a, axis, out, shape, &P,
                       &Q)) != PK_OK)
    return st;
  v = pk__array_header(ctx, a->dtype, a->ndim, shape, a->count, a->nbytes);
  if (v == NULL)
    return pk__error(ctx, PK_ENOMEM, "pk_array_view: out of memory");
  es = pk_dtype_size(a->dtype) * Q;
  v->data = a->data;
  v->handle = a->handle;
  v->wrapped = a->wrapped;
  v->distributed = a->distributed;
  v->offset = a->offset;
  v->global = a->global;
  v->view = a;
  ((pk_array *)a)->views++; /* a's memory lives as long as v */
  v->vstride = es;
  /* Item b is P runs of Q elements, B * Q elements apart; with P = 1 it
     is contiguous and read as it is. */
  if (P > 1) {
    v->gather.runs = P;
    v->gather.run = es;
    v->gather.runstride = shape[0] * es;
  }
  ctx->narrays++;
  *out = v;
  return PK_OK;
}
