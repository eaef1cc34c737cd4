/* coord plot: being written. */
#include <stdio.h>

#include "coord.h"

int iov_coord_plot(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "coord plot: not built yet\n");
  return 2;
}
