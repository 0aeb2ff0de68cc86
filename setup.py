"""Package discovery (the rest of the metadata is in pyproject.toml).

`envs/`, `policies/` and `data/` live at the top level but install as `robolearn.envs`,
`robolearn.policies` and `robolearn.data` (DESIGN.md, Layout). pyproject's `packages.find` cannot
combine that mapping with discovery, so every subpackage under each root is found here: a new
subpackage cannot be left out of the wheel (robolearn.evaluation and robolearn.export once were).
"""
from setuptools import find_packages, setup

ROOTS = {"robolearn": "robolearn", "robolearn.envs": "envs", "robolearn.policies": "policies",
         "robolearn.data": "data"}


def _packages() -> tuple[list[str], dict[str, str]]:
    packages = []
    for name, folder in ROOTS.items():
        packages += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]
    return packages, dict(ROOTS)


packages, package_dir = _packages()
setup(packages=packages, package_dir=package_dir)
