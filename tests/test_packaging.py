"""The package as a user gets it: built into a wheel, installed into a new environment, run outside
any checkout.

The wheel is built from a copy of the checkout (so that the build's own folders never land in the
working tree) and installed into a fresh virtual environment. Its dependencies come from the
environment running the tests, without downloading anything: a ``.pth`` file in the fresh
environment names this environment's site-packages, and the data files those dependencies install
next to them (nbconvert's templates) are linked into the fresh environment's ``share/jupyter``. The
Jupyter kernel is deliberately not linked: it must come from the wheel. Jupyter's user folders are
temporary ones, so that nothing registered on this machine is found instead.
"""
from __future__ import annotations

import email.parser
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
YEAR = 2024
# the report's region and language by default (the demo codebook's region)
PUBLISHED = Path("reports") / str(YEAR) / "guangxi" / "zh"
# what a build must not see from the checkout: environments, version control, caches, build outputs
NOT_COPIED = shutil.ignore_patterns(".venv", "venv", ".git", ".tox", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".hypothesis", ".ipynb_checkpoints")
KERNEL_IN_WHEEL = re.compile(r"^satisfaction-[^/]+\.data/data/share/jupyter/kernels/satisfaction/kernel\.json$")


def _copy_file(src, dst):
    # outputs of other runs may vanish while the checkout is copied; the build does not need them
    try:
        return shutil.copy2(src, dst)
    except FileNotFoundError:
        return dst


def _run(args, *, env, cwd, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from the checkout, and a fresh environment with it installed.

    Returns a dict: ``tmp`` (a folder outside the checkout), ``source`` (the copy built from),
    ``wheel``, ``venv``, ``python``, ``cli`` (the installed ``satisfaction`` command),
    ``site_packages`` (the fresh environment's) and ``env`` (the environment variables to run with).
    """
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    # symlinks are kept as links: the build must put the files they point to into the wheel
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_COPIED, copy_function=_copy_file)

    dist = tmp / "dist"
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
              "-w", dist, source], env=dict(os.environ), cwd=tmp))
    (wheel,) = dist.glob("satisfaction-*.whl")

    venv = tmp / "venv"
    _ok(_run([sys.executable, "-m", "venv", venv], env=dict(os.environ), cwd=tmp))
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")

    env = {k: v for k, v in os.environ.items()
           if k not in ("JUPYTER_PATH", "SATISFACTION_HOME", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    for name in ("JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR"):
        folder = tmp / "jupyter" / name.split("_")[1].lower()
        folder.mkdir(parents=True)
        env[name] = str(folder)
    env["PATH"] = os.pathsep.join([str(bindir), env.get("PATH", "")])
    env["PYTHONNOUSERSITE"] = "1"
    env["VIRTUAL_ENV"] = str(venv)

    # Installed before the .pth is written, so that pip sees no other "satisfaction" (the checkout's
    # editable install in this environment) and cannot touch it.
    _ok(_run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check", wheel],
             env=env, cwd=tmp))
    site_packages = Path(_ok(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  env=env, cwd=tmp)).stdout.strip())
    # A directory named in a .pth file joins sys.path but its own .pth files are not run: the
    # dependencies are found, the checkout's editable install is not.
    (site_packages / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    shared = Path(sys.prefix) / "share" / "jupyter"
    fresh_shared = venv / "share" / "jupyter"
    fresh_shared.mkdir(parents=True, exist_ok=True)
    for entry in shared.iterdir() if shared.is_dir() else ():
        if entry.name != "kernels" and not (fresh_shared / entry.name).exists():
            (fresh_shared / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())

    cli = bindir / ("satisfaction.exe" if os.name == "nt" else "satisfaction")
    return {"tmp": tmp, "source": source, "wheel": wheel, "venv": venv, "python": python, "cli": cli,
            "site_packages": site_packages, "env": env}


def test_wheel_holds_the_package_files_and_nothing_else(installed):
    source = installed["source"]
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        infos = {info.filename: info for info in wheel.infolist()}
        names = set(infos)

        def real_file(name: str) -> bytes:
            assert name in names, f"{name} is missing from the wheel"
            assert not stat.S_ISLNK(infos[name].external_attr >> 16), f"{name} is a link in the wheel"
            return wheel.read(name)

        notebook = real_file("satisfaction/notebooks/annual_report.ipynb")
        assert notebook == (source / "notebooks" / "annual_report.ipynb").read_bytes()
        assert json.loads(notebook)["cells"]

        codebook = real_file("satisfaction/project_files/codebook.yaml")
        assert codebook == (source / "data" / "raw" / "codebook.yaml").read_bytes()
        assert {"items", "tree", "cities"} <= set(yaml.safe_load(codebook))

        templates = sorted(p.relative_to(source).as_posix()
                           for p in (source / "satisfaction" / "report" / "templates" / "report").iterdir())
        assert "satisfaction/report/templates/report/index.html.j2" in templates
        for name in templates:
            assert real_file(name) == (source / name).read_bytes()

        real_file("satisfaction/py.typed")
        for name in ("README.md", "gitignore"):
            real_file(f"satisfaction/project_files/{name}")

        kernels = [n for n in names if KERNEL_IN_WHEEL.match(n)]
        assert len(kernels) == 1, sorted(n for n in names if "kernel" in n)
        spec = json.loads(wheel.read(kernels[0]))
        assert spec["argv"][0] == "python" and "ipykernel_launcher" in spec["argv"]

        (metadata_name,) = [n for n in names if re.fullmatch(r"satisfaction-[^/]+\.dist-info/METADATA", n)]
        metadata = email.parser.Parser().parsestr(wheel.read(metadata_name).decode("utf-8"))
        entry_points = wheel.read(metadata_name.replace("METADATA", "entry_points.txt")).decode("utf-8")

    for name in names:
        top = name.split("/")[0]
        assert top == "satisfaction" or re.fullmatch(r"satisfaction-[^/]+\.(dist-info|data)", top), name
        parts = name.split("/")
        assert "tests" not in parts and not parts[-1].startswith("test_"), name
        assert "data/raw" not in name and "reports" not in parts and "processed" not in parts, name
        assert not name.endswith((".csv", ".xlsx", ".sav", ".parquet", ".pdf", ".pyc")), name

    assert "satisfaction = satisfaction.cli:main" in entry_points
    requires: dict[str, set[str]] = {}  # project -> the markers it is required under ("" for always)
    for line in metadata.get_all("Requires-Dist"):
        requirement, _, marker = line.partition(";")
        project = re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group(0).lower().replace("_", "-")
        requires.setdefault(project, set()).add(marker.strip())
    # JupyterLab and the test tools are extras; what a scheduled run needs is not
    assert requires.get("jupyterlab", set()) <= {'extra == "lab"'}, requires
    assert requires.get("pingouin", set()) <= {'extra == "test"'}, requires
    for project in ("papermill", "nbconvert", "ipykernel", "jupyter-client", "pyyaml", "pandas"):
        assert "" in requires.get(project, set()), f"{project} is not an unconditional dependency: {requires}"


def test_installed_package_runs_a_project_outside_the_checkout(installed):
    env, python, cli, tmp = installed["env"], installed["python"], installed["cli"], installed["tmp"]
    site_packages = installed["site_packages"].resolve()
    venv = installed["venv"].resolve()
    workdir = tmp / "work"
    elsewhere = tmp / "elsewhere"
    workdir.mkdir()
    elsewhere.mkdir()

    found = json.loads(_ok(_run([python, "-c", """if True:
        import json, importlib.metadata, satisfaction
        from jupyter_client.kernelspec import KernelSpecManager
        spec = KernelSpecManager().get_kernel_spec("satisfaction")
        print(json.dumps({"module": satisfaction.__file__, "resource_dir": spec.resource_dir, "argv": spec.argv,
                          "dist": str(importlib.metadata.distribution("satisfaction").locate_file(""))}))
        """], env=env, cwd=elsewhere)).stdout)
    # the installed copy, not the checkout's editable install
    assert Path(found["module"]).resolve().is_relative_to(site_packages), found
    assert Path(found["dist"]).resolve() == site_packages, found
    # the kernel from the wheel's data files, found by name before any run registers one
    assert Path(found["resource_dir"]).resolve().is_relative_to(venv), found
    assert found["argv"][0] == "python", found
    kernel_json = Path(found["resource_dir"]) / "kernel.json"
    kernel_before = kernel_json.read_bytes()

    project = tmp / "proj"
    _ok(_run([cli, "init", project, "--demo", "--years", "2024"], env=env, cwd=workdir))
    assert (project / "data" / "raw" / "codebook.yaml").is_file()
    assert not (project / "data" / "raw" / "codebook.yaml").is_symlink()
    _ok(_run([cli, "--project", project, "ingest", "--year", YEAR, "--quiet"], env=env, cwd=elsewhere))
    _ok(_run([cli, "--project", project, "report", "--year", YEAR, "--replicates", 20, "--draws", 20,
              "--issued", "2025-03-15", "--quiet"], env=env, cwd=elsewhere))

    published = project / PUBLISHED
    for name in ("report.html", "report.pdf", "tables.xlsx", "report.json"):
        assert (published / name).is_file(), f"{name} missing in {sorted(p.name for p in published.iterdir())}"
    assert (published / "report.pdf").read_bytes().startswith(b"%PDF")
    assert zipfile.is_zipfile(published / "tables.xlsx")
    assert json.loads((published / "report.json").read_text(encoding="utf-8"))["year"] == YEAR
    assert "贺州" in (published / "report.html").read_text(encoding="utf-8")
    # the packaged kernel was used as it is, not registered again
    assert kernel_json.read_bytes() == kernel_before
    assert not any(elsewhere.iterdir()) and not any(workdir.iterdir())

    notebook = site_packages / "satisfaction" / "notebooks" / "annual_report.ipynb"
    assert notebook.is_file() and not notebook.is_symlink()
    parameters = _ok(_run([python, "-m", "papermill", "--help-notebook", notebook], env=env, cwd=elsewhere)).stdout
    assert re.search(r"^\s*year: int\b", parameters, re.MULTILINE), parameters

    lost = _run([cli, "ingest", "--year", YEAR], env=env, cwd=elsewhere)
    assert lost.returncode == 2, (lost.stdout, lost.stderr)
    lines = lost.stderr.strip().splitlines()
    assert len(lines) == 1, lost.stderr
    assert "no satisfaction project found" in lines[0] and "satisfaction init" in lines[0], lines[0]
    assert "site-packages" not in lost.stdout + lost.stderr

    # relative paths resolve against the project root, also from one of its sub-folders
    loaded = _ok(_run([python, "-c", "import satisfaction; "
                       "print(len(satisfaction.load_codebook('data/raw/codebook.yaml').items))"],
                      env=env, cwd=project / "data"))
    assert int(loaded.stdout.strip()) > 0
