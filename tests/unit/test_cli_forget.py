"""`sluice forget` and `sluice deid pseudonym` on the command line: arguments, output, and no raw value shown."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from agents.cli import main
from models.deid.pseudonyms import pseudonym

KEY = "cli-unit-test-pseudonym-key-0123456789"
ID_NUMBER = "11010519491231002X"


@pytest.fixture()
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SLUICE_PSEUDONYM_KEY", KEY)
    return CliRunner()


def test_deid_pseudonym_prints_only_the_subject_pseudonym_ingest_stores(runner: CliRunner) -> None:
    result = runner.invoke(main, ["deid", "pseudonym", "--type", "CN_RESIDENT_ID", "110105 19491231 002x"])
    assert result.exit_code == 0, result.output
    assert result.stdout == pseudonym(ID_NUMBER, "CN_RESIDENT_ID", KEY.encode()) + "\n"
    assert result.stderr == ""


def test_deid_pseudonym_reads_the_value_from_stdin_and_warns_about_an_invalid_one(runner: CliRunner) -> None:
    wrong = ID_NUMBER[:-1] + "1"
    result = runner.invoke(main, ["deid", "pseudonym", "--type", "CN_RESIDENT_ID", "-"], input=wrong + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == pseudonym(wrong, "CN_RESIDENT_ID", KEY.encode()) + "\n"
    assert "not a valid CN_RESIDENT_ID" in result.stderr and wrong not in result.stderr


def test_deid_pseudonym_rejects_an_unknown_type(runner: CliRunner) -> None:
    result = runner.invoke(main, ["deid", "pseudonym", "--type", "SSN", "123"])
    assert result.exit_code == 2 and "CN_RESIDENT_ID" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--subject", "<CN_MOBILE_49e582b863>", "--identifier", ID_NUMBER, "--type", "CN_RESIDENT_ID"],
        ["--identifier", ID_NUMBER],
        ["--subject", "<CN_MOBILE_49e582b863>", "--type", "CN_MOBILE"],
    ],
)
def test_forget_needs_a_subject_or_an_identifier_with_its_type(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(main, ["forget", "--tenant", "acme", *args])
    assert result.exit_code == 2 and "--subject PSEUDONYM, or --identifier VALUE with --type TYPE" in result.stderr
    assert ID_NUMBER not in result.output


def test_forget_by_identifier_accepts_only_types_that_name_a_data_subject(runner: CliRunner) -> None:
    result = runner.invoke(main, ["forget", "--tenant", "acme", "--identifier", "张伟", "--type", "PERSON"])
    assert result.exit_code == 2 and "CN_RESIDENT_ID" in result.stderr
