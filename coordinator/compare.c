/* coord compare: being written. */
#include <stdio.h>

#include "coord.h"

int iov_coord_compare(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "coord compare: not built yet\n");
  return 2;
}
