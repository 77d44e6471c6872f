"""The Jupyter kernel the notebooks run on.

Installing the package (wheel or ``pip install -e .``) puts the kernel definition
``share/jupyter/kernels/satisfaction/kernel.json`` into the environment (``sys.prefix``), where both
papermill and JupyterLab started from that environment find it by name: ``papermill -k satisfaction``.
``python -m satisfaction.kernel --install`` (run by ``make``) writes it again with this interpreter's
path, and :func:`ensure_kernel` does so on demand where it is missing (conda environments included).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

KERNEL_NAME = "satisfaction"
DISPLAY_NAME = "Python (satisfaction)"


def kernel_installed(name: str = KERNEL_NAME) -> bool:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return False
    # A spec left behind by another environment would run the wrong interpreter. "python" (the spec
    # the package installs) is this environment's: jupyter_client starts it with sys.executable.
    return bool(spec.argv) and spec.argv[0] in (sys.executable, "python", "python3") and (
        spec.argv[0] == sys.executable or Path(spec.resource_dir).resolve().is_relative_to(Path(sys.prefix).resolve()))


#: The kernel's own log (connection notices such as "running over TCP without encryption" on a
#: local run) is kept to errors: it goes to the terminal of whoever runs a report, not into it.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


def install_kernel(name: str = KERNEL_NAME) -> str:
    """Register (or refresh) the kernel in ``sys.prefix``; returns its name."""
    import shutil

    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager

    folder = write_kernel_spec(overrides={"display_name": DISPLAY_NAME}, extra_arguments=KERNEL_ARGUMENTS)
    try:
        KernelSpecManager().install_kernel_spec(folder, name, prefix=sys.prefix, replace=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
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
