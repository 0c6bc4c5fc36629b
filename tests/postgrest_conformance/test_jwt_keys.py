"""Contract: jwt-secret as a JWK set with `kid` (what a key rotation needs), and jwt-aud's pitfall.

Sources, PostgREST v16.2: src/library/PostgREST/Config.hs `parseSecret` (a JWK set, else a JWK, else
the text as one HS256 key), docs/references/auth.rst "kid verification" (a header's kid selects the
key; no key with that kid: 401; no kid: each key is tried in turn) and "aud validation", and
test/spec/Feature/Auth/AudienceJwtSecretSpec.hs ("when the audience claim is not present": 200).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time

import jwt
import pytest
import requests

from stack.harness.conformance import launch, server_env, stop
from stack.services.processes import free_port

OLD, NEW = b"o" * 32, b"n" * 32  # two HS256 keys, as during a rotation
pytestmark = pytest.mark.skipif(
    os.environ.get("POSTGREST_URL") and not os.environ.get("POSTGREST_BIN"),
    reason="POSTGREST_URL given without POSTGREST_BIN: cannot launch a process",
)


def jwk(key: bytes, kid: str | None) -> dict:
    found = {"kty": "oct", "alg": "HS256", "k": base64.urlsafe_b64encode(key).rstrip(b"=").decode()}
    return {**found, "kid": kid} if kid else found


@contextlib.contextmanager
def run(env: dict[str, str]):
    """A server with these PGRST_* settings on top of the suite's, answering; stopped however the test ends."""
    env = {**server_env(free_port()), **env}
    process = launch(env)
    try:
        base = f"http://127.0.0.1:{env['PGRST_SERVER_PORT']}"
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, f"server exited: {process.communicate()}"
            try:
                requests.get(base + "/", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "server did not answer within 15 s"
                time.sleep(0.1)
        yield base
    finally:
        stop(process)


def whoami(base: str, key: bytes, kid: str | None = None) -> requests.Response:
    headers = {"kid": kid} if kid else None
    token = jwt.encode({"role": "pgrst_conf_user"}, key, algorithm="HS256", headers=headers)
    return requests.post(base + "/rpc/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=5)


@pytest.fixture(scope="module")
def two_keys(database):
    with run({"PGRST_JWT_SECRET": json.dumps({"keys": [jwk(OLD, "old"), jwk(NEW, "new")]})}) as base:
        yield base


def test_kid_selects_its_key(two_keys):
    assert whoami(two_keys, OLD, "old").json()["role"] == "pgrst_conf_user"
    assert whoami(two_keys, NEW, "new").json()["role"] == "pgrst_conf_user"


def test_kid_with_another_keys_signature_is_refused(two_keys):
    response = whoami(two_keys, OLD, "new")
    assert response.status_code == 401 and response.json()["code"] == "PGRST301"
    assert response.json()["details"] == "None of the keys was able to decode the JWT"


def test_unknown_kid_finds_no_key(two_keys):
    response = whoami(two_keys, NEW, "gone")
    assert response.status_code == 401 and response.json()["code"] == "PGRST301"
    assert response.json()["message"] == "No suitable key or wrong key type"
    assert response.json()["details"] == "No suitable key was found to decode the JWT"


def test_without_kid_each_key_is_tried(two_keys):
    assert whoami(two_keys, OLD).status_code == 200
    assert whoami(two_keys, NEW).status_code == 200
    other = whoami(two_keys, b"x" * 32)
    assert other.status_code == 401 and other.json()["details"] == "None of the keys was able to decode the JWT"


def test_a_single_jwk_is_one_key(database):
    with run({"PGRST_JWT_SECRET": json.dumps(jwk(NEW, None))}) as base:
        assert whoami(base, NEW).status_code == 200
        assert whoami(base, OLD).status_code == 401


def test_the_set_read_after_base64(database):
    """jwt-secret-is-base64 decodes first, then the bytes are parsed (decodeSecret, then decodeJWKS)."""
    secret = base64.b64encode(json.dumps({"keys": [jwk(NEW, "new")]}).encode()).decode()
    with run({"PGRST_JWT_SECRET": secret, "PGRST_JWT_SECRET_IS_BASE64": "true"}) as base:
        assert whoami(base, NEW, "new").status_code == 200


def test_no_aud_passes_jwt_aud(s):
    """AudienceJwtSecretSpec.hs, "when the audience claim is not present": jwt-aud is set (the suite's
    server has one) and a token without aud, or with aud [], is accepted."""
    for claims in ({"role": "pgrst_conf_user"}, {"role": "pgrst_conf_user", "aud": []}):
        token = jwt.encode(claims, server_env(0)["PGRST_JWT_SECRET"], algorithm="HS256")
        assert s.post("/rpc/whoami", headers={"Authorization": f"Bearer {token}"}).json()["role"] == "pgrst_conf_user"
