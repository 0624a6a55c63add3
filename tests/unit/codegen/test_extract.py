"""Extraction: which part of an answer is the code and which the tests."""

from __future__ import annotations

from models.codegen.extract import extract, split_tests

CODE = "def add(a, b):\n    return a + b\n"
TESTS = "def test_add():\n    assert add(1, 2) == 3\n"


def test_a_python_block_is_code_and_a_block_of_test_functions_is_tests() -> None:
    answer = f"Here it is:\n```python\n{CODE}```\nAnd tests:\n```python\n{TESTS}```\nDone."
    extracted = extract(answer)
    assert extracted.code == CODE
    assert extracted.tests == TESTS


def test_without_a_fence_the_whole_answer_is_code() -> None:
    extracted = extract(CODE)
    assert extracted.code == CODE
    assert extracted.tests is None


def test_blocks_in_other_languages_are_not_code() -> None:
    answer = f"```bash\npip install nothing\n```\n```py\n{CODE}```\n```text\nadd(1, 2) -> 3\n```"
    assert extract(answer).code == CODE


def test_an_untagged_block_counts_as_python() -> None:
    assert extract(f"```\n{CODE}```").code == CODE


def test_a_block_cut_off_before_its_closing_fence_runs_to_the_end() -> None:
    assert extract(f"```python\n{CODE}").code == CODE


def test_a_block_with_code_and_tests_is_split() -> None:
    extracted = extract(f"```python\nimport math\n\n{CODE}\n\n{TESTS}\n\nprint(add(1, 2))\n```")
    assert "def add" in extracted.code and "print(add(1, 2))" in extracted.code and "import math" in extracted.code
    assert "def test_" not in extracted.code
    assert extracted.tests is not None and extracted.tests.strip() == TESTS.strip()


def test_a_test_block_keeps_its_imports() -> None:
    block = f"import pytest\nfrom solution import add\n\n{TESTS}"
    assert split_tests(block) == ("", block)


def test_decorators_and_test_classes_go_with_the_tests() -> None:
    block = (
        f"{CODE}\n@pytest.mark.parametrize('a', [1, 2])\ndef test_one(a):\n    assert add(a, 0) == a\n\n"
        "class TestAdd:\n    def test_zero(self):\n        assert add(0, 0) == 0\n"
    )
    code, tests = split_tests(block)
    assert code.strip() == CODE.strip()
    assert tests is not None and "@pytest.mark.parametrize" in tests and "class TestAdd" in tests


def test_an_unparseable_block_is_still_split_at_top_level_test_functions() -> None:
    broken = "def add(a, b)\n    return a + b\n"  # the colon is missing: no AST
    code, tests = split_tests(f"{broken}\n{TESTS}\nx = 1\n")
    assert code.strip() == f"{broken}\nx = 1".strip()
    assert tests is not None and tests.strip() == TESTS.strip()


def test_nested_test_functions_are_not_tests() -> None:
    block = "def make():\n    def test_inner():\n        pass\n    return test_inner\n"
    assert split_tests(block) == (block, None)


def test_code_without_tests_splits_into_itself() -> None:
    assert split_tests(CODE) == (CODE, None)


def test_a_block_repeated_or_redefined_later_is_dropped() -> None:
    draft = "def add(a, b):\n    return a - b\n"
    answer = f"```python\n{draft}```\nThe corrected code:\n```python\n{CODE}```\nAgain:\n```python\n{CODE}```"
    assert extract(answer).code == CODE


def test_blocks_defining_different_things_are_all_kept() -> None:
    helper = "def double(x):\n    return 2 * x\n"
    extracted = extract(f"```python\n{helper}```\n```python\n{CODE}```")
    assert extracted.code == f"{helper.strip()}\n\n\n{CODE}"
