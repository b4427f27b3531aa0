"""One node backed up and restored while the others run (issue 18): the restored peer
catches up to the channel and serves what was written after its backup; an archive of
another organisation's node, or a damaged one, is refused and changes nothing."""

from __future__ import annotations

import tarfile
import uuid

import pytest

from gridledger.clients.session import Session
from gridledger.network import backup
from gridledger.network import channel as ch

CHANNEL = "energy"
pytestmark = pytest.mark.restarts_nodes


def _put(consortium, key: str, value: str) -> None:
    # Written through the Utility and the Aggregator: the Regulator's peer is not needed.
    with Session(consortium.layout.root, "utility").gateway() as gateway:
        gateway.network(CHANNEL).contract("health").submit(
            "Put", key, value, endorsing_organizations=["UtilityMSP", "AggregatorMSP"])


def _get_from(consortium, org: str, key: str) -> bytes:
    msp = consortium.topology.org(org).msp_id
    with Session(consortium.layout.root, org).gateway() as gateway:
        return gateway.network(CHANNEL).contract("health").evaluate(
            "Get", key, target_organizations=[msp])


def test_a_peer_restored_from_its_backup_catches_up_with_the_channel(consortium, tmp_path):
    regulator = consortium.member("regulator")
    before = f"before-{uuid.uuid4().hex[:6]}"
    _put(consortium, before, "1")

    archive = tmp_path / "peer0-regulator.tar.gz"
    taken = backup.backup(regulator, "peer", archive)
    assert taken.node == "peer0-regulator" and taken.heights[CHANNEL] > 0
    with tarfile.open(archive) as tar:  # the ledger, never a key
        names = tar.getnames()
        assert "gridledger-backup.json" in names
        assert not [n for n in names if "keystore" in n or n.endswith(".key")]

    after = [f"after-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    for key in after:
        _put(consortium, key, "2")
    height_now = ch.peer_height(consortium.admin("utility"), CHANNEL)
    assert height_now > taken.heights[CHANNEL]

    heights = backup.restore(regulator, "peer", archive)
    assert heights[CHANNEL] >= height_now
    assert _get_from(consortium, "regulator", before) == b"1"
    for key in after:  # written after the backup: pulled from the orderers on restore
        assert _get_from(consortium, "regulator", key) == b"2"
    # The data it had before the restore is kept aside, not deleted.
    node_dir = regulator.layout.node("peer0-regulator")
    assert list(node_dir.glob("data.before-restore-*"))


def test_another_organisations_backup_or_a_damaged_one_is_refused_and_changes_nothing(
        consortium, tmp_path):
    utility, regulator = consortium.member("utility"), consortium.member("regulator")
    theirs = tmp_path / "peer0-utility.tar.gz"
    backup.backup(utility, "peer", theirs)
    height = ch.peer_height(regulator.admin, CHANNEL)
    with pytest.raises(backup.BackupError,
                       match=r"backup of peer0-utility .*not of peer0-regulator"):
        backup.restore(regulator, "peer", theirs)

    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(theirs.read_bytes()[: theirs.stat().st_size // 2])
    with pytest.raises(backup.BackupError, match=r"not a GridLedger node backup|could not be"):
        backup.restore(regulator, "peer", damaged)
    # Still running, at least as far as before.
    assert ch.peer_height(regulator.admin, CHANNEL) >= height
    assert regulator.supervisor.info("peer0-regulator")["statename"] == "RUNNING"
