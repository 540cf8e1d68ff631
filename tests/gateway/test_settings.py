"""Configuration: the example file is the defaults, documents every key, env overrides, and errors name the key."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from gateway.settings import ConfigError, ImapAccountSettings, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _keys(ann, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def test_example_file_equals_builtin_defaults() -> None:
    assert load_settings(EXAMPLE, environ={}) == Settings()


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    data = tomllib.loads(text)
    for dotted in _keys(Settings):
        if dotted == "imap":
            continue
        node = data
        for part in dotted.split("."):
            assert part in node, f"config.example.toml does not document {dotted}"
            node = node[part]
    for key in _keys(ImapAccountSettings):  # [[imap]] is shown commented out, as there is no default mailbox
        assert re.search(rf"^# {key} = ", text, re.MULTILINE), f"[[imap]] {key} is not documented"


def test_environment_overrides_nested_keys() -> None:
    s = load_settings(
        EXAMPLE,
        environ={
            "INBOX311__OUTBOUND__EMAIL__RELAY_PORT": "2526",
            "INBOX311__SMTP__DOMAINS": '["a.example", "B.example"]',
            "INBOX311__TRACKING__PREFIX": "req",
        },
    )
    assert s.outbound.email.relay_port == 2526
    assert s.smtp.domains == ("a.example", "b.example")
    assert s.tracking.prefix == "REQ"


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ("[smtp]\nport = 'many'\n", {}, "config key smtp.port:"),
        ("[smtp]\nprot = 25\n", {}, "config key smtp.prot: unknown key"),
        ("", {"INBOX311__HTTP__PUBLIC_BASE_URL": "ftp://x"}, "config key http.public_base_url:"),
        ("[database\n", {}, "config file"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, content: str, env: dict[str, str], message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=env)
    assert str(err.value).startswith(message)


def test_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[smtp]\nport = -1\n")
    for argv in (["tickets", "list", "--config", str(path)], ["--config", str(path), "tickets", "list"]):
        out = subprocess.run([sys.executable, "-m", "gateway", *argv], capture_output=True, text=True)
        assert out.returncode == 2
        assert out.stderr.strip().count("\n") == 0 and "smtp.port" in out.stderr
