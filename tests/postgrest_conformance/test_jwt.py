"""Contract: JWT (Authorization: Bearer only, HMAC, 30 s leeway, PGRST301/302/303, WWW-Authenticate)."""

import base64
import json
import os
import time

import jwt
import pytest
import requests

from stack.harness.conformance import AUDIENCE, SECRET, launch, server_env, stop
from stack.services.processes import free_port


def token(claims, secret=SECRET, algorithm="HS256"):
    return jwt.encode(claims, secret, algorithm=algorithm)


def bearer(claims, **kw):
    return {"Authorization": f"Bearer {token(claims, **kw)}"}


def assert_invalid_token(r, code, message):
    assert r.status_code == 401
    assert r.json()["code"] == code
    assert r.json()["message"] == message
    assert r.headers["WWW-Authenticate"] == f'Bearer error="invalid_token", error_description="{message}"'


def test_no_authorization_header_is_anonymous(s):
    """No header: the anonymous role."""
    assert s.post("/rpc/whoami").json()["role"] == "pgrst_conf_anon"


def test_valid_token_sets_role_hs256(s):
    """An HS256 token signed with the secret; the role comes from .role."""
    r = s.post("/rpc/whoami", headers=bearer({"role": "pgrst_conf_user"}))
    assert r.status_code == 200
    assert r.json()["role"] == "pgrst_conf_user"


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_plain_secret_is_hs256_only(s, alg):
    """v14.1 src/PostgREST/Config.hs parseSecret: a plain secret is one JWK marked HS256, so an HS384 or
    HS512 token, even signed with the right secret, finds no key (jose's findKeys)."""
    r = s.post("/rpc/whoami", headers=bearer({"role": "pgrst_conf_user"}, algorithm=alg))
    assert_invalid_token(r, "PGRST301", "No suitable key or wrong key type")
    assert r.json()["details"] == "No suitable key was found to decode the JWT"


def test_scheme_is_case_insensitive(s):
    """`bearer` scheme accepted in any case."""
    r = s.post("/rpc/whoami", headers={"Authorization": "bEaReR " + token({"role": "pgrst_conf_user"})})
    assert r.json()["role"] == "pgrst_conf_user"


def test_cookie_is_never_read(s):
    """The access_token cookie is not a credential for PostgREST."""
    r = s.post("/rpc/whoami", cookies={"access_token": token({"role": "pgrst_conf_user"})})
    assert r.json()["role"] == "pgrst_conf_anon"


def test_claims_without_role_use_anon(s):
    """Missing role claim: anonymous role, and claims carry role."""
    body = s.post("/rpc/whoami", headers=bearer({"sub": "x"})).json()
    assert body["role"] == "pgrst_conf_anon"
    assert body["claims"] == {"sub": "x", "role": "pgrst_conf_anon"}


def test_wrong_key_pgrst301(s):
    """v14.1 test/io/test_io.py test_jwt_errors: signed with another secret, 401 "No suitable key or
    wrong key type", details "None of the keys was able to decode the JWT"."""
    r = s.get("/items", headers=bearer({"role": "pgrst_conf_user"}, secret="x" * 40))
    assert_invalid_token(r, "PGRST301", "No suitable key or wrong key type")
    assert r.json()["details"] == "None of the keys was able to decode the JWT"
    assert r.json()["hint"] is None


def test_tampered_payload_pgrst301(s):
    """Same source (jose's decode, via Auth/Jwt.hs): a payload changed after signing fails the one
    key's check, the same answer as a wrong key."""
    header, _, signature = token({"role": "pgrst_conf_anon"}).split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"role": "pgrst_conf_user"}).encode()).rstrip(b"=").decode()
    r = s.get("/items", headers={"Authorization": f"Bearer {header}.{forged}.{signature}"})
    assert_invalid_token(r, "PGRST301", "No suitable key or wrong key type")
    assert r.json()["details"] == "None of the keys was able to decode the JWT"


def test_random_characters_pgrst301(s):
    """v14.1 test_io.py test_jwt_errors, "complete token but random characters": the header does not
    decode, "JWT cryptographic operation failed", no details."""
    r = s.get("/items", headers={"Authorization": "Bearer quifquirndsjagnrgniur.fonvoienqhhdj.iuqvnvhojah"})
    assert_invalid_token(r, "PGRST301", "JWT cryptographic operation failed")
    assert r.json()["details"] is None


def test_two_parts_pgrst301(s):
    """Malformed token: 'Expected 3 parts in JWT; got 2'."""
    assert_invalid_token(
        s.get("/items", headers={"Authorization": "Bearer a.b"}), "PGRST301", "Expected 3 parts in JWT; got 2"
    )


def test_empty_bearer_pgrst301(s):
    """Empty bearer: 'Empty JWT is sent in Authorization header'."""
    assert_invalid_token(
        s.get("/items", headers={"Authorization": "Bearer "}), "PGRST301", "Empty JWT is sent in Authorization header"
    )


def test_alg_none_refused(s):
    """alg none is refused (PGRST301)."""

    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    unsigned = f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'role': 'pgrst_conf_user'})}."
    r = s.get("/items", headers={"Authorization": f"Bearer {unsigned}"})
    assert_invalid_token(r, "PGRST301", "Wrong or unsupported encoding algorithm")
    assert r.json()["details"] == "JWT is unsecured but expected 'alg' was not 'none'"  # test_io.py test_jwt_errors


def test_expired_beyond_leeway_pgrst303(s):
    """exp 35 s in the past: 401 PGRST303 'JWT expired'."""
    r = s.get("/items", headers=bearer({"role": "pgrst_conf_user", "exp": int(time.time()) - 35}))
    assert_invalid_token(r, "PGRST303", "JWT expired")


def test_expired_within_leeway_accepted(s):
    """exp 25 s in the past: accepted (30 s leeway)."""
    r = s.get("/items", headers=bearer({"role": "pgrst_conf_user", "exp": int(time.time()) - 25}))
    assert r.status_code == 200


def test_nbf_beyond_leeway_pgrst303(s):
    """nbf 35 s ahead: 'JWT not yet valid'."""
    r = s.get("/items", headers=bearer({"role": "pgrst_conf_user", "nbf": int(time.time()) + 35}))
    assert_invalid_token(r, "PGRST303", "JWT not yet valid")


def test_nbf_within_leeway_accepted(s):
    """nbf 25 s ahead: accepted."""
    assert s.get("/items", headers=bearer({"role": "pgrst_conf_user", "nbf": int(time.time()) + 25})).status_code == 200


def test_iat_beyond_leeway_pgrst303(s):
    """iat 35 s ahead: 'JWT issued at future'."""
    r = s.get("/items", headers=bearer({"role": "pgrst_conf_user", "iat": int(time.time()) + 35}))
    assert_invalid_token(r, "PGRST303", "JWT issued at future")


def test_iat_within_leeway_accepted(s):
    """iat 25 s ahead: accepted."""
    assert s.get("/items", headers=bearer({"role": "pgrst_conf_user", "iat": int(time.time()) + 25})).status_code == 200


def test_wrong_audience_pgrst303(s):
    """aud checked when jwt-aud is set: 'JWT not in audience'."""
    r = s.get("/items", headers=bearer({"role": "pgrst_conf_user", "aud": "somebody-else"}))
    assert_invalid_token(r, "PGRST303", "JWT not in audience")


def test_right_audience_accepted(s):
    """aud equal to jwt-aud (string or in an array) is accepted."""
    assert s.get("/items", headers=bearer({"role": "pgrst_conf_user", "aud": AUDIENCE})).status_code == 200
    assert s.get("/items", headers=bearer({"role": "pgrst_conf_user", "aud": ["x", AUDIENCE]})).status_code == 200


def test_unknown_role_is_401_22023(s):
    """A role that does not exist: 22023 mapped to 401 (13.0.1+)."""
    r = s.get("/items", headers=bearer({"role": "no_such_role_xyz"}))
    assert r.status_code == 401
    assert r.json()["code"] == "22023"
    assert r.json()["message"] == 'role "no_such_role_xyz" does not exist'


def test_role_not_granted_is_403_42501(s):
    """A role the authenticator is not a member of: 42501 permission denied to set role, 403."""
    r = s.get("/items", headers=bearer({"role": "pgrst_conf_outsider"}))
    assert r.status_code == 403
    assert r.json()["code"] == "42501"
    assert r.json()["message"] == 'permission denied to set role "pgrst_conf_outsider"'


def test_claims_reach_sql_with_effective_role(s):
    """request.jwt.claims is the payload with role set to the effective role."""
    body = s.post("/rpc/whoami", headers=bearer({"role": "pgrst_conf_user", "sub": "ann"})).json()
    assert body["claims"] == {"role": "pgrst_conf_user", "sub": "ann"}


@pytest.mark.skipif(
    os.environ.get("POSTGREST_URL") and not os.environ.get("POSTGREST_BIN"),
    reason="POSTGREST_URL given without POSTGREST_BIN: cannot launch a process",
)
@pytest.mark.parametrize(
    "key",
    [
        '.realm_access.roles[?(@ == "pgrst_conf_user")]',
        '.realm_access.roles[?(@ != "other")]',
        '.realm_access.roles[?(@ ^== "pgrst_conf_u")]',
        '.realm_access.roles[?(@ ==^ "conf_user")]',
        '.realm_access.roles[?(@ *== "_user")]',
    ],
)
def test_role_claim_key_filter(database, key):
    """v14.1 test/io/test_io.py test_role_claim_key with fixtures.yaml's roleclaims (PR 3813): a filter
    at the end of jwt-role-claim-key picks the first matching string; the server starts with it."""
    env = {**server_env(free_port()), "PGRST_JWT_ROLE_CLAIM_KEY": key}
    process = launch(env)
    try:
        url = f"http://127.0.0.1:{env['PGRST_SERVER_PORT']}/rpc/whoami"
        headers = bearer({"realm_access": {"roles": ["other", "pgrst_conf_user"]}})
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, f"server exited: {process.communicate()}"
            try:
                response = requests.get(url, headers=headers, timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "server did not answer within 15 s"
                time.sleep(0.1)
        assert response.status_code == 200, response.text
        assert response.json()["role"] == "pgrst_conf_user"
        nobody = requests.get(url, headers=bearer({"realm_access": {"roles": ["other"]}}), timeout=2)
        assert nobody.json()["role"] == "pgrst_conf_anon"  # no string matches: the anonymous role
    finally:
        stop(process)
