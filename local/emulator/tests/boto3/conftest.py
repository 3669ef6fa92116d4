"""Fixtures of the boto3 suite: license-manager-local started as a binary, clients per account.

The binary comes from LICENSE_MANAGER_LOCAL_BIN (default: target/debug/license-manager-local
of this workspace). A missing binary fails the suite with the command that builds it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from helpers import CUSTOMER, ISV, REGION

REPO = Path(__file__).resolve().parents[4]
STARTUP_TIMEOUT_S = 30


def emulator_binary() -> Path:
    path = Path(os.environ.get("LICENSE_MANAGER_LOCAL_BIN", REPO / "target/debug/license-manager-local"))
    if not path.is_file():
        pytest.fail(
            f"license-manager-local binary not found at {path}: build it with "
            "`cargo build -p license-manager-local` (or set LICENSE_MANAGER_LOCAL_BIN)",
            pytrace=False,
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Emulator:
    """One license-manager-local process on a free loopback port."""

    def __init__(self, workdir: Path, state_file: Path, extra_args: list[str]):
        self.workdir = workdir
        self.state_file = state_file
        self.public_key = workdir / "borrow-public-key.pem"
        self.port = free_port()
        self.log = workdir / f"emulator-{self.port}.log"
        self.args = [
            str(emulator_binary()),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--state-file", str(state_file),
            "--public-key-out", str(self.public_key),
            *extra_args,
        ]
        self.process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Emulator":
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"license-manager-local exited with {self.process.returncode}: {self.output()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"license-manager-local did not listen within {STARTUP_TIMEOUT_S}s: {self.output()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def client(self, account: str, max_attempts: int = 1, service: str = "license-manager"):
        """A boto3 client of `service` (license-manager, kms or sts) acting as `account`
        (the access key id is the account id)."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=account,
            aws_secret_access_key="local-secret",
            # One attempt: a fault or a 5xx must show, not be retried away.
            config=Config(retries={"mode": "standard", "max_attempts": max_attempts}),
        )


@pytest.fixture
def start_emulator(tmp_path):
    """Starts emulators (each with its own args); all are stopped after the test."""
    started: list[Emulator] = []

    def start(*extra_args: str, state_file: Path | None = None) -> Emulator:
        emulator = Emulator(tmp_path, state_file or tmp_path / "state.json", list(extra_args))
        started.append(emulator)
        return emulator.start()

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(start_emulator) -> Emulator:
    return start_emulator()


@pytest.fixture
def isv(emulator):
    """License Manager as the ISV (issuer "Acme")."""
    return emulator.client(ISV)


@pytest.fixture
def customer(emulator):
    """License Manager as the customer (the emulator's default account)."""
    return emulator.client(CUSTOMER)
