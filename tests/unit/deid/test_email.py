"""EMAIL_ADDRESS: addresses in mixed text, validated against the bundled public suffix list, offline."""

from __future__ import annotations

import socket

import pytest

from models.deid.recognizers.email import EmailAddressRecognizer
from models.deid.syntax.email import has_public_suffix

from ._helpers import found

RECOGNIZER = EmailAddressRecognizer()


@pytest.mark.parametrize(
    "address",
    ["zhang.wei@example.com", "Bob.Smith+crm@mail.acme.co.uk", "li_na-2@company.com.cn", "x@sub.domain.org"],
)
def test_address_is_found(address: str) -> None:
    assert found(RECOGNIZER, f"contact {address} today") == [address]


def test_chinese_text_touching_the_address_is_not_swallowed() -> None:
    assert found(RECOGNIZER, "邮箱zhang.wei@example.com。谢谢") == ["zhang.wei@example.com"]


def test_trailing_sentence_dot_is_not_part_of_the_address() -> None:
    assert found(RECOGNIZER, "Mail bob@example.com.") == ["bob@example.com"]


@pytest.mark.parametrize(
    "text", ["a@b.c", "user@localhost", "x@foo.notarealtld", "@example.com", "name at example dot com"]
)
def test_non_addresses_are_ignored(text: str) -> None:
    assert found(RECOGNIZER, text) == []


def test_validation_never_opens_a_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert has_public_suffix("someone@example.co.jp")
    assert not has_public_suffix("someone@example.invalidsuffix")
