import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def build_dir() -> pathlib.Path:
    d = ROOT / os.environ.get("R1_BUILD_DIR", "build")
    assert (d / "r1ctl" / "r1ctl").exists(), f"build r1serve first (missing {d}/r1ctl/r1ctl)"
    return d
