"""Reply validators: the first objection wins; a failing validator is skipped."""

from __future__ import annotations

import logging

from conserje.assistant.validation import ReplyCheck, first_correction, load_validators

CHECK = ReplyCheck(reply="Son 95.", guest_texts=["¿Precio?"], tool_outputs=['{"eur": 95}'])


def test_the_first_validator_that_objects_gives_the_instruction():
    validators = [
        ("fine", lambda check: None),
        ("euros", lambda check: "Say € please" if "€" not in check.reply else None),
        ("never reached", lambda check: "no"),
    ]
    assert first_correction(validators, CHECK) == ("euros", "Say € please")


def test_no_objection_lets_the_reply_go():
    assert first_correction([("fine", lambda check: "")], CHECK) is None


def test_a_validator_that_raises_is_logged_and_skipped(caplog):
    def broken(check):
        raise KeyError("price")

    with caplog.at_level(logging.ERROR):
        outcome = first_correction([("broken", broken), ("euros", lambda c: "Say €")], CHECK)
    assert outcome == ("euros", "Say €")
    assert "reply validator broken failed" in caplog.text


def test_entry_points_are_loaded_and_broken_ones_reported(tmp_path, monkeypatch):
    dist = tmp_path / "biz_validators-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: biz-validators\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[conserje.validators]\nok = biz_validators:check\nmissing = not_a_module:check\n"
    )
    (tmp_path / "biz_validators.py").write_text("def check(c):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    validators, problems = load_validators()

    assert [name for name, _ in validators] == ["ok"]
    assert len(problems) == 1
    assert "missing" in problems[0]
