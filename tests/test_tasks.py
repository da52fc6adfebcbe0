"""The task suite: every file loads and validates; prompts render with the conventions."""

import pytest

from phasejax.probe import tasks as T

REQUIRED = {"number_1_10", "number_0_10", "number_1_100", "coin_flip", "die_roll", "letter",
            "weekday", "month", "colour", "card_suit", "rock_paper_scissors", "first_name",
            "digit_sequence", "coin_sequence"}


def test_suite_is_complete():
    assert REQUIRED <= set(T.available())


@pytest.mark.parametrize("name", T.available())
def test_every_task_loads_with_eight_variants_in_both_forms(name):
    task = T.load(name)
    assert len(task.prompts) >= 8
    for p in task.prompts:
        chat, comp = task.user_message(p), task.completion_text(p)
        assert chat and comp and not comp.endswith(" ")
        assert "{n}" not in chat and "{n}" not in comp
    assert all(a.startswith(" ") for a in task.answers("chat"))


def test_rendering_conventions():
    task = T.load("number_1_10")
    p = task.prompts[0]
    assert task.completion_text(p) == ("Question: Pick a random number between 1 and 10.\n"
                                       "Answer: My number is")
    assert task.answers("completion")[:2] == [" 1.", " 2."]
    assert task.answers("chat")[9] == " 10" + T.END_OF_TURN
    seq = T.load("digit_sequence")
    assert "12 random digits" in seq.user_message(seq.prompts[0], n=12)


def test_parsing_answers():
    assert T.load("number_1_10").parse(" 10. Because") == "10"
    assert T.load("number_1_10").parse(" 1") == "1"
    assert T.load("number_1_10").parse(" eleven") is None
    assert T.load("weekday").parse(" Friday!") == "Friday"
    assert T.load("first_name").parse(" Zephyr, a knight") == "Zephyr"
    assert T.load("coin_sequence").parse(" H, T, T, H.") == "H, T, T, H"


def test_bad_tasks_raise_one_clear_error(tmp_path):
    base = T.load("number_1_10")
    d = {"name": "bad", "kind": "choice", "options": ["1", "10", "2"], "terminator": {},
         "prompts": [{"id": f"v{i}", "chat": "Pick."} for i in range(8)]}
    with pytest.raises(ValueError, match="not prefix-free \\('1' is a prefix of '10'\\)"):
        T.from_dict(d)
    d2 = dict(d, options=["a", "b"], prompts=d["prompts"][:3])
    with pytest.raises(ValueError, match="at least 8"):
        T.from_dict(d2)
    with pytest.raises(ValueError, match="unknown keys"):
        T.from_dict(dict(d, colour="red"))
    with pytest.raises(FileNotFoundError, match="known tasks"):
        T.load("no_such_task")
    assert base.name == "number_1_10"
