"""`make secret` picks ports no other copy of the course uses, so copies run side by side (README, workshops)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from stack import config, ports, secret
from stack.services import processes


def defaults() -> dict[str, int]:
    """Free ports, standing in for example.env's (which this machine's own stack may hold)."""
    return dict(zip(ports.SETTINGS, processes.free_ports(len(ports.SETTINGS)), strict=True))


def test_free_defaults_are_kept(tmp_path):
    wanted = defaults()
    chosen = ports.choose(wanted, tmp_path / ".env", claims_file=tmp_path / "claims.json")
    assert chosen == wanted


def test_a_port_someone_listens_on_is_skipped(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        chosen = ports.choose({"CADDY_HTTP_PORT": busy}, tmp_path / ".env", claims_file=tmp_path / "claims.json")
    assert chosen["CADDY_HTTP_PORT"] != busy and processes.port_is_free(chosen["CADDY_HTTP_PORT"])


def test_a_port_another_copy_claimed_is_skipped_until_its_env_is_gone(tmp_path):
    claims = tmp_path / "claims.json"
    wanted = {"CADDY_HTTP_PORT": defaults()["CADDY_HTTP_PORT"]}
    other_env = tmp_path / "other" / ".env"
    other_env.parent.mkdir()
    other_env.write_text("")
    first = ports.choose(wanted, other_env, claims_file=claims)
    second = ports.choose(wanted, tmp_path / ".env", claims_file=claims)
    assert first == wanted and second != first  # nobody listens yet, but the port is the other copy's

    other_env.unlink()  # that copy is gone: its ports are free to take again
    assert ports.choose(wanted, tmp_path / "third.env", claims_file=claims) == wanted


def test_copies_choosing_at_the_same_moment_get_distinct_ports(tmp_path):
    claims, wanted = tmp_path / "claims.json", defaults()
    program = (
        "import json, sys; from pathlib import Path; from stack import ports; "
        "print(json.dumps(ports.choose(json.loads(sys.argv[1]), Path(sys.argv[2]), claims_file=Path(sys.argv[3]))))"
    )
    for n in range(4):
        (tmp_path / f"{n}.env").write_text("")  # as `make secret` does: .env first, then its ports
    copies = [
        subprocess.Popen(
            [sys.executable, "-c", program, json.dumps(wanted), str(tmp_path / f"{n}.env"), str(claims)],
            cwd=config.ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    chosen = [json.loads(copy.communicate(timeout=60)[0]) for copy in copies]
    every_port = [port for choice in chosen for port in choice.values()]
    assert len(set(every_port)) == len(every_port) == 4 * len(ports.SETTINGS), chosen


def test_make_secret_writes_the_chosen_ports_into_a_new_env(tmp_path, monkeypatch, capsys):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        example = tmp_path / "example.env"
        example.write_text(
            config.EXAMPLE_ENV_FILE.read_text().replace("CADDY_HTTP_PORT=8000", f"CADDY_HTTP_PORT={busy}")
        )
        monkeypatch.setattr(config, "EXAMPLE_ENV_FILE", example)
        monkeypatch.setattr(config, "ENV_FILE", tmp_path / ".env")
        monkeypatch.setattr(ports, "CLAIMS_FILE", tmp_path / "claims.json")
        secret.ensure_secret()
    written = config.ports(config.read_env_file())
    assert written.gateway != busy and written.gateway_host == "127.0.0.1"
    assert f"gateway localhost:{written.gateway}," in capsys.readouterr().out
