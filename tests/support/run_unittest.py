#!/usr/bin/env python3
"""tests/support/run_unittest.py — runs Python unittest tests for ctest, so that a skipped test
shows as skipped in ctest, never as passed.

Usage: run_unittest.py [--only PATTERN]... [--exclude PATTERN]... NAME...

NAME is what `python3 -m unittest` takes (a module, module.Class or module.Class.test_method),
imported from the current folder. With --only, only the tests whose id (module.Class.test_method)
matches an fnmatch PATTERN of --only run; a test whose id matches a PATTERN of --exclude is left
out (it runs as a ctest test of its own, with --only). The tests run
with unittest's verbose output. Exit status: 1 when one failed or erred, or nothing ran; 77
(ctest's SKIP_RETURN_CODE) when all that ran passed but one or more were skipped, the reasons
listed last; 0 when every test ran and passed.

A ctest test that mixes tests that always run with tests that skip on some machines would show
the whole as skipped there: register those that may skip apart (tests/CMakeLists.txt).
"""
import fnmatch
import sys
import unittest

SKIPPED = 77


def flatten(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from flatten(test)
        else:
            yield test


def main(argv):
    only, excludes, names = [], [], []
    args = iter(argv[1:])
    for arg in args:
        if arg == '--only':
            only.append(next(args))
        elif arg == '--exclude':
            excludes.append(next(args))
        else:
            names.append(arg)
    if not names:
        print(__doc__)
        return 2
    sys.path.insert(0, '.')
    loaded = unittest.defaultTestLoader.loadTestsFromNames(names)
    def chosen(test):
        if only and not any(fnmatch.fnmatchcase(test.id(), p) for p in only):
            return False
        return not any(fnmatch.fnmatchcase(test.id(), p) for p in excludes)

    tests = [t for t in flatten(loaded) if chosen(t)]
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(unittest.TestSuite(tests))
    if not result.wasSuccessful():
        return 1
    if result.testsRun == 0:
        print('no test ran: check the names and --exclude patterns')
        return 1
    if result.skipped:
        print(f'\nSKIPPED: {len(result.skipped)} of {result.testsRun} tests did not run here:')
        for test, reason in result.skipped:
            print(f'  {test.id()}: {reason}')
        return SKIPPED
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
