"""Language-model probe: real decoders in JAX measured with the toy side's statistics.

* :mod:`~phasejax.probe.tasks` — random tasks as data (a finite or open answer set, many prompts);
* :mod:`~phasejax.probe.decoder` — GPT-2 and the Llama family (Qwen2/3, OLMo-2, Mistral) in Flax
  NNX, each family one spec in :mod:`~phasejax.probe.families`; :mod:`~phasejax.probe.loading`
  loads them from a GGUF file, a Hugging Face folder or a hub id (rule tables in
  :mod:`~phasejax.probe.weights`, readers in :mod:`~phasejax.probe.hf_loader`,
  :mod:`~phasejax.probe.gguf_loader`, :mod:`~phasejax.probe.safetensors_io`; a GGUF file's
  tokenizer rebuilt by :mod:`~phasejax.probe.gguf_tokenizer`);
  :mod:`~phasejax.probe.hf_writer` saves them back;
* :mod:`~phasejax.probe.chat_template` — chat prompts rendered as ``transformers`` renders them;
* :mod:`~phasejax.probe.prompts` — the prompt form, text and token ids, and the options' token
  ids, as the probe asks;
* :mod:`~phasejax.probe.scoring` — exact answer distributions by teacher forcing;
  :mod:`~phasejax.probe.sampling` — jit-compiled generation;
* :mod:`~phasejax.probe.measure` — a model on a task, in the toy side's tidy schema.
"""

import logging as _logging


class _WithoutTorch(_logging.Filter):
    """``transformers`` says on import that PyTorch was not found. Here that is expected: it
    serves configs, tokenizers and chat templates, and the models are our own in JAX."""

    def filter(self, record: _logging.LogRecord) -> bool:
        return "PyTorch was not found" not in record.getMessage()


if not any(isinstance(f, _WithoutTorch) for f in _logging.getLogger("transformers").filters):
    _logging.getLogger("transformers").addFilter(_WithoutTorch())
