"""JupyterHub for a room on one Linux server (workshop/README.md): each learner is a Unix user with their
own copy of the course and their own stack; `make hub` runs it as root from the teacher's checkout.

Settings come from the environment, so the test and a real room run this very file:
  WORKSHOP_URL          where the hub listens (default http://127.0.0.1:8000: put TLS in front, see README)
  WORKSHOP_SHARED       the folder `make workshop` filled (wheels, Caddy build, start script)
  WORKSHOP_LEARNERS     a file with one learner's Unix name per line: who may log in
  WORKSHOP_TEACHERS     Unix names of the hub's admins, comma-separated
  WORKSHOP_IDLE_MINUTES the idle culler's limit (default 60)
  WORKSHOP_SHARED_VENV  1 (default): every learner runs the shared venv that make workshop built;
                        0: each learner's own venv, installed from the shared wheels on first spawn
  WORKSHOP_KERNEL_IDLE_MINUTES  a learner's kernel idle this long is shut down by their own server,
                        tab open or not (default 20; 0 keeps every kernel until the server stops)
  WORKSHOP_API_TOKEN    optional: a token for the `workshop-admin` service (scripts, the test)
  WORKSHOP_HUB_PORT, WORKSHOP_PROXY_API_PORT: the hub's and the proxy's internal ports (loopback)
"""

import os
import sys
from pathlib import Path

from stack import config
from stack.workshop import hub

c = get_config()  # noqa: F821 (JupyterHub provides it)
environ = os.environ
shared = Path(environ.get("WORKSHOP_SHARED", "/srv/superstack-jwt"))
state = Path(environ.get("WORKSHOP_HUB_STATE", config.ROOT / ".state" / "hub"))
state.mkdir(parents=True, exist_ok=True, mode=0o700)

# Where it listens: loopback unless told; the hub's and the proxy's own ports never leave it.
c.JupyterHub.bind_url = environ.get("WORKSHOP_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{environ.get('WORKSHOP_HUB_PORT', '8081')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{environ.get('WORKSHOP_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.command = [str(hub.PROXY)]
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
if environ.get("WORKSHOP_SSL_CERT"):
    c.JupyterHub.ssl_cert = environ["WORKSHOP_SSL_CERT"]
    c.JupyterHub.ssl_key = environ["WORKSHOP_SSL_KEY"]

# Learners log in with their Unix account's password (PAM). The hub creates the Unix account of a
# learner an admin adds (admin page or API) who has none yet; give it a password with `passwd`.
c.JupyterHub.authenticator_class = "pam"
c.LocalAuthenticator.create_system_users = True
c.LocalAuthenticator.add_user_cmd = ["useradd", "--create-home", "--shell", "/bin/bash"]
if environ.get("WORKSHOP_LEARNERS"):
    c.Authenticator.allowed_users = set(Path(environ["WORKSHOP_LEARNERS"]).read_text().split())
c.Authenticator.admin_users = {name for name in environ.get("WORKSHOP_TEACHERS", "").split(",") if name}

# Each learner's server: their stack first (own .env, secret, database, free ports), then JupyterLab
# on the course. Set-up from the shared wheels takes seconds; the first spawn on a busy server longer.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(shared / "start-learner")]
c.Spawner.notebook_dir = f"~/{hub.COURSE}/notebooks"
c.Spawner.default_url = "/lab/tree/00-overview.ipynb"
c.Spawner.env_keep = ["LANG", "LC_ALL"]  # not the hub's PATH, PYTHONPATH or VIRTUAL_ENV
c.Spawner.environment = {
    "WORKSHOP_SHARED": str(shared),
    "LEARNER_PYTHON": environ.get("LEARNER_PYTHON", "/usr/bin/python3"),
    "WORKSHOP_SHARED_VENV": environ.get("WORKSHOP_SHARED_VENV", "1"),
    # Not the hub's PATH: root's may list folders a learner cannot read.
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}
# The spawn request returns at once; the learner's browser shows the hub's progress page meanwhile.
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
c.Spawner.start_timeout = 600
c.Spawner.http_timeout = 300
c.Spawner.pre_spawn_hook = hub.pre_spawn_hook
c.Spawner.post_stop_hook = hub.post_stop_hook

# Each chapter a learner opens starts a kernel (about 60-80 MiB) that stays when they move on: their own
# server shuts down a kernel idle for WORKSHOP_KERNEL_IDLE_MINUTES, even with its tab still open (the
# chapter's next run starts a new one). bench/room.py measures what this saves.
kernel_idle_seconds = int(float(environ.get("WORKSHOP_KERNEL_IDLE_MINUTES", "20")) * 60)
if kernel_idle_seconds:
    c.Spawner.args = [
        f"--MappingKernelManager.cull_idle_timeout={kernel_idle_seconds}",
        f"--MappingKernelManager.cull_interval={max(5, min(300, kernel_idle_seconds // 4))}",
        "--MappingKernelManager.cull_connected=True",
    ]

# Idle servers are stopped (and with them, by the post-stop hook, their stacks).
idle_seconds = int(float(environ.get("WORKSHOP_IDLE_MINUTES", "60")) * 60)
services = [
    {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={idle_seconds}",
                    f"--cull-every={max(10, min(300, idle_seconds // 4))}"],
    }
]  # fmt: skip
roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
if environ.get("WORKSHOP_API_TOKEN"):
    services.append({"name": "workshop-admin", "api_token": environ["WORKSHOP_API_TOKEN"]})
    roles.append(
        {
            "name": "workshop-admin",
            "scopes": ["admin:users", "admin:servers", "access:servers", "list:users"],
            "services": ["workshop-admin"],
        }
    )
c.JupyterHub.services = services
c.JupyterHub.load_roles = roles
