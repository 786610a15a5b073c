"""Referral codes are short, unguessable and stable per (referrer, program)."""
from referral_app.services.codes import ALPHABET, by_code, code_for
from tests import factories as f


def test_code_is_stable_and_distinct(db):
    prog, other = f.program(), f.program()
    referrer = f.user("referrer")
    first = code_for(referrer.id, prog.id)
    assert code_for(referrer.id, prog.id).code == first.code
    assert code_for(referrer.id, other.id).code != first.code
    assert len(first.code) == 8 and set(first.code) <= set(ALPHABET)
    assert by_code(first.code.lower()).id == first.id
    assert by_code("NOPE") is None
