"""`python -m lsc ...` runs the lsc command line shipped with the package."""
import glob
import os
import sys


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    found = glob.glob(os.path.join(here, "_native", "bin", "lsc"))
    if not found:
        sys.exit("lsc: the command line is not part of this installation")
    os.execv(found[0], [found[0]] + sys.argv[1:])


if __name__ == "__main__":
    main()
