#!/bin/sh
echo "cmocka is not installed: install libcmocka-dev and run ./configure again" >&2
exit 1
