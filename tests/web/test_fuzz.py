"""Schemathesis against the real server, from the service's own OpenAPI description (bench/fuzz.py):
a seeded run of two minutes; `make fuzz` runs longer."""

from bench import fuzz


def test_fuzzing_the_api_finds_no_failure_and_leaves_the_database_sound():
    outcome = fuzz.run(seconds=120, seed=1)
    # The summary of a failed run names every failure with a curl line to reproduce it.
    assert outcome.returncode == 0, outcome.output[-20_000:]
    tested, described = outcome.operations
    assert tested == described > 40
    assert outcome.integrity == "ok"
