/*
 * FFTW's wisdom in a file that outlives the process (fftplan.h): read once
 * before the first plan, merged back after maps that planned, under a lock
 * file and by rename, so that parallel runs and ranks never corrupt it; a
 * file that is not wisdom is never written.  Every function here runs
 * under the planning lock of fftplan.c.
 */
#include "fftplan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int follower;     /* plans as a leading process says: no file */
static int wisdom_read;  /* the wisdom file was read, or is not to be */
static char *wpath;      /* the wisdom file; NULL: none */
static int own_dir;      /* wpath is ours, in the cache directory */
static int refused;      /* wpath is not wisdom: never written */
static unsigned long saved_at; /* pk__fft_planned() when last merged */

static int is_wisdom(const char *s, size_t n) {
  return n >= 8 && memcmp(s, "(fftw-3.", 8) == 0;
}

/* The whole file, NUL-terminated, its length in *n; NULL with errno. */
static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  char *s = NULL;
  size_t cap = 0, len = 0;

  if (!f)
    return NULL;
  for (;;) {
    if (cap - len < 4096) {
      char *t = realloc(s, cap += 65536);
      if (!t) {
        free(s);
        fclose(f);
        errno = ENOMEM;
        return NULL;
      }
      s = t;
    }
    size_t r = fread(s + len, 1, cap - len - 1, f);
    len += r;
    if (r == 0)
      break;
  }
  if (ferror(f)) {
    free(s);
    fclose(f);
    errno = EIO;
    return NULL;
  }
  fclose(f);
  s[len] = '\0';
  *n = len;
  return s;
}

/* Measured plans belong to one FFTW build on one kind of CPU: a home
 * directory shared by unlike nodes keeps one file for each. */
static unsigned cpu_hash(void) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  unsigned h = 2166136261u; /* FNV-1a */

  if (!f)
    return 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "model name", 10) == 0) {
      for (const char *p = line; *p && *p != '\n'; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
      break;
    }
  fclose(f);
  return h;
}

/* PARKIT_FFTW_WISDOM, else the user's cache directory; NULL: none. */
static char *wisdom_path(int *own_dir) {
  const char *e = getenv("PARKIT_FFTW_WISDOM"), *base, *sub = "";
  char *p;
  size_t n;

  *own_dir = 0;
  if (e && *e)
    return strcasecmp(e, "off") == 0 ? NULL : strdup(e);
  base = getenv("XDG_CACHE_HOME");
  if (!base || base[0] != '/') {
    base = getenv("HOME");
    sub = "/.cache";
    if (!base || !*base)
      return NULL;
  }
  n = strlen(base) + strlen(sub) + strlen(fftw_version) + 40;
  if ((p = malloc(n)) != NULL)
    snprintf(p, n, "%s%s/parkit/%s-%08x.wisdom", base, sub, fftw_version,
             cpu_hash());
  *own_dir = 1;
  return p;
}

/* mkdir -p of the directories above path, private to the user. */
static void make_dirs(char *path) {
  for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
    *s = '\0';
    mkdir(path, 0700);
    *s = '/';
  }
}

void pk__wisdom_load(void) {
  size_t n = 0;
  char *s;

  if (wisdom_read)
    return;
  wisdom_read = 1;
  if (follower || !(wpath = wisdom_path(&own_dir)))
    return;
  saved_at = pk__fft_planned();
  if (!(s = slurp(wpath, &n))) {
    if (errno != ENOENT)
      pk__fft_note("FFTW wisdom: cannot read %s: %s", wpath, strerror(errno));
    return;
  }
  if (n > 0 && !is_wisdom(s, n)) {
    refused = 1;
    pk__fft_note("FFTW wisdom: %s is not FFTW wisdom (it does not begin with "
                 "\"(fftw-3.\"): left alone, plans not saved", wpath);
  } else if (n > 0 && !fftw_import_wisdom_from_string(s)) {
    pk__fft_note("FFTW wisdom: FFTW refused %s (another version?); it will be "
                 "replaced", wpath);
  } else if (n > 0) {
    pk__fft_note("FFTW wisdom: read %s", wpath);
    saved_at = pk__fft_bump();
  }
  free(s);
}

/* Next line of s at *p (its length in *len, newline included); 0 at end. */
static int next_line(const char *s, size_t *p, size_t *len) {
  const char *nl;

  if (!s[*p])
    return 0;
  nl = strchr(s + *p, '\n');
  *len = nl ? (size_t)(nl - (s + *p)) + 1 : strlen(s + *p);
  return 1;
}

/* An entry of a wisdom text: "  (solver ...)" on a line of its own. */
static int is_entry(const char *l, size_t len) {
  while (len && (*l == ' ' || *l == '\t'))
    l++, len--;
  return len > 1 && *l == '(';
}

/*
 * The old file's entries, then the new ones it lacks, under the new header
 * (FFTW's import takes entries in any order).  If the old file is another
 * FFTW's, the new wisdom alone.
 */
static char *merge(const char *old, const char *w) {
  size_t hl, p, len, n = strlen(w) + (old ? strlen(old) : 0) + 4;
  char *out = malloc(n), *o = out;

  if (!out)
    return NULL;
  p = 0;
  if (!next_line(w, &p, &hl))
    hl = 0;
  memcpy(o, w, hl);
  o += hl;
  if (old && strncmp(old, w, hl) == 0)
    for (p = hl; next_line(old, &p, &len); p += len)
      if (is_entry(old + p, len)) {
        memcpy(o, old + p, len);
        o += len;
        if (o[-1] != '\n')
          *o++ = '\n';
      }
  *o = '\0';
  for (p = hl; next_line(w, &p, &len); p += len) {
    if (!is_entry(w + p, len))
      continue;
    int seen = 0;
    for (size_t q = hl, l2; !seen && next_line(out, &q, &l2); q += l2)
      seen = l2 == len && memcmp(out + q, w + p, len) == 0;
    if (!seen) {
      memcpy(o, w + p, len);
      o += len;
      *o = '\0';
    }
  }
  memcpy(o, ")\n", 3);
  return out;
}

static int write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t r = write(fd, s, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    s += r;
    n -= (size_t)r;
  }
  return 0;
}

/*
 * Merge this process's wisdom into the file (under lock): other runs may
 * have added theirs since it was read.  A lock file beside it serialises
 * writers (fcntl locks: NFS too); the new text goes to a temporary file in
 * the same directory and is renamed over the old, so a reader sees the old
 * file or the new one, never half of one.
 */
static void wisdom_save(void) {
  size_t n = strlen(wpath) + 16, oldn = 0;
  char *w = fftw_export_wisdom_to_string(), *old = NULL, *text = NULL;
  char *lk = malloc(n), *tmp = malloc(n);
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  int fd = -1, tfd;

  if (!w || !lk || !tmp)
    goto out;
  if (own_dir)
    make_dirs(wpath);
  snprintf(lk, n, "%s.lock", wpath);
  snprintf(tmp, n, "%s.XXXXXX", wpath);
  if ((fd = open(lk, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
    pk__fft_note("FFTW wisdom: cannot write %s: %s", lk, strerror(errno));
    goto out;
  }
  while (fcntl(fd, F_SETLKW, &fl) < 0)
    if (errno != EINTR) {
      pk__fft_note("FFTW wisdom: cannot lock %s: %s", lk, strerror(errno));
      goto out;
    }
  if (!(old = slurp(wpath, &oldn)) && errno != ENOENT) {
    pk__fft_note("FFTW wisdom: cannot read %s: %s", wpath, strerror(errno));
    goto out;
  }
  if (old && oldn > 0 && !is_wisdom(old, oldn)) {
    refused = 1;
    pk__fft_note("FFTW wisdom: %s is not FFTW wisdom (it does not begin with "
                 "\"(fftw-3.\"): left alone, plans not saved", wpath);
    goto out;
  }
  if (!(text = merge(old && oldn ? old : NULL, w)))
    goto out;
  if (old && strcmp(text, old) == 0)
    goto out; /* nothing new */
  if ((tfd = mkstemp(tmp)) < 0) {
    pk__fft_note("FFTW wisdom: cannot write in the directory of %s: %s", wpath,
                 strerror(errno));
    goto out;
  }
  if (write_all(tfd, text, strlen(text)) != 0 || close(tfd) != 0 ||
      rename(tmp, wpath) != 0) {
    pk__fft_note("FFTW wisdom: cannot write %s: %s", wpath, strerror(errno));
    unlink(tmp);
    goto out;
  }
  pk__fft_note("FFTW wisdom: wrote %s", wpath);
out:
  if (fd >= 0)
    close(fd); /* and the lock with it */
  free(text);
  free(old);
  free(tmp);
  free(lk);
  free(w); /* FFTW's export is freed with free() */
}

void pk__wisdom_flush(void) {
  if (!follower && wpath && !refused) {
    unsigned long now = pk__fft_planned();
    if (now != saved_at) {
      wisdom_save();
      saved_at = now;
    }
  }
}

void pk__wisdom_follow(void) { follower = wisdom_read = 1; }

void pk__wisdom_reset(void) {
  follower = wisdom_read = refused = own_dir = 0;
  free(wpath);
  wpath = NULL;
}

pk_status pk__wisdom_check(char *msg, size_t len) {
  const char *s = getenv("PARKIT_FFTW_WISDOM");
  char head[8];
  size_t n;
  FILE *f;

  if (!s || !*s || strcasecmp(s, "off") == 0 || !(f = fopen(s, "rb")))
    return PK_OK; /* absent or unreadable: the verbose hear of it later */
  n = fread(head, 1, sizeof head, f);
  fclose(f);
  if (n > 0 && !is_wisdom(head, n))
    return pk__fft_refuse(msg, len, PK_EINVAL,
                          "PARKIT_FFTW_WISDOM=%s is not an FFTW wisdom file "
                          "(it does not begin with \"(fftw-3.\"): refusing to "
                          "overwrite it", s);
  return PK_OK;
}
