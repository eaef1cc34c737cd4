#!/usr/bin/env bash
# coord compare on the stored fixture run (tests/fixtures/run-small): being written.
source "$(dirname "$0")/lib.sh"
skip "coord compare: not built yet"
