"""`lsc ...` (the package's console script) and `python -m lsc ...` run the lsc command line
shipped with the package; LSC_CLI names another one (a build tree's tools/lsc) where the package
is used from its sources."""
import glob
import os
import sys


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    found = glob.glob(os.path.join(here, "_native", "bin", "lsc"))
    if not found and os.environ.get("LSC_CLI"):
        found = [os.environ["LSC_CLI"]]
    if not found:
        sys.exit("lsc: the command line is not part of this installation")
    os.execv(found[0], [found[0]] + sys.argv[1:])


if __name__ == "__main__":
    main()
