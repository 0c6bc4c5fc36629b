"""`make secret` (stack.secret.ensure_secret): a new .env gets random database passwords, never
example.env's committed ones, and an existing .env keeps its values (issue 13)."""

from __future__ import annotations

from dotenv import dotenv_values

from stack import config, secret

PASSWORDS = ("POSTGRES_PASSWORD", "PGRST_AUTHENTICATOR_PASS")


def made_env(tmp_path, monkeypatch, name: str) -> dict[str, str]:
    monkeypatch.setattr(config, "ENV_FILE", tmp_path / name)
    secret.ensure_secret()
    return dotenv_values(config.ENV_FILE)


def test_a_new_env_gets_random_database_passwords(tmp_path, monkeypatch):
    example = dotenv_values(config.EXAMPLE_ENV_FILE)
    first, second = made_env(tmp_path, monkeypatch, "one.env"), made_env(tmp_path, monkeypatch, "two.env")
    for name in PASSWORDS:
        assert first[name] != example[name], f"{name} is example.env's"
        assert first[name] != second[name], f"{name} is the same in two new .env files"
        assert len(first[name]) >= 32
        config.check_authenticator_password(first[name])  # safe in a database URL and in SQL
    assert (tmp_path / "one.env").stat().st_mode & 0o077 == 0


def test_an_existing_env_keeps_its_values(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("POSTGRES_PASSWORD=mine\nPGRST_AUTHENTICATOR_PASS=also-mine\n")
    values = made_env(tmp_path, monkeypatch, ".env")
    assert (values["POSTGRES_PASSWORD"], values["PGRST_AUTHENTICATOR_PASS"]) == ("mine", "also-mine")
    before = env_file.read_bytes()
    secret.ensure_secret()
    assert env_file.read_bytes() == before
