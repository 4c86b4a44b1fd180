/*
 * What the planner (fftplan.c) and the wisdom file (wisdom.c) both say and
 * count: lines for the verbose, the count of changes to the planning
 * state, and a refusal's message.  The lines are kept under the planning
 * lock.
 */
#include "fftplan.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static atomic_ulong planned;
static char notes[2048]; /* lines for the verbose, not yet handed over */
static size_t nnotes;

/* A line for the verbose (under lock); dropped when the buffer is full. */
void pk__fft_note(const char *fmt, ...) {
  va_list ap;
  int n;

  if (nnotes + 2 >= sizeof notes)
    return;
  va_start(ap, fmt);
  n = vsnprintf(notes + nnotes, sizeof notes - nnotes - 1, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof notes - nnotes - 1) {
    notes[nnotes] = '\0'; /* a cut line says less than none */
    return;
  }
  nnotes += (size_t)n;
  notes[nnotes++] = '\n';
  notes[nnotes] = '\0';
}

int pk__fft_notes_take(char *msg, size_t len) {
  int said = nnotes > 0 && msg && len;

  if (said)
    snprintf(msg, len, "%.*s", (int)(nnotes - 1), notes);
  nnotes = 0;
  notes[0] = '\0';
  return said;
}

unsigned long pk__fft_planned(void) { return atomic_load(&planned); }

unsigned long pk__fft_bump(void) { return atomic_fetch_add(&planned, 1) + 1; }

pk_status pk__fft_refuse(char *msg, size_t len, pk_status st,
                         const char *fmt, ...) {
  va_list ap;

  if (msg && len) {
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
  }
  return st;
}
