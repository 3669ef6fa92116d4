"""The checks of scripts/deploy-check.py on packaged templates it must refuse (run by
`make test-deploy-org`): each broken zip is named with what is wrong with it."""

import importlib.util
import io
import stat
import zipfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


def load_script():
    spec = importlib.util.spec_from_file_location("deploy_check", ROOT / "scripts" / "deploy-check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deploy_check = load_script()


def elf(machine):
    """The first bytes of a 64-bit little-endian ELF executable for MACHINE."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    header[18:20] = machine.to_bytes(2, "little")
    return bytes(header)


def zipped(name, data, mode=0o755):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = (stat.S_IFREG | mode) << 16
        archive.writestr(info, data)
    return buffer.getvalue()


@pytest.fixture()
def bucket(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=deploy_check.BUCKET)
        yield s3


def packaged(tmp_path, s3, zips):
    """A packaged template whose functions point at ZIPS (logical id -> zip bytes or None)."""
    lines = ["Resources:"]
    for logical_id, body in zips.items():
        key = f"x86_64/{logical_id}"
        if body is not None:
            s3.put_object(Bucket=deploy_check.BUCKET, Key=key, Body=body)
        lines += [f"  {logical_id}:", "    Type: AWS::Serverless::Function", "    Properties:",
                  f"      CodeUri: s3://{deploy_check.BUCKET}/{key}"]
    path = tmp_path / "packaged.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_zips_of_the_architecture_pass_with_their_sizes(tmp_path, bucket):
    good = zipped("bootstrap", elf(0x3E))
    path = packaged(tmp_path, bucket, {"AFunction": good, "BFunction": good})
    sizes = deploy_check.check_package(path, "x86_64", endpoint=None)
    assert sizes == [("AFunction", len(good), 64), ("BFunction", len(good), 64)]


def test_every_broken_zip_is_named_with_what_is_wrong(tmp_path, bucket):
    path = packaged(tmp_path, bucket, {
        "WrongArch": zipped("bootstrap", elf(0xB7)),
        "NoBootstrap": zipped("main", elf(0x3E)),
        "NotExecutable": zipped("bootstrap", elf(0x3E), mode=0o644),
        "NotElf": zipped("bootstrap", b"#!/bin/sh\n"),
        "Missing": None,
    })
    with pytest.raises(deploy_check.CheckFailed) as failed:
        deploy_check.check_package(path, "x86_64", endpoint=None)
    message = str(failed.value)
    assert "WrongArch: bootstrap is ELF machine 0xb7, not x86_64's (ELF machine 0x3e)" in message
    assert "NoBootstrap: " in message and "holds no bootstrap" in message
    assert "NotExecutable: bootstrap is not executable" in message
    assert "NotElf: bootstrap is not a 64-bit ELF" in message
    assert "Missing: CodeUri s3://" in message and "names no object" in message


def test_a_function_not_packaged_is_refused(tmp_path, bucket):
    path = tmp_path / "packaged.yaml"
    path.write_text("Resources:\n  Local:\n    Type: AWS::Serverless::Function\n"
                    "    Properties:\n      CodeUri: .\n", encoding="utf-8")
    with pytest.raises(deploy_check.CheckFailed, match="Local: CodeUri is '.', not an s3://"):
        deploy_check.check_package(path, "x86_64", endpoint=None)
