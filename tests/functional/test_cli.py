"""The tda CLI: output files, formats, scenarios, streaming large counts, exit code 2."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tda import wiring
from tda_local.cli import main

from ..conftest import printed_in_a_fresh_interpreter

NOT_UTF8 = Path(__file__).resolve().parent / "files" / "not_utf8.yaml"  # "café" in Latin-1
ALIAS_BOMB = NOT_UTF8.parent / "alias_bomb.yaml"
ALIAS_CYCLE = NOT_UTF8.parent / "alias_cycle.yaml"


def test_generate_writes_the_requested_format(tmp_path: Path) -> None:
    out = tmp_path / "carts.ndjson"
    assert (
        main(
            [
                "generate",
                "cart",
                "--count",
                "25",
                "--seed",
                "3",
                "--format",
                "ndjson",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    lines = out.read_text().splitlines()
    assert len(lines) == 25 and json.loads(lines[0])["cart_id"].startswith("CRT-")


def test_scenarios_and_overrides(tmp_path: Path) -> None:
    out = tmp_path / "orders.json"
    code = main(
        [
            "generate",
            "order",
            "--count",
            "10",
            "--scenario",
            "happy=8",
            "--scenario",
            "refund=2",
            "--override",
            "refund.status=refunded",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    records = json.loads(out.read_text())
    assert [r["status"] for r in records[8:]] == ["refunded", "refunded"]
    assert {r["_scenario"] for r in records[:8]} == {"happy"}


def test_a_scenario_named_with_a_dot_takes_its_overrides(tmp_path: Path) -> None:
    # NAME.FIELD was split at its first dot: "unknown scenario 'eu'" for eu.vat's override.
    out = tmp_path / "orders.json"
    argv = ["generate", "order", "-n", "3", "--scenario", "eu.vat=2", "--scenario", "eu=1",
            "--override", "eu.vat.status=refunded", "--override", "eu.status=paid", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    records = json.loads(out.read_text())
    assert [(r["_scenario"], r["status"]) for r in records] == [
        ("eu.vat", "refunded"),
        ("eu.vat", "refunded"),
        ("eu", "paid"),
    ]


def test_override_without_scenarios_applies_to_default(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert (
        main(
            [
                "generate",
                "payment",
                "-n",
                "5",
                "--override",
                "default.method=paypal",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert {r["method"] for r in json.loads(out.read_text())} == {"paypal"}


def test_schema_file_with_constraints(tmp_path: Path) -> None:
    schema = tmp_path / "invoice.yaml"
    schema.write_text(
        "fields:\n  - {name: invoice_no, type: STRING, required: true}\n  - {name: amount, type: FLOAT}\n"
        "constraints:\n  invoice_no: {format: 'INV-{digits:6}'}\n  amount: {min: 1, max: 9, format: money}\n"
    )
    out = tmp_path / "inv.sql"
    assert (
        main(
            [
                "generate",
                "invoice",
                "--schema",
                str(schema),
                "-n",
                "40",
                "-f",
                "sql",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    db = sqlite3.connect(":memory:")
    db.executescript(out.read_text())
    assert db.execute(
        "SELECT count(*), min(amount) >= 1, max(amount) <= 9 FROM invoice"
    ).fetchone() == (40, 1, 1)


def test_large_count_streams_beyond_the_sync_limit(tmp_path: Path) -> None:
    out = tmp_path / "users.csv"
    assert (
        main(
            [
                "generate",
                "user",
                "--count",
                "25000",
                "--format",
                "csv",
                "--seed",
                "1",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    with out.open() as handle:
        assert sum(1 for _ in handle) == 25001


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["generate", "cart", "--count", "0"], "count: must be at least 1"),
        (["generate", "nope", "--count", "1"], "entity: unknown entity 'nope'"),
        (
            ["generate", "cart", "--count", "3", "--scenario", "a=1"],
            "scenarios: scenario counts add up to 1",
        ),
        (
            ["generate", "cart", "--count", "3", "--scenario", "a"],
            "--scenario: expected NAME=COUNT",
        ),
        (
            ["generate", "cart", "--count", "3", "--override", "b.currency=USD"],
            "--override: unknown scenario 'b'",
        ),
        # The second was taken over the first: "scenario counts add up to 1, but count is 2".
        (
            ["generate", "cart", "--count", "2", "--scenario", "a=1", "--scenario", "a=1"],
            "--scenario: 'a' is given twice",
        ),
        (["generate", "cart", "--count", "2000000"], "count: 2000000 is above the limit"),
        (["generate", "cart", "--count", "2", "--locale", "xx"], "locale: unknown locale"),
        (
            ["generate", "cart", "--count", "1", "--schema", "/nonexistent.yaml"],
            "--schema: cannot read",
        ),
        # An endless file is refused at its limit, not read until memory runs out.
        (
            ["generate", "cart", "--count", "1", "--schema", "/dev/zero"],
            "--schema: /dev/zero is over 1 MiB",
        ),
        (["rag", "add", "/dev/zero"], "file: /dev/zero is over 64 MiB"),
        (
            ["generate", "cart", "--count", "1", "--schema", str(NOT_UTF8)],
            f"--schema: {NOT_UTF8} is not UTF-8 text",
        ),
        # Before: 15 s of CPU building a million fields, then a million lines of errors.
        (
            ["generate", "doc", "--count", "1", "--schema", str(ALIAS_BOMB)],
            f"--schema: {ALIAS_BOMB} holds more than 524,288 values once its YAML aliases",
        ),
        (
            ["generate", "doc", "--count", "1", "--schema", str(ALIAS_CYCLE)],
            f"--schema: {ALIAS_CYCLE} holds more than 524,288 values once its YAML aliases",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_installed_entry_point_runs_and_lists_schemas() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tda_local.cli", "schemas", "--domain", "ecommerce"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {line.split()[0] for line in done.stdout.splitlines() if not line.startswith(" ")} >= {
        "cart",
        "order",
        "user",
    }
    bad = subprocess.run(
        [sys.executable, "-m", "tda_local.cli", "generate", "cart", "--count", "-1"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stdout == ""


@pytest.mark.parametrize(
    "text",
    ["fields: " + "[" * 100_000, "{fields: [" + "{a: " * 60_000, "[" * 250 + "]" * 250],
    ids=["lists", "maps", "past-the-limit"],
)
def test_a_schema_file_nested_past_the_parser_is_refused_not_a_crash(
    tmp_path: Path, text: str
) -> None:
    # libyaml's parser recurses once a level: 100,000 '[' overflowed the C stack (SIGSEGV).
    # In a process of its own, so that a crash fails this test and not the worker.
    schema = tmp_path / "deep.yaml"
    schema.write_text(text)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tda_local.cli",
            "generate",
            "x",
            "-n",
            "1",
            "--schema",
            str(schema),
        ],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stdout) == (2, ""), done.stderr[-500:]
    assert done.stderr == f"tda: error: --schema: {schema} nests deeper than 200 levels\n"


def test_readme_schema_example_generates_what_it_promises(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "invoice.yaml"
    out = tmp_path / "invoices.json"
    assert (
        main(
            [
                "generate",
                "invoice",
                "--schema",
                str(example),
                "-n",
                "50",
                "--seed",
                "2",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    records = json.loads(out.read_text())
    for r in records:
        assert r["invoice_no"].startswith("INV-") and len(r["invoice_no"]) == 15
        assert 1 <= len(r["lines"]) <= 4 and all(1 <= line["amount"] <= 500 for line in r["lines"])
        assert "@" in r["customer"]["email"] and all(isinstance(t, str) for t in r["tags"])


def test_schema_file_type_error_names_the_field_like_the_other_surfaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "bad.yaml"
    schema.write_text("fields:\n  - {name: a, type: SPACESHIP}\n")
    assert main(["generate", "thing", "--count", "2", "--schema", str(schema)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tda: error: schema.fields[0].type: ") and err.count("\n") == 1


def test_a_request_for_the_llm_with_no_model_says_why_it_was_not_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_model: None
) -> None:
    out = tmp_path / "reviews.json"
    code = main(
        ["generate", "review", "--count", "2", "--context", "reviews of kettles", "-o", str(out)]
    )
    assert code == 0 and len(json.loads(out.read_text())) == 2
    err = capsys.readouterr().err
    assert "llm not configured" in err and "LLM_BASE_URL" in err


def test_a_context_too_short_to_send_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: with a model configured, `--context "gym stuff"` went to the engine without a
    # word, and the response's reason said there was no context.
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:1/v1")
    assert main(["generate", "cart", "-n", "1", "--context", "gym stuff"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("note: the context ('gym stuff', 9 characters) is shorter than the 10")


def test_what_the_llm_path_noted_is_said_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The notes (a budget reached, records filled and why, failed calls) were in the HTTP and
    # gRPC metadata only: the CLI said how many records were filled, never why.
    monkeypatch.setenv("LLM_MAX_TOKENS_PER_REQUEST", "500")
    wiring.install()
    try:
        out = tmp_path / "reviews.json"
        args = ["generate", "review", "--count", "3", "--context", "reviews of kettles"]
        assert main([*args, "-o", str(out)]) == 0
    finally:
        monkeypatch.undo()
        wiring.install()
    err = capsys.readouterr().err
    assert "3 record(s) filled by traditional generation" in err
    assert "\nllm: the request reached its budget of 500 tokens" in err
    assert (
        "llm: 3 record(s) filled by traditional generation, the model's invalid or missing" in err
    )


def test_use_cache_replays_the_same_bytes_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The session's scripted model serves; the second run reads its answer from the cache.
    args = ["generate", "cart", "--count", "4", "--seed", "5", "--use-cache"]
    args += ["--context", "carts for a weekend of trail running"]
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert main([*args, "-o", str(first)]) == 0
    assert "(cache hit)" not in capsys.readouterr().err
    assert main([*args, "-o", str(second)]) == 0
    err = capsys.readouterr().err
    assert "0 call(s) (cache hit)" in err and "path llm" in err
    assert first.read_bytes() == second.read_bytes()


def test_a_request_with_hundreds_of_problems_names_the_first_and_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One line a person can read, as the gRPC shim's message: not 500 problems on it.
    fields = [{"name": f"f{i}", "type": "INTEGER"} for i in range(500)]
    constraints = {f"f{i}": {"min": 10, "max": 1} for i in range(500)}
    schema = tmp_path / "many.json"
    schema.write_text(json.dumps({"fields": fields, "constraints": constraints}))
    assert main(["generate", "thing", "--schema", str(schema), "-n", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 8_000
    assert err.count("is greater than max") == 20 and err.endswith("; and 480 more\n")


def test_generating_imports_only_what_generating_needs() -> None:
    # The CLI's cost is mostly imports: the jobs client's HTTP stack, the package metadata for
    # --version, pydantic's plugin search and numpy's BLAS threads (a spinning thread per core,
    # ≈0.1 s of CPU) are left out of a plain `tda generate`, and so are the jobs and rag
    # commands' dozen argparse parsers (≈8 ms) and pydantic's models (≈0.1 s of CPU: the
    # request is checked by pydantic_core alone, tda.domain.wire). Nor do the chunk stores,
    # tempfile and shutil (≈3 ms), or the regex drawer (rstr) load for a schema without a regex.
    code = (
        "import os, sys; from tda_local.cli import main; "
        "assert main(['generate', 'cart', '-n', '1']) == 0; "
        "print(sorted(m for m in ('importlib.metadata', 'urllib.request', 'http.client', "
        "'tda_local.jobs_cli', 'tda_local.rag_cli', 'pydantic', 'tempfile', 'shutil', 'rstr', "
        "'tda.adapters.chunk_stores') if m in sys.modules)); "
        "print(len(os.listdir('/proc/self/task')))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS",
           "PYDANTIC_DISABLE_PLUGINS")}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported, threads = done.stdout.splitlines()[-2:]
    assert imported == "[]"
    assert threads == "1"  # no thread left behind by numpy or anything else


@pytest.mark.parametrize("collecting", [True, False])
def test_loading_the_runtime_sets_off_no_collection_and_leaves_the_collector_as_it_was(
    collecting: bool,
) -> None:
    # Its modules' allocations set off some 50 collections, each walking the objects they made
    # (≈10 ms of a one-record run): the collector waits, then what they made is frozen
    # (tda/startup.py; what imports it, the package's own start, is counted before).
    code = (
        "import gc, json\n"
        f"{'' if collecting else 'gc.disable()'}\n"
        "import tda.startup\n"
        "before = [g['collections'] for g in gc.get_stats()]\n"
        "import tda_local\n"
        "after = [g['collections'] for g in gc.get_stats()]\n"
        "print(json.dumps([before, after, gc.get_freeze_count(), gc.isenabled()]))\n"
    )
    before, after, frozen, enabled = printed_in_a_fresh_interpreter(code)
    assert after[1:] == before[1:]  # no older generation walked
    assert after[0] - before[0] <= 1  # at most the import machinery's own, before the pause
    assert frozen > 20_000
    assert enabled is collecting


def test_every_command_is_listed_and_helped_though_a_plain_run_builds_fewer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A generate, schemas or serve run leaves the jobs and rag parsers out: help, a wrong
    # command and those commands themselves still see them all.
    with pytest.raises(SystemExit) as helped:
        main(["--help"])
    assert helped.value.code == 0
    listed = capsys.readouterr().out
    for command in ("generate", "schemas", "jobs", "rag", "serve"):
        assert command in listed
    for name in ("jobs", "rag", "generate"):
        with pytest.raises(SystemExit) as helped:
            main([name, "--help"])
        assert helped.value.code == 0 and f"usage: tda {name}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as wrong:
        main(["jbos", "status", "x"])
    assert wrong.value.code == 2
    assert "'jobs'" in capsys.readouterr().err  # the choices it names include jobs
    with pytest.raises(SystemExit) as wrong:
        main(["generate", "cart", "--count", "x"])
    assert wrong.value.code == 2 and "--count" in capsys.readouterr().err


def test_an_output_that_is_no_regular_file_is_written_to_not_replaced(tmp_path: Path) -> None:
    # `-o /dev/null` (a benchmark's) or a named pipe: written through, never renamed over (as
    # root, the temporary file once replaced /dev/null itself).
    pipe = tmp_path / "carts.pipe"
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # 5 carts fit the pipe's buffer
    try:
        assert main(["generate", "cart", "-n", "5", "--seed", "1", "-o", str(pipe)]) == 0
        received = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(pipe.stat().st_mode)
    assert len(json.loads(received)) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["carts.pipe"]  # no temporary left


def test_an_output_through_a_link_keeps_the_link_and_fills_what_it_names(tmp_path: Path) -> None:
    # Before: the temporary file was renamed over the link itself, which became a file of its
    # own, and the file it named was left as it was.
    (tmp_path / "data").mkdir()
    named = tmp_path / "data" / "carts.json"
    named.write_text("old")
    link = tmp_path / "carts.json"
    link.symlink_to(Path("data") / "carts.json")
    assert main(["generate", "cart", "-n", "2", "--seed", "1", "-o", str(link)]) == 0
    assert link.is_symlink()
    assert len(json.loads(named.read_text())) == 2
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["carts.json"]


@pytest.mark.parametrize(
    ("output", "links_to"),
    [("link", "/dev/stdout"), ("link", "/proc/self/fd/1"), ("/dev/fd/1", ""), ("-", "")],
)
def test_an_output_naming_standard_output_writes_to_it_and_replaces_nothing(
    tmp_path: Path, output: str, links_to: str
) -> None:
    # Before, as root: `-o /dev/stdout` with standard output sent to a file renamed its
    # temporary file over /dev/stdout itself (a link into /proc), which turned into a file of
    # carts for every program after; `/dev/fd/1` failed (no temporary can be made in /proc).
    # Now it is written through, appended to, as the shell opened it (`>>` keeps what was
    # there), and `-` means standard output. (A link of this test's own stands for
    # /dev/stdout: were it renamed over again, nothing of the machine's would be.)
    if links_to:
        output = str(tmp_path / output)
        Path(output).symlink_to(links_to)
    kept = tmp_path / "kept.json"
    kept.write_text("before\n")
    with kept.open("a") as appended:
        done = subprocess.run(
            [sys.executable, "-m", "tda_local.cli", "generate", "cart", "-n", "2", "-o", output],
            stdout=appended,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            cwd=tmp_path,  # where a file named '-' would be written
        )
    assert done.returncode == 0, done.stderr
    before, written = kept.read_text().split("\n", 1)
    assert before == "before" and len(json.loads(written)) == 2
    assert not links_to or Path(output).is_symlink()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or p.name == "-"]


def test_a_schema_file_of_dash_is_read_from_standard_input() -> None:
    # Before: `--schema -` was refused ("cannot read -: No such file or directory").
    schema = {
        "fields": [{"name": "level", "type": "INTEGER"}],
        "constraints": {"level": {"min": 3, "max": 4}},
    }
    done = subprocess.run(
        [sys.executable, "-m", "tda_local.cli", "generate", "gauge", "-n", "3", "--schema", "-"],
        input=json.dumps(schema),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [3 <= r["level"] <= 4 for r in json.loads(done.stdout)] == [True] * 3
    endless = subprocess.run(
        [sys.executable, "-m", "tda_local.cli", "generate", "gauge", "-n", "3", "--schema", "-"],
        input="x" * (2 << 20),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert endless.returncode == 2
    assert endless.stderr == "tda: error: --schema: standard input is over 1 MiB\n"
