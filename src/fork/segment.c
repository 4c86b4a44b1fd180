/*
 * The fork backend's shared memory (backend.h): the control block's layout,
 * and the segments as the parent makes and frees them: anonymous memfds
 * mapped MAP_SHARED, and the staging segments that carry wrapped arrays and
 * task buffers.
 */
#include "backend.h"
#include "sync.h"

/* Where each part of the control block is, from p->n and p->base. */
void pk__fork_layout(pool *p) {
  size_t n = (size_t)p->n, off = pages(sizeof(ctl));
  size_t o_kdata = off;
  off += KDATA;
  size_t o_plans = off;
  off += PLANCAP;
  size_t o_slots = off;
  off += pages(n * sizeof(slot));
  size_t o_fails = off;
  off += pages(n * FAILCAP * sizeof(frec));
  size_t o_live = off;
  off += pages(LIVECAP * sizeof(uint64_t));
  size_t o_claim = off;
  off += 3 * pages(MAXCHUNKS * sizeof(uint32_t));
  size_t o_order = off;
  off += pages(MAXCHUNKS * sizeof(uint64_t));
  p->mapsize = off;
  if (p->base == NULL)
    return;
  p->c = (ctl *)p->base;
  p->kdata = p->base + o_kdata;
  p->plans = p->base + o_plans;
  p->slots = (slot *)(p->base + o_slots);
  p->fails = (frec *)(p->base + o_fails);
  p->live = (uint64_t *)(p->base + o_live);
  p->claim = (_Atomic uint32_t *)(p->base + o_claim);
  p->done = p->claim + pages(MAXCHUNKS * sizeof(uint32_t)) / 4;
  p->who = p->done + pages(MAXCHUNKS * sizeof(uint32_t)) / 4;
  p->order = (_Atomic uint64_t *)(p->base + o_order);
}

pk_status pk__fork_seg_new(pool *p, size_t size, seg **out) {
  seg *s = calloc(1, sizeof *s);
  int fd = -1;

  if (s == NULL || (s->known = calloc((size_t)p->n, 1)) == NULL)
    goto nomem;
  fd = memfd_create("parkit", MFD_CLOEXEC);
  if (fd < 0)
    goto sys;
  if (ftruncate(fd, (off_t)size) != 0)
    goto sys;
  s->addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (s->addr == MAP_FAILED)
    goto sys;
  s->fd = fd;
  s->size = size;
  s->id = ++p->next_id;
  s->prev = p->tail;
  if (p->tail)
    p->tail->next = s;
  else
    p->head = s;
  p->tail = s;
  p->live_dirty = 1;
  *out = s;
  return PK_OK;
sys:
  if (fd >= 0)
    close(fd);
  if (s)
    free(s->known);
  free(s);
  /* Out of descriptors is not out of memory (fork_alloc says which). */
  return errno == ENOMEM || errno == ENOSPC ? PK_ENOMEM : PK_ESYS;
nomem:
  if (s)
    free(s->known);
  free(s);
  return PK_ENOMEM;
}

void pk__fork_seg_free(pool *p, seg *s) {
  if (s == NULL)
    return;
  munmap(s->addr, s->size);
  if (s->fd >= 0)
    close(s->fd);
  if (s->prev)
    s->prev->next = s->next;
  else
    p->head = s->next;
  if (s->next)
    s->next->prev = s->prev;
  else
    p->tail = s->prev;
  p->live_dirty = 1;
  free(s->known);
  free(s);
}

/* A staging segment of at least size bytes, kept for later calls. */
pk_status pk__fork_stage(pool *p, int i, size_t size, seg **out) {
  seg *s = p->stage[i];

  if (s == NULL || s->size < size) {
    size_t want = pages(size > 2 * (s ? s->size : 0) ? size : 2 * s->size);
    pk__fork_seg_free(p, s);
    p->stage[i] = NULL;
    pk_status st = pk__fork_seg_new(p, want, &p->stage[i]);
    if (st != PK_OK)
      return st;
  }
  *out = p->stage[i];
  return PK_OK;
}
