"""Chat templates are untrusted: sandboxed, bounded in time and size, and rendered token for
token as transformers does.

Every comparison below is against ``transformers``' own ``apply_chat_template`` (torch-free),
through the probe's real path (``load_model`` → ``prompt_text`` → ``encode_prompt``).
"""

import json
import shutil
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from phasejax.probe import sandbox
from phasejax.probe import tasks as T
from phasejax.probe.chat_template import UnsafeTemplateError, render_chat
from phasejax.probe.loading import load_model
from phasejax.probe.prompts import encode_prompt, prompt_text

PARITY = Path(__file__).parent / "parity"
FIXTURES = sorted(p.name for p in PARITY.iterdir() if (p / "chat_template.jinja").is_file())


def payload(marker: Path) -> str:
    return ("{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"
            "{% for m in messages %}{{ m['content'] }}{% endfor %}")


def hostile_folder(tmp_path, marker, where: str, template: str | None = None) -> Path:
    """A model folder whose chat template (``payload`` unless given) sits ``where``."""
    template = payload(marker) if template is None else template
    folder = tmp_path / where
    shutil.copytree(PARITY / "llama", folder)
    (folder / "chat_template.jinja").unlink()
    if where == "jinja":
        (folder / "chat_template.jinja").write_text(template)
    else:
        (folder / "tokenizer_config.json").write_text(json.dumps(
            {"chat_template": template, "tokenizer_class": "PreTrainedTokenizerFast"}))
    return folder


def hostile_gguf(tmp_path, marker, template: str | None = None) -> Path:
    import gguf

    template = payload(marker) if template is None else template
    path = tmp_path / "hostile.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<s>", "</s>", "a", "b"])
    w.add_token_merges([])
    w.add_token_types([3, 3, 1, 1])
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    w.add_chat_template(template)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize("where", ["jinja", "tokenizer_config", "gguf"])
def test_a_template_that_runs_code_is_refused_and_runs_nothing(tmp_path, where):
    marker = tmp_path / "pwned"
    path = (hostile_gguf(tmp_path, marker) if where == "gguf"
            else hostile_folder(tmp_path, marker, where))
    with pytest.raises(UnsafeTemplateError, match="sandbox forbids") as e:
        load_model(path)
    assert str(path) in str(e.value)
    assert not marker.exists()


def test_crystallize_refuses_a_hostile_base_before_writing_anything(tmp_path):
    from experiments import crystallize
    from test_sweep import composed

    marker, out = tmp_path / "pwned", tmp_path / "run"
    out.mkdir()
    base = hostile_folder(tmp_path, marker, "jinja")
    with pytest.raises(UnsafeTemplateError):
        crystallize.run(composed("experiment=crystallize", f"crystallize.base={base}"), out)
    assert not marker.exists() and not any(out.iterdir())


# ------------------------------------------------------------------------ render budget
ENDLESS = ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
           "{{ messages[0]['content'] }}")


def within(seconds: float, fn):
    """``fn()`` in a worker thread (daemon: today's code would spin there forever), or fail."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as e:
            out["error"] = e
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.mark.parametrize("where", ["jinja", "tokenizer_config", "gguf"])
def test_a_template_that_would_never_finish_is_refused_in_one_line(tmp_path, where):
    path = (hostile_gguf(tmp_path, None, ENDLESS) if where == "gguf"
            else hostile_folder(tmp_path, None, where, ENDLESS))
    source = {"jinja": path / "chat_template.jinja", "gguf": path,
              "tokenizer_config": path / "tokenizer_config.json"}[where]
    with pytest.raises(UnsafeTemplateError, match=f"more than {sandbox.MAX_STEPS:,} steps") as e:
        within(60, lambda: load_model(path))
    assert str(e.value).startswith(str(source)) and "\n" not in str(e.value)


def test_the_budget_holds_on_the_main_thread_and_in_time(monkeypatch):
    long = "{% for i in range(100000) %}{% for j in range(20) %}{% endfor %}{% endfor %}content"
    with pytest.raises(UnsafeTemplateError, match="steps"):
        render_chat(long, "u")                              # 2 million iterations: refused
    monkeypatch.setattr(sandbox, "MAX_SECONDS", 0.0)
    with pytest.raises(UnsafeTemplateError, match="runs longer than 0 s"):
        render_chat("{% for i in range(1000) %}{{ i }}{% endfor %}", "u")


@pytest.mark.parametrize("template", [
    "{{ 'x' * 100000000 }}",                                      # operators
    "{{ 9 ** 999999 }}",
    "{{ '%100000000d' % 1 }}",
    "{{ '{:>100000000}'.format(1) }}",                            # string methods
    "{{ ('a' * 3000).replace('a', 'b' * 1000) }}",
    "{{ ''|center(100000000) }}",                                 # filters
    "{% set a = 'a' * 100000 %}{{ ([a] * 100)|join }}",            # one string, shared
    "{% set a = 'a' * 900000 %}{{ [a, a, a] }}",
    "{% set ns = namespace(s='x') %}{% for i in range(25) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}",
    "{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}",     # output
    "y" * 1_000_001,                                              # source
])
def test_a_template_cannot_build_huge_values(template):
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(UnsafeTemplateError, match="more than") as e:
            render_chat(template + "{{ messages }}", "u", source="/m/chat_template.jinja")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(e.value).startswith("/m/chat_template.jinja: refusing this chat template")
    assert peak < 30 * 2**20 and time.perf_counter() - t0 < 5      # refused before it grew


def test_rendering_itself_is_sandboxed():
    with pytest.raises(UnsafeTemplateError):
        render_chat("{{ ''.__class__.__mro__[1].__subclasses__() }}", "u")
    with pytest.raises(UnsafeTemplateError):   # the template may not mutate its inputs
        render_chat("{% set _ = messages.append(1) %}{{ messages }}", "u")


# ----------------------------------------------------------------- parity with transformers
SPECIAL = ["<s>", "</s>", "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>",
           "<|end_header_id|>", "<|user|>", "<|assistant|>", "<|system|>", "[INST]", "[/INST]"]

TEMPLATES = {
    # Llama-3: the template writes the BOS; contents trimmed (prefill cut at the trimmed end)
    "llama3": ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}"
               "<|end_header_id|>\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
               "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n"
               "{% endif %}"),
    # Mistral: BOS from the template, raise_exception on roles that do not alternate
    "mistral": ("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') "
                "!= (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must "
                "alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
                "message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
                "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
                "{% endif %}{% endfor %}"),
    # Zephyr: one tag per line, whitespace control by trim_blocks / lstrip_blocks
    "zephyr": ("{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
               "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
               "{% elif message['role'] == 'system' %}\n"
               "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
               "{% elif message['role'] == 'assistant' %}\n"
               "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
               "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n"
               "{% endif %}\n{% endfor %}"),
    # loop controls, a default system prompt, tojson and strftime_now
    "loops": ("{% if messages[0]['role'] != 'system' %}<|system|>Today is "
              "{{ strftime_now('%Y') }}. Tools: {{ {'a': 1} | tojson }}</s>{% endif %}"
              "{% for m in messages %}{% if m['content'] == 'skip' %}{% continue %}{% endif %}"
              "{% if loop.index > 5 %}{% break %}{% endif %}"
              "<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
              "{% if add_generation_prompt %}<|assistant|>{% endif %}"),
}


def chat_folder(tmp_path, name: str, template: str, bos_in_post_processor: bool) -> Path:
    """A tiny model folder with a byte-level BPE tokenizer, its special tokens and a template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    folder = tmp_path / name
    shutil.copytree(PARITY / "llama", folder)
    (folder / "chat_template.jinja").write_text(template)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tk = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(sorted(alphabet))}, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens(SPECIAL)
    if bos_in_post_processor:   # Llama-family tokenizers add BOS to plain text themselves
        bos = tk.token_to_id("<s>")
        tk.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                          special_tokens=[("<s>", bos)])
    tk.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
         "add_bos_token": bos_in_post_processor}))
    return folder


def transformers_ids(folder, messages, prefill: bool):
    from transformers import AutoTokenizer

    tk = AutoTokenizer.from_pretrained(str(folder))
    out = tk.apply_chat_template(messages, continue_final_message=prefill,
                                 add_generation_prompt=not prefill)
    return list(out["input_ids"])


def probe_ids(lm, task, prompt, prefix):
    return encode_prompt(lm, prompt_text(lm, task, prompt, "chat", answer_prefix=prefix), "chat")


def messages_for(task, prompt, prefix):
    msgs = [{"role": "user", "content": task.user_message(prompt)}]
    return msgs + ([{"role": "assistant", "content": prefix}] if prefix else [])


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_own_templates_render_as_transformers_does(tmp_path, name):
    folder = chat_folder(tmp_path, name, TEMPLATES[name], bos_in_post_processor=True)
    lm = load_model(folder)
    assert lm.special_tokens["bos_token"] == "<s>"
    task = T.load("number_1_10")
    bos = lm.tokenizer.token_to_id("<s>")
    for prefix in ("My number is", ""):
        for prompt in task.prompts[:2]:
            ours = probe_ids(lm, task, prompt, prefix)
            assert ours == transformers_ids(folder, messages_for(task, prompt, prefix),
                                            bool(prefix))
            if name in ("llama3", "mistral"):   # exactly one BOS, written by the template
                assert ours[0] == bos and ours.count(bos) == 1
    # a completion prompt gets the tokenizer's BOS (post-processor), once
    ids = encode_prompt(lm, "Question: pick one.\nAnswer:", "completion")
    assert ids[0] == bos and ids.count(bos) == 1


def test_zephyr_whitespace_and_loop_controls():
    z = render_chat(TEMPLATES["zephyr"], "Hi", special_tokens={"eos_token": "</s>"})
    assert z == "<|user|>\nHi</s>\n<|assistant|>\n"        # no blank lines between blocks
    text = render_chat(TEMPLATES["loops"], "Hi", messages_extra=[("assistant", "skip"),
                                                                  ("user", "again")])
    assert "skip" not in text and text.endswith("<|user|>again</s>")
    assert '{"a": 1}' in text                               # tojson without HTML escaping


def test_raise_exception_becomes_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="roles must alternate"):
        render_chat(TEMPLATES["mistral"], "u", messages_extra=[("user", "again")],
                    special_tokens={"bos_token": "<s>", "eos_token": "</s>"})
    with pytest.raises(Exception, match="not valid Jinja"):
        render_chat("{% for %}", "u")


@pytest.mark.parametrize("fixture", FIXTURES)
def test_every_committed_fixture_renders_as_transformers_does(fixture):
    """The rendered text equals transformers'; so do the ids, encoded by the folder's own
    ``tokenizer.json`` (the fixtures' tiny word-level tokenizers are not what transformers'
    GPT-2/Qwen2 tokenizer classes rebuild from a vocabulary, so ids are compared through it)."""
    from transformers import AutoTokenizer

    lm = load_model(PARITY / fixture)
    ref = AutoTokenizer.from_pretrained(str(PARITY / fixture))
    task = T.load("number_1_10")
    for prefix in ("My number is", ""):
        prompt = task.prompts[0]
        text = ref.apply_chat_template(messages_for(task, prompt, prefix), tokenize=False,
                                       continue_final_message=bool(prefix),
                                       add_generation_prompt=not prefix)
        assert prompt_text(lm, task, prompt, "chat", answer_prefix=prefix) == text
        assert probe_ids(lm, task, prompt, prefix) == \
            lm.tokenizer.encode(text, add_special_tokens=False).ids


@pytest.fixture(scope="module")
def smollm2():
    return load_model("embedded")


def transformers_gguf_tokenizer(path):
    """transformers' own tokenizer for a GGUF file, built torch-free from its converter."""
    import gguf
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.gguf import gguf_tokenizer_mapping as M

    r = gguf.GGUFReader(str(path))
    meta = {k: f.contents() for k, f in r.fields.items() if k.startswith(("tokenizer", "general"))}
    grouped = {g: {n: meta[f"tokenizer.{k}"] for k, n in ren.items() if f"tokenizer.{k}" in meta}
               for g, ren in M.GGUF_TOKENIZER_MAPPING.items()}
    tdict, tconf = grouped["tokenizer"], grouped["tokenizer_config"]
    for name, key in M._SPECIAL_TOKENS.items():
        i = meta.get(f"tokenizer.ggml.{key}")
        tconf[name] = tdict["tokens"][i] if i is not None else None
    fast, _ = M.convert_gguf_tokenizer(meta["general.architecture"], tdict)
    return PreTrainedTokenizerFast(tokenizer_object=fast, **tconf)


def test_smollm2_prompts_equal_transformers(smollm2):
    from phasejax.probe.gguf_loader import embedded_model_path

    ref = transformers_gguf_tokenizer(embedded_model_path())
    for task_name in ("number_1_10", "colour"):
        task = T.load(task_name)
        for prompt in task.prompts[:3]:
            for prefix in (task.answer_prefix, ""):
                msgs = messages_for(task, prompt, prefix)
                want = ref.apply_chat_template(msgs, continue_final_message=bool(prefix),
                                               add_generation_prompt=not prefix)["input_ids"]
                assert probe_ids(smollm2, task, prompt, prefix) == list(want)
    # the default system prompt is there, and the prefill is not closed
    text = prompt_text(smollm2, T.load("number_1_10"), T.load("number_1_10").prompts[0], "chat")
    assert "You are a helpful AI assistant named SmolLM" in text
    assert not text.endswith("<|im_end|>\n")
