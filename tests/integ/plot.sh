#!/usr/bin/env bash
# coord plot on the stored fixture run (tests/fixtures/run-small): being written.
source "$(dirname "$0")/lib.sh"
skip "coord plot: not built yet"
