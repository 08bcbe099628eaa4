import glob
import os
import shutil

import numpy as np
import pytest


def _find_cli():
    env = os.environ.get("LSC_CLI")
    if env:
        return env
    import lsc
    here = os.path.dirname(lsc.__file__)
    found = glob.glob(os.path.join(here, "_native", "bin", "lsc"))
    if found:
        return found[0]
    return shutil.which("lsc")


@pytest.fixture(scope="session")
def cli():
    path = _find_cli()
    if not path or not os.path.exists(path):
        pytest.skip("no lsc command line found: set LSC_CLI to build/tools/lsc or install the "
                    "package with pip install ./python")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
