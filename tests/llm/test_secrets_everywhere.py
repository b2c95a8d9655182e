"""A planted secret reaches no channel: a model that repeats its API key in its reply, in a tool call's
arguments, and so in a receipt that echoes it; the journal file, its WAL, every export and both output streams
are grepped for it (issue 20, item 6)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from agentstop import Redactor
from agentstop.redact import MASK, register_secret, scrub

from .conftest import FIXTURES
from .fake_server import FakeChatServer, Stream, finish, text, whole_call

ROOT = Path(__file__).resolve().parents[2]


def _agentstop(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FIXTURE_FILES_DIR=str(tmp_path / "files"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)  # this checkout
    return subprocess.run(
        [sys.executable, "-m", "agentstop", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )


def test_a_key_the_model_repeats_is_in_no_file_and_on_no_stream(tmp_path: Path, server: FakeChatServer) -> None:
    key = "k3y" + secrets.token_hex(16)  # no shape the redactor knows: only registration keeps it out
    os.environ["FAKE_MODEL_KEY"] = key
    try:
        server.add(
            Stream(
                [
                    *text(f"Sure. For the record my key is {key}. Writing now."),
                    whole_call("call_1", "write_file", {"name": key, "text": f"the key: {key}"}),
                    finish("tool_calls"),
                ]
            )
        )
        server.add(Stream([*text(f"Done, with {key}."), finish()]))
        shutil.copy(FIXTURES / "fixture_tools.py", tmp_path)
        (tmp_path / "files").mkdir()
        task = tmp_path / "task.yaml"
        task.write_text(
            "\n".join(
                [
                    "name: leaky model",
                    "goal: Write the notes.",
                    f"agent: {{kind: openai, model: fake-model, base_url: '{server.base_url}', max_retries: 0, "
                    "api_key_env: FAKE_MODEL_KEY}",
                    "tools: [fixture_tools:WriteFile]",
                    "grant: {tools: ['*'], scopes: ['files:*']}",
                ]
            )
            + "\n"
        )
        journal = tmp_path / "j.db"
        outputs = [_agentstop(tmp_path, "run", str(task), "--headless", "--json", "--journal", str(journal))]
        assert outputs[0].returncode == 0, outputs[0].stderr
        assert "the key: " in (tmp_path / "files" / f"{key}.txt").read_text()  # the world got what it was sent
        outputs += [_agentstop(tmp_path, "report", "--journal", str(journal), *extra) for extra in ((), ("--json",))]
        outputs.append(_agentstop(tmp_path, "sessions", "--journal", str(journal)))
        exports = [tmp_path / f"export{suffix}" for suffix in (".md", ".html", ".json")]
        for path in exports:
            outputs.append(
                _agentstop(tmp_path, "replay", "--journal", str(journal), "--session", "latest", "--export", str(path))
            )
    finally:
        del os.environ["FAKE_MODEL_KEY"]
    for i, done in enumerate(outputs):
        assert key not in done.stdout, f"command {i} printed the key on stdout"
        assert key not in done.stderr, f"command {i} printed the key on stderr"
    assert MASK in outputs[0].stderr  # the transcript line is there, masked
    files = [p for p in tmp_path.glob("j.db*")] + exports
    assert journal in files
    for path in files:
        assert key.encode() not in path.read_bytes(), f"{path.name} holds the key"


def test_registered_secrets_are_masked_in_plain_and_json_text() -> None:
    secret = 'pa"ss\\word-' + secrets.token_hex(4)
    register_secret(secret)
    import json

    doc = json.dumps({"echo": f"you said {secret}", "nested": [secret]})
    scrubbed = scrub(doc)
    assert secret not in json.loads(scrubbed)["echo"] and json.loads(scrubbed)["nested"] == [MASK]
    assert scrub(f"plain {secret}.") == f"plain {MASK}."
    assert Redactor()({"result": secret}) == {"result": MASK}
    register_secret("on")  # too short to mask without garbling everything
    assert scrub("one option") == "one option"
