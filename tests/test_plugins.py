"""Plugins register through the `harness` entry-point group, exactly as the built-in ones do."""

import os
import subprocess
import sys
import textwrap

from harness.backends.base import Backend
from harness.method import SynthesisContext
from harness.plugins import registry

PLUGIN = textwrap.dedent("""
    from dataclasses import dataclass
    from harness.method import Method, PreferencePair, PreferenceSet
    from harness.plugins import hookimpl

    @dataclass
    class EchoConfig:
        suffix: str = "!"

    class EchoMethod(Method):
        name = "echo"
        description = "test plugin: chosen is the model's answer, rejected the answer with a suffix"
        Config = EchoConfig

        def synthesize(self, backend, images, ctx):
            from harness.backends.base import GenerationRequest
            reqs = [GenerationRequest(ctx.open_image(r), "Describe the image.", max_new_tokens=4) for r in images]
            outs = backend.generate(reqs)
            pairs = [PreferencePair(r.id, "Describe the image.", o, o + self.config.suffix) for r, o in zip(images, outs)]
            return PreferenceSet(pairs, {"images": len(images), "pairs": len(pairs)})

    @hookimpl
    def harness_methods():
        return [EchoMethod]
""")


def _install_plugin(tmp_path):
    (tmp_path / "echo_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "echo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[harness]\necho = echo_plugin\n")


def test_entry_point_plugin_is_listed_by_the_cli(tmp_path):
    _install_plugin(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), COLUMNS="200")
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli", "methods"], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "echo" in out.stdout and "test plugin" in out.stdout


class RecordingBackend(Backend):
    name = "recording"
    description = "answers 'a shape' and records requests"

    def __init__(self):
        self.requests = []

    def generate(self, requests, *, desc="generating"):
        self.requests += list(requests)
        return ["a shape"] * len(requests)


def test_entry_point_plugin_is_usable(tmp_path, monkeypatch):
    _install_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    importlib.invalidate_caches()
    reg = registry()
    assert "echo" in reg.methods
    method = reg.method("echo")()
    from harness.images import SyntheticSource

    src = SyntheticSource("plugin-test", size=4)
    backend = RecordingBackend()
    out = method.synthesize(backend, list(src.refs()), SynthesisContext(0, 1, "tiny", src.open))
    assert [p.rejected for p in out.pairs] == ["a shape!"] * 4
    assert len(backend.requests) == 4


def test_builtin_backends_are_registered_through_the_entry_points_as_any_plugin():
    assert {"hf", "vllm", "vllm_embeds"} <= set(registry().backends)
    assert not registry(entry_points=False).backends  # the registry itself imports no backend
