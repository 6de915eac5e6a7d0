"""Debian packages the tests start for real (unbound, janus): installed with apt-get the first
time a test needs one on a machine that lacks it (CI's `.ci/run` has run `apt-get update`)."""

import shutil
import subprocess

SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def debian_program(program: str, package: str) -> str:
    """The path of `program`, from Debian's `package`, installed if it is missing."""
    found = shutil.which(program) or shutil.which(program, path=SYSTEM_PATH)
    if found is None:
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", package],
            check=True,
            capture_output=True,
            timeout=600,
            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": SYSTEM_PATH},
        )
        found = shutil.which(program, path=SYSTEM_PATH)
    assert found, f"apt-get did not install {package}"
    return found
