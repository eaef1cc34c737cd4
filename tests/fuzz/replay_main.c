/* A driver without libFuzzer: runs LLVMFuzzerTestOneInput() once on each
 * file named on the command line, and on every regular file in each
 * directory named (sorted by name, not recursive).  ctest uses it to
 * replay tests/fuzz/corpus/<target> with the normal compiler, and with
 * ASan/UBSan in the sanitizer build.
 *
 *   fuzz_replay_<target> FILE|DIR...
 *
 * Exit status: 0 when every input ran, 1 when a file could not be read
 * or nothing was given (an empty corpus is a mistake).  A finding aborts
 * inside the harness, as under libFuzzer, naming the input first. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* Optional in a harness; the weak default does nothing. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len) {
  struct stat st;
  uint8_t *buf;
  size_t got = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  if (fd < 0) return -errno;
  if (fstat(fd, &st) < 0) {
    int r = -errno;
    close(fd);
    return r;
  }
  /* One byte more, so that an empty file still gets a buffer. */
  buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return -ENOMEM;
  }
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  *ret = buf;
  *ret_len = got;
  return 0;
}

static int run_file(const char *path) {
  uint8_t *data = NULL;
  size_t len = 0;
  int r = read_file(path, &data, &len);

  if (r < 0) {
    fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(-r));
    return r;
  }
  /* Said before running, so that a crash names its input. */
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
  (void)LLVMFuzzerTestOneInput(data, len);
  free(data);
  return 0;
}

static int only_files(const struct dirent *d) { return d->d_name[0] != '.'; }

int main(int argc, char **argv) {
  unsigned runs = 0, failed = 0;

  (void)LLVMFuzzerInitialize(&argc, &argv);
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) < 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      failed++;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      if (run_file(argv[i]) < 0)
        failed++;
      else
        runs++;
      continue;
    }
    struct dirent **ents = NULL;
    int n = scandir(argv[i], &ents, only_files, alphasort);
    if (n < 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      failed++;
      continue;
    }
    for (int k = 0; k < n; k++) {
      char path[4096];
      struct stat fst;
      snprintf(path, sizeof(path), "%s/%s", argv[i], ents[k]->d_name);
      if (stat(path, &fst) == 0 && S_ISREG(fst.st_mode)) {
        if (run_file(path) < 0)
          failed++;
        else
          runs++;
      }
      free(ents[k]);
    }
    free(ents);
  }
  fprintf(stderr, "replay: %u inputs run, %u unreadable\n", runs, failed);
  return failed || runs == 0 ? 1 : 0;
}
