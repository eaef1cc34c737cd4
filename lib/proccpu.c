/* Placeholder: filled in by issue 5. */
#include "proccpu.h"
