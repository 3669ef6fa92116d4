#!/usr/bin/env python3
"""Proves the deploy path without AWS: sam build, sam package, and checks of what it packaged.

Usage: scripts/deploy-check.py [--arch x86_64] [--arch arm64]

For each architecture (default: x86_64 and arm64):
  1. one `cargo lambda build --release` of every function's binary (the template's
     BuildProperties.Binary), so that the `sam build` after it finds them compiled: each of
     SAM's per-function cargo-lambda builds is then a no-op plus a copy, instead of four
     release builds contending for one target directory;
  2. `sam build --parameter-overrides Architecture=<arch>` into .aws-sam/deploy-check/<arch>;
  3. `sam package` into an S3 bucket on moto's server (started here on a free loopback port);
  4. checks of the packaged template: every function's CodeUri is an object in that bucket,
     the zip holds an executable `bootstrap`, an ELF of the architecture's machine, and the
     template as SAM transforms it (scripts/sam-translate.py, offline) lints clean with the
     newest cfn-lint.
Then it prints the time of each step and the size of every zip and bootstrap.

Tools: cargo-lambda and zig (PyPI's ziglang) from .venv, sam from .venv-sam, moto from .venv,
aws-sam-translator from .venv-checkov (scripts/venv.sh installs them all). Every AWS call goes
to moto with dummy credentials: nothing can reach a real account.

An architecture whose Rust standard library is not installed (`rustup target add
aarch64-unknown-linux-gnu`) is reported and skipped, unless it was asked for with --arch:
then it fails. Exit status: 0 when every check passed, 1 when one failed, 2 on setup problems.
"""

import argparse
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".aws-sam" / "deploy-check"
REGION = "us-east-1"
BUCKET = "deploy-check-artifacts"

# The Rust target and the ELF e_machine of each Lambda architecture.
ARCHITECTURES = {
    "x86_64": {"target": "x86_64-unknown-linux-gnu", "machine": 0x3E, "flags": []},
    "arm64": {"target": "aarch64-unknown-linux-gnu", "machine": 0xB7, "flags": ["--arm64"]},
}


class CheckFailed(Exception):
    """A check of what `sam build` / `sam package` produced failed."""


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML, keeping a short form (!Ref ...) as its long form."""


def _intrinsic(loader, suffix, node):
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path):
    with open(path, encoding="utf-8") as file:
        return yaml.load(file, Loader=CloudFormationLoader)  # noqa: S506 (a SafeLoader)


def functions(template):
    """The template's functions: logical id -> resource."""
    return {
        logical_id: resource
        for logical_id, resource in (template.get("Resources") or {}).items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def binaries(template):
    """Every function's cargo binary (Metadata.BuildProperties.Binary), in template order."""
    names = []
    for logical_id, resource in functions(template).items():
        binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        if not binary:
            raise CheckFailed(f"{logical_id}: no Metadata.BuildProperties.Binary to build")
        names.append(binary)
    return names


def offline_env(endpoint):
    """The environment of every sam and boto3 call: dummy credentials, moto as the endpoint."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
    }
    env.update(
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="deploy-check",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_ENDPOINT_URL=endpoint,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        SAM_CLI_TELEMETRY="0",
        # cargo-lambda and zig from .venv first (sam finds cargo-lambda on the PATH).
        PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        # Everything builds into the workspace's target directory, whatever sam's scratch dirs.
        CARGO_TARGET_DIR=str(ROOT / "target"),
    )
    return env


def run(step, command, env, timings):
    """Runs COMMAND from the repository root, timing it as STEP; fails on a non-zero exit."""
    print(f"\n=== {step}\n+ {' '.join(str(part) for part in command)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    timings.append((step, time.monotonic() - started))
    if result.returncode != 0:
        raise CheckFailed(f"{step}: exited {result.returncode}")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_moto():
    """moto's server on a free loopback port; returns (process, endpoint)."""
    port = free_port()
    server = ROOT / ".venv" / "bin" / "moto_server"
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"deploy-check: moto's server ({server}) did not start on port {port}")


def std_installed(target):
    """Whether the Rust standard library for TARGET is installed in the active toolchain."""
    sysroot = subprocess.run(
        ["rustc", "--print", "sysroot"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return bool(sysroot) and (Path(sysroot) / "lib" / "rustlib" / target / "lib").is_dir()


def s3_location(code_uri):
    if not isinstance(code_uri, str) or not code_uri.startswith("s3://"):
        return None
    bucket, _, key = code_uri[len("s3://") :].partition("/")
    return (bucket, key) if bucket and key else None


def elf_machine(data):
    """The e_machine of a 64-bit little-endian ELF file, or None when DATA is not one."""
    if len(data) < 20 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    return int.from_bytes(data[18:20], "little")


def check_package(packaged, arch, endpoint):
    """Every function of PACKAGED points at a zip in the bucket holding ARCH's bootstrap.

    Returns the sizes: [(logical id, zip bytes, bootstrap bytes)]."""
    machine = ARCHITECTURES[arch]["machine"]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    sizes, problems = [], []
    for logical_id, resource in functions(load_template(packaged)).items():
        code_uri = (resource.get("Properties") or {}).get("CodeUri")
        location = s3_location(code_uri)
        if location is None:
            problems.append(f"{logical_id}: CodeUri is {code_uri!r}, not an s3:// object")
            continue
        bucket, key = location
        if bucket != BUCKET:
            problems.append(f"{logical_id}: CodeUri {code_uri} is not in the bucket {BUCKET}")
            continue
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            problems.append(f"{logical_id}: CodeUri {code_uri} names no object in the bucket")
            continue
        with tempfile.TemporaryFile() as file:
            file.write(body)
            file.seek(0)
            try:
                archive = zipfile.ZipFile(file)
            except zipfile.BadZipFile:
                problems.append(f"{logical_id}: {code_uri} is not a zip")
                continue
            with archive:
                names = archive.namelist()
                if "bootstrap" not in names:
                    problems.append(f"{logical_id}: {code_uri} holds no bootstrap (it holds {names})")
                    continue
                info = archive.getinfo("bootstrap")
                mode = info.external_attr >> 16
                bootstrap = archive.read("bootstrap")
        if not mode & stat.S_IXUSR:
            problems.append(f"{logical_id}: bootstrap is not executable (mode {oct(mode)})")
        found = elf_machine(bootstrap)
        if found != machine:
            what = "not a 64-bit ELF" if found is None else f"ELF machine {found:#x}"
            problems.append(
                f"{logical_id}: bootstrap is {what}, not {arch}'s (ELF machine {machine:#x})"
            )
        sizes.append((logical_id, len(body), len(bootstrap)))
    if problems:
        raise CheckFailed("; ".join(problems))
    if not sizes:
        raise CheckFailed(f"{packaged}: no function to check")
    return sizes


def check_arch(arch, template, endpoint, env, timings):
    """Builds, packages and checks ARCH; returns the sizes of its zips."""
    out = WORK / arch
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    bins = [flag for name in binaries(template) for flag in ("--bin", name)]
    run(
        f"{arch}: cargo lambda build --release (all functions at once)",
        ["cargo", "lambda", "build", "--release", *ARCHITECTURES[arch]["flags"], *bins],
        env,
        timings,
    )
    run(
        f"{arch}: sam build",
        [
            ROOT / ".venv-sam" / "bin" / "sam", "build", "--no-cached", "--parallel",
            "--build-dir", out / "build", "--parameter-overrides", f"Architecture={arch}",
        ],
        env,
        timings,
    )
    packaged = out / "packaged.yaml"
    run(
        f"{arch}: sam package",
        [
            ROOT / ".venv-sam" / "bin" / "sam", "package",
            "--template-file", out / "build" / "template.yaml",
            "--s3-bucket", BUCKET, "--s3-prefix", arch,
            "--output-template-file", packaged, "--region", REGION,
        ],
        env,
        timings,
    )
    started = time.monotonic()
    sizes = check_package(packaged, arch, endpoint)
    timings.append((f"{arch}: zips checked", time.monotonic() - started))
    transformed = out / "transformed.json"
    run(
        f"{arch}: SAM transform of the packaged template",
        [ROOT / ".venv-checkov" / "bin" / "python", ROOT / "scripts" / "sam-translate.py",
         packaged, transformed],
        env,
        timings,
    )
    run(
        f"{arch}: cfn-lint (newest) of the transformed template",
        [ROOT / ".venv" / "bin" / "cfn-lint", "--regions", REGION, "--include-checks", "I",
         "--non-zero-exit-code", "warning", "--format", "pretty", "--", transformed],
        env,
        timings,
    )
    return sizes


def report(timings, sizes, skipped):
    print("\n=== deploy-check: times")
    for step, seconds in timings:
        print(f"{seconds:8.1f} s  {step}")
    print(f"{sum(seconds for _, seconds in timings):8.1f} s  total")
    print("\n=== deploy-check: sizes (zip / bootstrap, bytes)")
    for arch, rows in sizes.items():
        for logical_id, zip_bytes, bootstrap_bytes in rows:
            print(f"{arch:7} {logical_id:28} {zip_bytes:>10,} {bootstrap_bytes:>11,}")
    for arch, reason in skipped.items():
        print(f"\ndeploy-check: {arch} SKIPPED: {reason}")


def main(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Run from anywhere; writes under .aws-sam/deploy-check/.",
    )
    parser.add_argument(
        "--arch", action="append", choices=sorted(ARCHITECTURES),
        help="an architecture to build (repeatable; default x86_64 and arm64, skipping one "
        "whose Rust standard library is not installed)",
    )
    args = parser.parse_args(argv[1:])
    wanted = args.arch or ["x86_64", "arm64"]
    for tool in (ROOT / ".venv" / "bin" / "cargo-lambda", ROOT / ".venv-sam" / "bin" / "sam",
                 ROOT / ".venv-checkov" / "bin" / "python"):
        if not tool.exists():
            print(f"deploy-check: {tool} is missing: run scripts/venv.sh all", file=sys.stderr)
            return 2
    try:
        template = load_template(ROOT / "template.yaml")
        binaries(template)
    except (OSError, yaml.YAMLError, CheckFailed) as error:
        print(f"deploy-check: template.yaml: {error}", file=sys.stderr)
        return 2

    skipped = {}
    for arch in wanted:
        target = ARCHITECTURES[arch]["target"]
        if not std_installed(target):
            reason = (f"the Rust standard library for {target} is not installed "
                      f"(rustup target add {target})")
            if args.arch:
                print(f"deploy-check: {arch}: {reason}", file=sys.stderr)
                return 2
            skipped[arch] = reason
    archs = [arch for arch in wanted if arch not in skipped]

    moto, endpoint = start_moto()
    env = offline_env(endpoint)
    timings, sizes = [], {}
    try:
        boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                     aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                     aws_secret_access_key="deploy-check").create_bucket(Bucket=BUCKET)
        os.environ.update({key: env[key] for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
        for arch in archs:
            sizes[arch] = check_arch(arch, template, endpoint, env, timings)
    except CheckFailed as error:
        report(timings, sizes, skipped)
        print(f"\ndeploy-check: FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    report(timings, sizes, skipped)
    print(f"\ndeploy-check: passed ({', '.join(archs)}): every function's zip is in the bucket "
          "with its architecture's bootstrap, and the transformed template lints clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
