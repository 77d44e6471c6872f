"""The Jupyter kernel the notebooks run on.

``python -m satisfaction.kernel --install`` (run by ``make``) registers a kernel named
``satisfaction`` inside the active environment (``sys.prefix``), where both papermill and JupyterLab
started from that environment find it. :func:`ensure_kernel` does the same on demand, so that
``satisfaction report`` works in any environment the package is installed in (conda included).
"""
from __future__ import annotations

import argparse
import sys

KERNEL_NAME = "satisfaction"
DISPLAY_NAME = "Python (satisfaction)"


def kernel_installed(name: str = KERNEL_NAME) -> bool:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return False
    # A spec left behind by another environment would run the wrong interpreter.
    return bool(spec.argv) and spec.argv[0] == sys.executable


def install_kernel(name: str = KERNEL_NAME) -> str:
    """Register (or refresh) the kernel in ``sys.prefix``; returns its name."""
    from ipykernel.kernelspec import install

    install(kernel_name=name, display_name=DISPLAY_NAME, prefix=sys.prefix)
    return name


def ensure_kernel(name: str = KERNEL_NAME) -> str:
    if not kernel_installed(name):
        install_kernel(name)
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m satisfaction.kernel", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--install", action="store_true", help="register the kernel in this environment")
    args = parser.parse_args(argv)
    if args.install:
        print(f"kernel {install_kernel()!r} registered for {sys.executable}")
    else:
        print("installed" if kernel_installed() else "not installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
