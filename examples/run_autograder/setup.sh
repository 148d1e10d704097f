#!/bin/sh
# Gradescope runs this once, as root, when it builds the autograder's image: the
# students' programs need a python3 (and gcc for C submissions). socklab itself is the
# static binary shipped in the autograder's zip, next to run_autograder.
set -eu
apt-get update
apt-get install -y --no-install-recommends python3 gcc libc6-dev
chmod +x /autograder/source/socklab /autograder/source/run_autograder
