"""Command line: ``satisfaction init|ingest|index|report|synth``. Run ``satisfaction COMMAND --help``."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .errors import ExitCode, UsageError

EXIT_BAD_INPUT = int(ExitCode.BAD_INPUT)
log = logging.getLogger("satisfaction")

MAIN_HELP = """\
Consumer-satisfaction evaluation of cities: from raw survey exports to the published report.

The yearly flow, from the project folder:

  satisfaction init DIR --demo        lay out a project folder (with the demo survey)
  satisfaction ingest --year 2024     validate data/raw/2024/ into data/processed/2024/
  satisfaction index  --year 2024     print the index and first-level scores per city, ranked
  satisfaction report --year 2024     publish reports/2024/<region>/zh/ (HTML, PDF, tables, figures)

The project folder is the one holding data/raw/codebook.yaml: --project DIR, else the
SATISFACTION_HOME environment variable, else the nearest such folder at or above the current one.

Exit codes (for schedulers):
  0  done
  1  unexpected error (a bug: the traceback is printed; please report it)
  2  command-line misuse: unknown option, bad argument, no project found
  3  bad input: every problem is listed with file, row, column, value and rule (also a malformed
     codebook or margins file, or a design that cannot be analysed)
  4  the analysis stopped (the report notebook failed; its partial notebook is kept and named)
  5  publishing failed: another run holds the folder, no browser for the PDF, a disk error
  6  ingest --fail-on-rejects: the year was written but rows were rejected

Outputs are published atomically under a lock: a failed or killed run keeps the last good ones.
Messages go to standard error, one per line; --log-format json makes them JSON lines.
"""

INGEST_HELP = """\
Read every export in RAW_DIR/YEAR/ (CSV in UTF-8 or GBK, XLSX, SPSS .sav), map the headers to the
codebook's item codes, check every value and write OUT_DIR/YEAR/:

  respondents.parquet   one row per respondent (answers on their scale, NaN = missing,
                        reverse-coded items mirrored)
  dont_know.parquet     which answers were "don't know"
  rejects.csv           rejected rows with their reasons (lenient mode)
  problems.csv          every problem found
  manifest.json         input and codebook hashes, row counts, package version

By default any problem stops the run (exit 3) and nothing is written; --problems-out FILE still
writes the list of problems (CSV) there. With --lenient, rows with problems are set aside in
rejects.csv and the rest is kept: rows in = rows kept + rows rejected; --fail-on-rejects then exits 6
when any row was rejected (the year is written all the same). A file that cannot be read at all
still stops a lenient run (exit 3), unless --allow-unreadable: then the manifest records the file
and its row count (rows in = kept + rejected + unreadable).

examples:
  satisfaction ingest --year 2024
  satisfaction ingest --year 2023 --lenient --fail-on-rejects
  satisfaction ingest --year 2024 --problems-out problems-2024.csv
  satisfaction ingest --year 2024 --raw-dir /data/exports --out-dir /data/processed
"""

INDEX_HELP = """\
Compute the index (0-100) per city from the processed year: each city's sample raked to its
population margins (data/raw/population/), items rescaled to 0-100, weighted means combined up the
indicator tree with the codebook's weights; standard errors and 95 % confidence intervals by
Taylor linearisation, allowing for the raking. Prints the ranked table; --out saves it (.csv or
.xlsx).

Other weights and aggregation (JRC/OECD handbook): --scheme equal|ahp|entropy|pca (AHP from the
codebook's `ahp` judgements, refused when a consistency ratio is 0.1 or more unless
--allow-inconsistent), --aggregation geometric, --min-share (share of a node's weight that must be
answered). Entropy and PCA weights are estimated from the data, and geometric means are not linear,
so these use re-raked bootstrap replicates (re-estimating the weights in each).

examples:
  satisfaction index --year 2024
  satisfaction index --year 2024 --lang en --out scores_2024.xlsx
  satisfaction index --year 2024 --method replicate --replicates 1000
  satisfaction index --year 2024 --scheme entropy --aggregation geometric
"""

REPORT_HELP = """\
Run the annual-report notebook with papermill for one year and publish OUT_DIR/YEAR/REGION/LANG/:
report.html (one page, no code), report.pdf (A4, printed by a headless browser), report.ipynb,
tables.xlsx (a 说明 sheet first), tables/*.csv, figures/*.png and *.svg, report.json. Needs
`satisfaction ingest` for that year first; every earlier year with processed data joins the trends.

The folder is built outside the published tree and swapped in at once when everything succeeded,
under a lock: a second run for the same folder is refused (exit 5) unless --wait lets it queue. If
the notebook stops, the previous report is untouched and the partial notebook is kept as
OUT_DIR/failed/YEAR-REGION-LANG.ipynb. The same notebook can run under papermill directly (cron,
Airflow): `papermill --help-notebook` lists its parameters; pass -p publish True to publish.

The report opens with a summary (the official provincial index, its change, the three dimensions,
the best and weakest indicators, the cities in tiers by their rank confidence sets, findings and
recommendations), then the detail and a method appendix. Every interval is 95 %; a change or a
difference is called significant only after Holm's adjustment; a rank only through the rank
confidence sets.

City bulletins (城市通报): with --cities, publish each city's own bulletin instead of the provincial
report, one folder per city, OUT_DIR/YEAR/REGION/cities/LANG/CITY/: CITY.html, CITY.pdf (A4),
CITY.docx (Word), CITY.ipynb, figures/ and bulletin.json. Each gives the city's index with its
rank confidence set and tier, its change and trend, every dimension and indicator against the
province (strengths and weaknesses only where Holm-adjusted differences are significant), its
satisfaction rates, priorities from the driver analysis, what it would take to move up a tier, and
its plan targets from data/raw/targets.yaml (已达成 / 未达成 / 尚难判断 at the file's confidence).
The numbers every bulletin shares are computed once per year (kept in data/interim/); the
bulletins are then rendered in parallel: --workers local processes (default: every core), or on a
Dask distributed cluster with --scheduler ADDRESS (workers need the package and a browser, not the
project). Each bulletin is published atomically under its own lock; a failed one is named and the
others are still published (exit code of the first failure).

examples:
  satisfaction report --year 2024
  satisfaction report --year 2024 --lang en
  satisfaction report --year 2024 --replicates 200 --draws 500 --issued 2025-03-15
  satisfaction --project /srv/csi report --year 2024 --wait 600
  satisfaction report --year 2024 --cities all
  satisfaction report --year 2024 --cities 贺州,柳州 --lang en --workers 2
  satisfaction report --year 2024 --cities all --scheduler tcp://10.0.0.5:8786
"""

INIT_HELP = """\
Lay out a new project folder: data/raw/codebook.yaml (the demo codebook, to edit),
data/raw/, data/processed/, reports/, a README and a .gitignore. With --demo, also the demo survey
(14 cities, 2019-2024) and its population margins, so that a report can be made at once.

examples:
  satisfaction init csi-2025 --demo
  satisfaction init csi-2025 --demo --years 2023 2024
  cd csi-2025 && satisfaction ingest --year 2024 && satisfaction report --year 2024
"""

SYNTH_HELP = """\
Write the demo survey (14 cities of Guangxi, 2019-2024) as raw exports and population margins.
The same seed always gives the same bytes.

example:
  satisfaction synth --out data/raw
"""


def _root_path(value: str | None, *parts: str) -> Path:
    from .paths import project_root

    return Path(value) if value else project_root().joinpath(*parts)


def _print_problems(problems, stream=None, limit: int = 200) -> None:
    stream = stream or sys.stderr
    for p in problems[:limit]:
        print(f"  {p}", file=stream)
    if len(problems) > limit:
        print(f"  … and {len(problems) - limit} more (all of them: problems.csv with --lenient)", file=stream)


def _write_problems(path: str, problems) -> None:
    """The list of problems as CSV (the same columns as the processed folder's problems.csv)."""
    import pandas as pd

    from .ingest import atomic_write_bytes

    frame = pd.DataFrame([p.as_dict() for p in problems], columns=["file", "rule", "message", "row", "column", "value"])
    atomic_write_bytes(Path(path), frame.to_csv(index=False, lineterminator="\n").encode("utf-8-sig"))
    log.info("wrote the list of %d problem(s) to %s", len(problems), path, extra={"event": "problems_written", "path": str(path)})


def cmd_ingest(args) -> int:
    from .codebook import load_codebook
    from .errors import ValidationError
    from .ingest import ingest

    cb = load_codebook(_root_path(args.codebook, "data", "raw", "codebook.yaml"))
    raw = _root_path(args.raw_dir, "data", "raw")
    out = _root_path(args.out_dir, "data", "processed")
    try:
        survey, folder = ingest(args.year, raw_root=raw, out_root=out, codebook=cb, strict=not args.lenient,
                                progress=not args.quiet, allow_unreadable=args.allow_unreadable, wait=args.wait)
    except ValidationError as exc:
        if args.problems_out:
            _write_problems(args.problems_out, exc.problems)
        raise
    print(f"ingested {args.year}: {survey.rows_in} rows in, {survey.rows_kept} kept, {survey.rows_rejected} rejected")
    for s in survey.sources:
        enc = f", {s['encoding']}" if s.get("encoding") else ""
        if s.get("unreadable"):
            print(f"  {s['file']} ({s['format']}): UNREADABLE, {s['note']}: {s['rows_unreadable']}")
            continue
        print(f"  {s['file']} ({s['format']}{enc}): {s['rows_in']} in, {s['rows_kept']} kept, {s['rows_rejected']} rejected")
    for item in survey.ignored:
        print(f"  {item['file']}: not read ({item['rule']}: {item['reason']})")
    if survey.problems:
        print(f"{len(survey.problems)} problem(s); see {folder / 'problems.csv'}", file=sys.stderr)
        _print_problems(survey.problems, limit=20)
        if args.problems_out:
            _write_problems(args.problems_out, survey.problems)
    log.info("wrote %s", folder, extra={"event": "ingested", "year": args.year, "path": str(folder),
                                        "rows_in": survey.rows_in, "rows_kept": survey.rows_kept,
                                        "rows_rejected": survey.rows_rejected, "rows_unreadable": survey.rows_unreadable})
    if args.fail_on_rejects and (survey.rows_rejected or survey.rows_unreadable):
        log.error("%d row(s) rejected and %d unreadable in %d (--fail-on-rejects); the year was written: see %s",
                  survey.rows_rejected, survey.rows_unreadable, args.year, folder / "rejects.csv",
                  extra={"event": "rejects", "exit_code": int(ExitCode.REJECTS)})
        return int(ExitCode.REJECTS)
    return 0


def cmd_index(args) -> int:
    import pandas as pd

    from .codebook import load_codebook
    from .index import city_flags, score_table, weighted_scores
    from .ingest import atomic_write_bytes, read_processed
    from .xlsx import workbook_bytes
    from .survey.weighting import survey_design

    cb = load_codebook(_root_path(args.codebook, "data", "raw", "codebook.yaml"))
    survey = read_processed(_root_path(args.processed_dir, "data", "processed") / str(args.year), cb)
    design = survey_design(survey.data, cb, weighted=not args.unweighted)
    nonlinear = args.scheme in ("entropy", "pca") or args.aggregation == "geometric"
    if args.method == "replicate" or nonlinear:
        from .survey.weighting import replicate_design

        design = replicate_design(design, cb, replicates=args.replicates, seed=args.seed, weighted=not args.unweighted)
    if nonlinear:
        from .index import replicate_scores

        scores = replicate_scores(design, cb, scheme=args.scheme, aggregation=args.aggregation, min_share=args.min_share,
                                  **({"allow_inconsistent": True} if args.allow_inconsistent and args.scheme == "ahp" else {}))
    else:
        from .schemes import weights_for

        options = {"allow_inconsistent": True} if args.allow_inconsistent and args.scheme == "ahp" else {}
        scores = weighted_scores(design, cb, method=args.method, tree_weights=weights_for(args.scheme, cb, **options),
                                 min_share=args.min_share)
    table = score_table(scores, cb)
    lang = args.lang
    table.insert(2, "name", table["city"].map(lambda c: cb.city_label(c, lang)))
    flags = city_flags(survey.data, design, cb, lang=lang).set_index("city")["flag"]
    table["flag"] = table["city"].map(flags).fillna("").to_numpy()
    table = table.rename(columns={c: cb.label(c, lang) for c in [cb.tree.code, *[d.code for d in cb.dimensions]]})
    if args.out:
        out = Path(args.out)
        blob = workbook_bytes({"scores": table}) if out.suffix.lower() == ".xlsx" else table.to_csv(index=False).encode("utf-8-sig")
        atomic_write_bytes(out, blob)
        print(f"wrote {out}")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(2).to_string(index=False))
    return 0


def cmd_report(args) -> int:
    if args.cities is not None:
        return cmd_bulletins(args)
    if args.workers is not None or args.scheduler is not None:
        raise UsageError("--workers and --scheduler go with --cities (the provincial report is one notebook run)")
    from .report import run_report

    folder = run_report(args.year, region=args.region, lang=args.lang, processed_root=args.processed_dir,
                        output_root=args.out_dir, codebook=args.codebook, notebook=args.notebook,
                        progress=not args.quiet, replicates=args.replicates, draws=args.draws, seed=args.seed,
                        issued=args.issued, pdf=not args.no_pdf, wait=args.wait)
    log.info("published %s", folder, extra={"event": "published", "year": args.year, "path": str(folder)})
    print(f"wrote {folder / 'report.html'}")
    return 0


def cmd_bulletins(args) -> int:
    from .report.batch import run_bulletins

    if args.notebook is not None or args.draws is not None:
        raise UsageError("--notebook and --draws belong to the provincial report, not to --cities")
    result = run_bulletins(args.year, cities=args.cities, lang=args.lang, processed_root=args.processed_dir,
                           output_root=args.out_dir, codebook=args.codebook, replicates=args.replicates, seed=args.seed,
                           issued=args.issued, pdf=not args.no_pdf, wait=args.wait, workers=args.workers,
                           scheduler=args.scheduler, progress=not args.quiet)
    for city, folder in result.folders.items():
        log.info("published %s", folder, extra={"event": "published", "year": args.year, "path": str(folder)})
    print(f"wrote {len(result.folders)} bulletins under {next(iter(result.folders.values())).parent}/ "
          f"(shared numbers {result.shared_seconds:.1f} s, {result.wall_seconds:.1f} s in all)")
    return 0


def cmd_init(args) -> int:
    from .project import init_project

    folder = init_project(args.folder, demo=args.demo, years=args.years)
    log.info("created project %s%s", folder, " with the demo survey" if args.demo else "",
             extra={"event": "initialised", "path": str(folder)})
    print(f"created {folder}: edit data/raw/codebook.yaml, put each year's exports in data/raw/<year>/")
    return 0


def cmd_synth(args) -> int:
    from .synth import write_raw

    hashes = write_raw(args.out, seed=args.seed, codebook=_root_path(args.codebook, "data", "raw", "codebook.yaml"))
    print(f"wrote {len(hashes)} files under {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="satisfaction", description=MAIN_HELP, formatter_class=fmt)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"satisfaction {__version__}")
    parser.add_argument("--project", metavar="DIR",
                        help="project folder (default: $SATISFACTION_HOME, else the nearest folder at or above the "
                             "current one holding data/raw/codebook.yaml)")
    parser.add_argument("--log-format", choices=["human", "json"], default="human",
                        help="messages on standard error as plain lines (default) or JSON lines for a scheduler")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def common(p, *, processed=True):
        # the global options are also accepted after the command (a scheduler's wrapper appends them)
        p.add_argument("--project", metavar="DIR", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.add_argument("--log-format", choices=["human", "json"], default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.add_argument("--codebook", metavar="PATH", help="codebook YAML (default: data/raw/codebook.yaml)")
        if processed:
            p.add_argument("--processed-dir", metavar="DIR", help="processed data root (default: data/processed)")

    p = sub.add_parser("ingest", help="validate raw exports of a year into data/processed/", description=INGEST_HELP, formatter_class=fmt)
    p.add_argument("--year", type=int, required=True, help="survey year (reads RAW_DIR/YEAR/)")
    p.add_argument("--raw-dir", metavar="RAW_DIR", help="raw data root (default: data/raw)")
    p.add_argument("--out-dir", metavar="OUT_DIR", help="processed data root (default: data/processed)")
    p.add_argument("--lenient", action="store_true", help="keep good rows and set bad ones aside instead of stopping")
    p.add_argument("--allow-unreadable", action="store_true",
                   help="with --lenient: go on without a file that cannot be read at all (recorded in the manifest "
                        "with its row count); without this flag such a file stops the run (exit 3)")
    p.add_argument("--fail-on-rejects", action="store_true",
                   help="with --lenient: exit 6 when any row was rejected or unreadable (the year is written all the same)")
    p.add_argument("--problems-out", metavar="FILE",
                   help="also write every problem found to FILE (CSV), even when a strict run stops and writes nothing else")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run writing the same year (default: refuse at once, exit 5)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    common(p, processed=False)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("index", help="index and first-level scores per city, ranked", description=INDEX_HELP, formatter_class=fmt)
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="label language (default: zh)")
    p.add_argument("--out", metavar="FILE", help="also save the table (.csv or .xlsx)")
    p.add_argument("--unweighted", action="store_true", help="do not rake to the population margins")
    p.add_argument("--method", choices=["linearization", "replicate"], default="linearization",
                   help="standard errors by Taylor linearisation (default) or re-raked bootstrap replicates")
    p.add_argument("--replicates", type=int, default=500, help="bootstrap replicates for --method replicate (default 500)")
    p.add_argument("--seed", type=int, default=2024, help="seed of the bootstrap (default 2024)")
    p.add_argument("--scheme", choices=["fixed", "equal", "ahp", "entropy", "pca"], default="fixed",
                   help="weights of the indicator tree (default: fixed, the codebook's)")
    p.add_argument("--allow-inconsistent", action="store_true", help="accept AHP judgements with CR ≥ 0.1")
    p.add_argument("--aggregation", choices=["arithmetic", "geometric"], default="arithmetic",
                   help="how children are combined (default: arithmetic)")
    p.add_argument("--min-share", type=_share, default=0.5, metavar="S",
                   help="share of a node's weight that must be answered (default 0.5)")
    common(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("report", help="run the annual-report notebook and publish reports/YEAR/REGION/LANG/", description=REPORT_HELP, formatter_class=fmt)
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--region", help="region code (default: the codebook's)")
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="report language (default: zh)")
    p.add_argument("--out-dir", metavar="OUT_DIR", help="reports root (default: reports)")
    p.add_argument("--notebook", metavar="PATH", help="notebook to run (default: notebooks/annual_report.ipynb)")
    p.add_argument("--replicates", type=int, metavar="B", help="re-raked bootstrap replicates (default 500)")
    p.add_argument("--draws", type=int, metavar="N", help="Monte Carlo draws of the rank uncertainty (default 1000)")
    p.add_argument("--seed", type=int, help="seed of every random step (default: the year)")
    p.add_argument("--issued", metavar="YYYY-MM-DD", help="date of issue printed on the report (default: today)")
    p.add_argument("--no-pdf", action="store_true", help="do not print report.pdf (no browser needed)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run publishing the same folder (default: refuse at once, exit 5)")
    p.add_argument("--cities", metavar="all|CITY,…",
                   help="publish city bulletins instead: 'all', or names/codes separated by commas")
    p.add_argument("--workers", type=int, metavar="N", help="with --cities: local processes (default: every core)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="with --cities: render on this Dask distributed scheduler (e.g. tcp://host:8786)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    common(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("init", help="lay out a new project folder", description=INIT_HELP, formatter_class=fmt)
    p.add_argument("folder", metavar="DIR", help="folder to create (may exist, but must not hold a codebook yet)")
    p.add_argument("--demo", action="store_true", help="also write the demo survey and its population margins")
    p.add_argument("--years", type=int, nargs="+", metavar="YEAR",
                   help="with --demo: only these demo years (default: 2019-2024)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("synth", help="write the demo survey's raw files", description=SYNTH_HELP, formatter_class=fmt)
    p.add_argument("--out", default="data/raw", help="folder to write (default: data/raw)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the demo's)")
    common(p, processed=False)
    p.set_defaults(func=cmd_synth)
    return parser


def _share(text: str) -> float:
    """An argparse type: a number between 0 and 1 (argparse exits 2 with the message otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"min_share must be between 0 and 1, got {value:g}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run a command; returns its exit code (:class:`satisfaction.errors.ExitCode`)."""
    from .errors import SatisfactionError, ValidationError
    from .logs import configure

    args = build_parser().parse_args(argv)
    configure(args.log_format)
    home = os.environ.get("SATISFACTION_HOME")
    if args.project:  # for this command only (and the notebook kernel it starts)
        os.environ["SATISFACTION_HOME"] = str(Path(args.project).expanduser().resolve())
    try:
        return _run(args)
    finally:
        if home is None:
            os.environ.pop("SATISFACTION_HOME", None)
        else:
            os.environ["SATISFACTION_HOME"] = home


def _run(args) -> int:
    from .errors import SatisfactionError, ValidationError

    if getattr(args, "seed", 0) is None and args.command == "synth":
        from .synth import DEFAULT_SEED

        args.seed = DEFAULT_SEED
    try:
        if args.command != "init":
            from .paths import project_root

            project_root()  # a missing project is said once, up front (exit 2)
        return args.func(args)
    except ValidationError as exc:
        log.error("%d problem(s) in the input; nothing was written", len(exc.problems),
                  extra={"event": "bad_input", "exit_code": int(ExitCode.BAD_INPUT), "problems": len(exc.problems)})
        _print_problems(exc.problems)
        return int(ExitCode.BAD_INPUT)
    except (SatisfactionError, FileNotFoundError) as exc:
        # bad input, misuse, a failed analysis or publication: one message and its exit code;
        # anything else is a bug and shows its traceback
        code = int(getattr(exc, "exit_code", ExitCode.BAD_INPUT))
        log.error("%s", exc, extra={"event": "failed", "exit_code": code, "error": type(exc).__name__})
        return code
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
