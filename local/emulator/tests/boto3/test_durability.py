"""State survives a restart; a corrupt state file is refused and left untouched."""

import subprocess

from conftest import emulator_binary, free_port
from helpers import CUSTOMER, ISV, checkout, consumed, create_license


def test_state_survives_a_restart(start_emulator, tmp_path):
    state = tmp_path / "persisted.json"
    first = start_emulator(state_file=state)
    first_public_key = first.public_key.read_text()
    isv = first.client(ISV)
    arn = create_license(isv, sku="acme-durable")["LicenseArn"]
    checkout(isv, sku="acme-durable")
    configuration = first.client(CUSTOMER).create_license_configuration(
        Name="durable", LicenseCountingType="Core", LicenseCount=8,
    )["LicenseConfigurationArn"]
    first.stop()
    assert state.is_file()

    second = start_emulator(state_file=state)
    isv = second.client(ISV)
    assert isv.get_license(LicenseArn=arn)["License"]["ProductSKU"] == "acme-durable"
    assert consumed(isv, arn) == "1"
    got = second.client(CUSTOMER).get_license_configuration(LicenseConfigurationArn=configuration)
    assert got["LicenseCount"] == 8
    # The signing key lives in the state file: tokens signed before the restart still verify.
    assert second.public_key.read_text() == first_public_key


def test_corrupt_state_file_is_refused_and_left_untouched(tmp_path):
    state = tmp_path / "corrupt.json"
    state.write_text("{ this is not json")
    result = subprocess.run(
        [str(emulator_binary()), "--host", "127.0.0.1", "--port", str(free_port()), "--state-file", str(state)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert str(state) in result.stderr or "state" in result.stderr.lower(), result.stderr
    assert state.read_text() == "{ this is not json"
