"""A room on one server: JupyterHub gives each learner their own copy of the course and their own
stack (workshop/jupyterhub_config.py, workshop/README.md). `hub` holds the hub's hooks, `room` runs a
real hub for the test and the capacity benchmark."""
