"""Contract: JWT (Authorization: Bearer only, HMAC, 30 s leeway, PGRST301/302/303, WWW-Authenticate)."""

import base64
import json
import time

import jwt
import pytest

from stack.conformance import AUDIENCE, SECRET


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


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_valid_token_sets_role_hs(s, alg):
    """HMAC tokens with the secret; the role comes from .role."""
    r = s.post("/rpc/whoami", headers=bearer({"role": "pgrst_conf_user"}, algorithm=alg))
    assert r.status_code == 200
    assert r.json()["role"] == "pgrst_conf_user"


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


def test_wrong_signature_pgrst301(s):
    """Bad signature: 401 PGRST301 'JWT cryptographic operation failed'."""
    r = s.get("/items", headers=bearer({"role": "pgrst_conf_user"}, secret="x" * 40))
    assert_invalid_token(r, "PGRST301", "JWT cryptographic operation failed")


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
