"""Maps the repository's folders onto the namespaced import name ``weave_agent``.

Only this file knows the mapping; pyproject.toml holds everything else. Computed here
rather than listed so that ``weave-run new-integration`` never has to edit packaging.
"""

import os

from setuptools import setup

ROOTS = {
    "weave_agent": "agent",
    "weave_agent.instrumentations": "instrumentations",
    "weave_agent.sitecustomize_shim": "sitecustomize_shim",
}


def _packages():
    packages, package_dir = [], {}
    for name, folder in ROOTS.items():
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
            if "__init__.py" not in filenames:
                continue
            rel = os.path.relpath(dirpath, folder)
            pkg = name if rel == "." else name + "." + rel.replace(os.sep, ".")
            if pkg in packages:
                continue
            packages.append(pkg)
            package_dir[pkg] = dirpath.replace(os.sep, "/")
    return packages, package_dir


PACKAGES, PACKAGE_DIR = _packages()

setup(
    packages=PACKAGES,
    package_dir=PACKAGE_DIR,
    package_data={pkg: ["py.typed", "*.yaml", "*.json"] for pkg in PACKAGES},
)
