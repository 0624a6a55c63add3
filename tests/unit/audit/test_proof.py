"""Inclusion proofs: made for events under a signed head, checked offline with the public key only, and refused
after any tampering."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agents.audit_chain.chain import ChainHead, seal
from agents.cli.audit import audit
from agents.core.audit_keys import public_key_text
from agents.tools.audit.proof import ProofError, check_proof, prove
from tests.unit.audit.chains import KEYS, ROGUE, SEALER, SIGNING, TOPIC, chain, draft, records, simple_chain

PUBLIC = KEYS.public


def proof_of(events: list[dict[str, Any]], event_id: str) -> dict[str, Any]:
    return prove(records(events), TOPIC, event_id, KEYS)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9])
def test_every_event_of_a_signed_chain_proves(n: int) -> None:
    events = simple_chain(n, checkpoints={n: "k1"})
    for i in range(n):
        proof = proof_of(events, f"e{i:04d}")
        assert (proof["leaf_index"], proof["tree_size"], proof["offset"]) == (i, n, i)
        checked = check_proof(json.loads(json.dumps(proof)), PUBLIC)
        assert (checked.seq, checked.tree_size, checked.key_id, checked.event_id) == (i, n, "k1", f"e{i:04d}")


def test_the_latest_head_covering_the_event_is_used() -> None:
    events = simple_chain(6, checkpoints={2: "k1", 4: "k2", 6: "k1"})
    proof = proof_of(events, "e0001")
    assert proof["signed_head"]["tree_size"] == 8 and proof["checkpoint"]["offset"] == 8


def test_an_event_no_signed_head_covers_yet_has_no_proof() -> None:
    events = simple_chain(5, checkpoints={3: "k1"})
    with pytest.raises(ProofError, match="not covered by a valid signed tree head yet"):
        proof_of(events, "e0004")
    with pytest.raises(ProofError, match="no event"):
        proof_of(events, "e9999")


def test_a_head_that_does_not_verify_is_not_used() -> None:
    events = chain([draft(i) for i in range(3)], checkpoints={3: "k1"}, keys={"k1": ROGUE})
    with pytest.raises(ProofError, match="signature is not valid"):
        proof_of(events, "e0000")


def test_a_rejected_event_has_no_proof() -> None:
    head = ChainHead()
    events = chain([draft(i) for i in range(2)], checkpoints={2: "k1"}, sealer=SEALER, head=head)
    forged = seal(draft(70), head)
    head.rejected = [(3, 3)]
    events += [forged, *chain([draft(3)], checkpoints={1: "k1"}, sealer=SEALER, head=head)]
    with pytest.raises(ProofError, match="rejected"):
        proof_of(events, "e0070")
    check_proof(proof_of(events, "e0003"), PUBLIC)


def tampered(proof: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []

    def variant(name: str, change: Any) -> None:
        copy_ = copy.deepcopy(proof)
        change(copy_)
        out.append((name, copy_))

    variant("event content", lambda p: p["event"].update(tenant="other"))
    variant("event content rehashed", lambda p: p["event"].update(tenant="other", hash="0" * 64))
    variant("leaf index", lambda p: p.update(leaf_index=p["leaf_index"] + 1))
    variant("tree size", lambda p: p.update(tree_size=p["tree_size"] + 1))
    variant("signed tree size", lambda p: p["signed_head"].update(tree_size=p["signed_head"]["tree_size"] + 1))
    variant("signed root", lambda p: p["signed_head"].update(root_hash="1" * 64))
    variant("signature", lambda p: p["signed_head"].update(signature=p["signed_head"]["signature"][::-1]))
    variant("key id", lambda p: p["signed_head"].update(key_id="k2"))
    variant("partition", lambda p: p.update(partition=1))
    variant("path entry", lambda p: p["audit_path"].__setitem__(0, "2" * 64))
    variant("path shortened", lambda p: p["audit_path"].pop())
    variant("path lengthened", lambda p: p["audit_path"].append("3" * 64))
    variant("format", lambda p: p.update(format="other"))
    return out


def test_a_proof_fails_after_any_tampering() -> None:
    events = simple_chain(7, checkpoints={7: "k1"})
    proof = proof_of(events, "e0002")
    check_proof(proof, PUBLIC)
    for name, bad in tampered(proof):
        with pytest.raises(ProofError):
            check_proof(bad, PUBLIC)
            pytest.fail(f"tampered {name} still verifies")


def test_a_proof_needs_the_signers_public_key() -> None:
    proof = proof_of(simple_chain(3), "e0001")
    with pytest.raises(ProofError, match="key id 'k1'"):
        check_proof(proof, {"k2": PUBLIC["k2"]})
    with pytest.raises(ProofError, match="signature is not valid"):
        check_proof(proof, {"k1": ROGUE.public_key()})


def test_check_proof_on_the_command_line_needs_only_the_public_key(tmp_path: Path) -> None:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof_of(simple_chain(4), "e0003")))
    key = f"k1={public_key_text(SIGNING['k1'])}"
    env = {"SLUICE_VAR_DIR": str(tmp_path / "var")}
    ok = CliRunner().invoke(audit, ["check-proof", str(path), "--public-key", key], env=env)
    assert ok.exit_code == 0 and ok.output.startswith("VALID: event e0003"), ok.output
    bad = json.loads(path.read_text())
    bad["event"]["subject_id"] = "rec-forged"
    path.write_text(json.dumps(bad))
    refused = CliRunner().invoke(audit, ["check-proof", str(path), "--public-key", key], env=env)
    assert refused.exit_code == 1 and refused.output.startswith("INVALID: the event's content"), refused.output
    assert not (tmp_path / "var").exists(), "checking a proof created something"


def test_public_key_prints_what_auditors_pass_to_verify(tmp_path: Path) -> None:
    from agents.core.settings import load_settings

    env = {"SLUICE_VAR_DIR": str(tmp_path)}
    missing = CliRunner().invoke(audit, ["public-key"], env=env)
    assert missing.exit_code == 1 and "no audit public key" in missing.output
    assert not tmp_path.joinpath("secrets").exists(), "printing keys created one"
    _, keys = load_settings(var_dir=tmp_path).audit_signer(create_local=True)
    shown = CliRunner().invoke(audit, ["public-key"], env=env)
    assert shown.exit_code == 0 and shown.stdout.strip() == f"local-1={public_key_text(keys['local-1'])}"


def test_verify_without_any_key_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(audit, ["verify"], env={"SLUICE_VAR_DIR": str(tmp_path / "var")})
    assert result.exit_code == 2 and "--public-key" in result.output
    assert not (tmp_path / "var").exists()
