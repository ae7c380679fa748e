import os
import glob
import shutil
import socket
import subprocess
import tempfile
import uuid

import pytest

import tests.toy_env  # noqa: F401  registers toy/corridor for harness tests

# A PostgreSQL server for the store and sweep tests: an already-running one named by this variable
# (an SQLAlchemy URL to a database the tests may create databases from), else one the session starts
# itself from Debian's binaries (apt-get install postgresql) in a temp dir on a free port.
POSTGRES_ENV = "HARNESS_TEST_POSTGRES_URL"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_postgres():
    """(url, stop) of a throw-away server; pytest.skip with the reason when it cannot start."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        pytest.skip(f"no PostgreSQL server: install Debian's postgresql package (apt-get install "
                    f"postgresql) or set {POSTGRES_ENV}")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("the PostgreSQL driver is not installed: pip install '.[postgres]'")
    bindir = os.path.dirname(binaries[-1])
    root = tempfile.mkdtemp(prefix="harness-pg-")
    prefix = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        shutil.chown(root, "postgres")
        os.chmod(root, 0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(root, "data"), _free_port()
    run = lambda *args: subprocess.run([*prefix, *args], capture_output=True, text=True,  # noqa: E731
                                       timeout=120, check=False)
    init = run(f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
               "--no-sync")
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
    options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    start = run(f"{bindir}/pg_ctl", "-D", data, "-o", options, "-l", os.path.join(root, "log"),
                "-w", "-t", "60", "start")
    if start.returncode != 0:
        log = open(os.path.join(root, "log")).read()[-500:] if os.path.exists(
            os.path.join(root, "log")) else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"pg_ctl start failed: {start.stderr.strip()[-300:]} {log}")

    def stop():
        run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)

    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", stop


@pytest.fixture(scope="session")
def postgres_server():
    """An SQLAlchemy URL of a PostgreSQL server's maintenance database."""
    if os.environ.get(POSTGRES_ENV):
        yield os.environ[POSTGRES_ENV]
        return
    url, stop = _start_postgres()
    try:
        yield url
    finally:
        stop()


def new_postgres_database(server_url: str) -> str:
    """A fresh empty database on the server; its SQLAlchemy URL."""
    import psycopg
    import sqlalchemy as sa

    url = sa.engine.make_url(server_url)
    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database: an SQLite file, then a database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return new_postgres_database(request.getfixturevalue("postgres_server"))
