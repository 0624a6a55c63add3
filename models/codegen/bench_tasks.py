"""The fixed small Python tasks `sluice bench codegen` asks for, each with the tests its code must pass."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchTask:
    """One task: a name, the instruction a user would write, and pytest-style tests calling the function by name."""

    name: str
    instruction: str
    tests: str


BENCH_TASKS: tuple[BenchTask, ...] = (
    BenchTask(
        "reverse_words",
        "Write a function reverse_words(text) that returns the words of text in reverse order, joined by single "
        "spaces.",
        "def test_reverse_words():\n"
        "    assert reverse_words('hello big world') == 'world big hello'\n"
        "    assert reverse_words('one') == 'one'\n"
        "    assert reverse_words('') == ''\n",
    ),
    BenchTask(
        "fizzbuzz",
        "Write a function fizzbuzz(n) that returns a list of strings for 1..n: 'Fizz' for multiples of 3, 'Buzz' "
        "for multiples of 5, 'FizzBuzz' for multiples of both, otherwise the number as a string.",
        "def test_fizzbuzz():\n"
        "    assert fizzbuzz(5) == ['1', '2', 'Fizz', '4', 'Buzz']\n"
        "    assert fizzbuzz(15)[-1] == 'FizzBuzz'\n"
        "    assert fizzbuzz(0) == []\n",
    ),
    BenchTask(
        "is_palindrome",
        "Write a function is_palindrome(text) that returns True when text reads the same backwards, ignoring case "
        "and any character that is not a letter or a digit.",
        "def test_is_palindrome():\n"
        "    assert is_palindrome('A man, a plan, a canal: Panama')\n"
        "    assert is_palindrome('')\n"
        "    assert not is_palindrome('hello')\n",
    ),
    BenchTask(
        "sum_of_digits",
        "Write a function sum_of_digits(n) that returns the sum of the decimal digits of the integer n (the sign "
        "is ignored).",
        "def test_sum_of_digits():\n"
        "    assert sum_of_digits(1234) == 10\n"
        "    assert sum_of_digits(0) == 0\n"
        "    assert sum_of_digits(-56) == 11\n",
    ),
    BenchTask(
        "chunk",
        "Write a function chunk(items, size) that splits the list items into consecutive lists of length size; "
        "the last one may be shorter.",
        "def test_chunk():\n"
        "    assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]\n"
        "    assert chunk([], 3) == []\n"
        "    assert chunk([1, 2], 5) == [[1, 2]]\n",
    ),
    BenchTask(
        "word_counts",
        "Write a function word_counts(text) that returns a dict mapping each lowercase word of text (split on "
        "whitespace) to how often it occurs.",
        "def test_word_counts():\n"
        "    assert word_counts('The cat the hat') == {'the': 2, 'cat': 1, 'hat': 1}\n"
        "    assert word_counts('') == {}\n",
    ),
    BenchTask(
        "fahrenheit_to_celsius",
        "Write a function fahrenheit_to_celsius(f) that converts a temperature in degrees Fahrenheit to degrees "
        "Celsius.",
        "def test_fahrenheit_to_celsius():\n"
        "    assert fahrenheit_to_celsius(32) == 0\n"
        "    assert fahrenheit_to_celsius(212) == 100\n"
        "    assert abs(fahrenheit_to_celsius(98.6) - 37) < 1e-9\n",
    ),
    BenchTask(
        "dedupe",
        "Write a function dedupe(items) that returns a list of the items of the list items without duplicates, "
        "keeping the first occurrence of each in its original order.",
        "def test_dedupe():\n"
        "    assert dedupe([3, 1, 3, 2, 1]) == [3, 1, 2]\n"
        "    assert dedupe([]) == []\n"
        "    assert dedupe(['a', 'a']) == ['a']\n",
    ),
    BenchTask(
        "flatten",
        "Write a function flatten(lists) that flattens a list of lists by one level into a single list.",
        "def test_flatten():\n"
        "    assert flatten([[1, 2], [3], []]) == [1, 2, 3]\n"
        "    assert flatten([]) == []\n"
        "    assert flatten([[[1]], [2]]) == [[1], 2]\n",
    ),
    BenchTask(
        "max_subarray",
        "Write a function max_subarray(numbers) that returns the largest sum of a non-empty contiguous sub-list "
        "of the list numbers.",
        "def test_max_subarray():\n"
        "    assert max_subarray([-2, 1, -3, 4, -1, 2, 1, -5, 4]) == 6\n"
        "    assert max_subarray([-3, -1, -2]) == -1\n"
        "    assert max_subarray([5]) == 5\n",
    ),
    BenchTask(
        "parse_pairs",
        "Write a function parse_pairs(text) that parses a string like 'k=v;k2=v2' into a dict of strings "
        "{'k': 'v', 'k2': 'v2'}; empty parts are skipped.",
        "def test_parse_pairs():\n"
        "    assert parse_pairs('k=v;k2=v2') == {'k': 'v', 'k2': 'v2'}\n"
        "    assert parse_pairs('') == {}\n"
        "    assert parse_pairs('a=1;;b=2;') == {'a': '1', 'b': '2'}\n",
    ),
    BenchTask(
        "to_roman",
        "Write a function to_roman(n) that returns the Roman numeral of the integer n, 1 <= n <= 3999.",
        "def test_to_roman():\n"
        "    assert to_roman(1) == 'I'\n"
        "    assert to_roman(1994) == 'MCMXCIV'\n"
        "    assert to_roman(3999) == 'MMMCMXCIX'\n",
    ),
)
