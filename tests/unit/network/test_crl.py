"""CRLs and the channel-config update that publishes them, without a network.

Every CA, CRL and channel configuration here is built in memory; the integration test
(tests/integration/test_revocation.py) shows real peers refusing what these accept.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2, configtx_pb2, policies_pb2
from fabric_protos.msp import msp_config_pb2, msp_principal_pb2

from gridledger.network.crl import (
    CRLError,
    authority_key_id,
    check_issuer,
    crl_pem,
    load_crl,
    merge_crl,
)
from gridledger.network.crl_config import (
    MSP_VALUE,
    build_update,
    check_own_admin_suffices,
    crls,
    decode_config_block,
    fabric_msp,
    org_paths,
    update_envelope,
    with_revocation_list,
)
from gridledger.network.errors import NetworkError

MSP_ID = "UtilityMSP"
OTHER = "RegulatorMSP"
CHANNEL = "energy"
T0 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)

# -- a CA and its CRLs ------------------------------------------------------------------


class CA:
    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(T0 - dt.timedelta(days=1))
            .not_valid_after(T0 + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def crl(
        self, serials: list[int], issued: dt.datetime = T0, *, with_aki: bool = True
    ) -> x509.CertificateRevocationList:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(issued)
            .next_update(issued + dt.timedelta(days=7))
        )
        if with_aki:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        for serial in serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(issued)
                .build()
            )
        return builder.sign(self.key, hashes.SHA256())


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA("ca-utility")


@pytest.fixture(scope="module")
def other_ca() -> CA:
    return CA("ca-regulator")


def _der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


# -- a channel configuration --------------------------------------------------------------


def _admin_principal(msp_id: str) -> msp_principal_pb2.MSPPrincipal:
    role = msp_principal_pb2.MSPRole(msp_identifier=msp_id, role=msp_principal_pb2.MSPRole.ADMIN)
    return msp_principal_pb2.MSPPrincipal(
        principal_classification=msp_principal_pb2.MSPPrincipal.ROLE,
        principal=role.SerializeToString(),
    )


def _signature_policy(rule: policies_pb2.SignaturePolicy, *msp_ids: str) -> policies_pb2.Policy:
    envelope = policies_pb2.SignaturePolicyEnvelope(
        rule=rule, identities=[_admin_principal(m) for m in msp_ids]
    )
    return policies_pb2.Policy(
        type=policies_pb2.Policy.SIGNATURE, value=envelope.SerializeToString()
    )


def _signed_by(index: int) -> policies_pb2.SignaturePolicy:
    return policies_pb2.SignaturePolicy(signed_by=index)


def _n_of(n: int, *rules: policies_pb2.SignaturePolicy) -> policies_pb2.SignaturePolicy:
    return policies_pb2.SignaturePolicy(
        n_out_of=policies_pb2.SignaturePolicy.NOutOf(n=n, rules=list(rules))
    )


def _msp_value(msp_id: str, root: bytes, version: int = 0) -> configtx_pb2.ConfigValue:
    fabric = msp_config_pb2.FabricMSPConfig(name=msp_id, root_certs=[root])
    msp = msp_config_pb2.MSPConfig(type=0, config=fabric.SerializeToString())
    return configtx_pb2.ConfigValue(
        version=version, mod_policy="Admins", value=msp.SerializeToString()
    )


def _org_group(msp_id: str, root: bytes, admins: policies_pb2.Policy) -> configtx_pb2.ConfigGroup:
    group = configtx_pb2.ConfigGroup(version=2, mod_policy="Admins")
    group.values[MSP_VALUE].CopyFrom(_msp_value(msp_id, root, version=1))
    group.policies["Admins"].CopyFrom(configtx_pb2.ConfigPolicy(policy=admins, mod_policy="Admins"))
    return group


def _config(ca: CA, other: CA, admins: policies_pb2.Policy | None = None) -> configtx_pb2.Config:
    """A channel where the Utility is in both sections and the Regulator only a member."""
    admins = admins or _signature_policy(_signed_by(0), MSP_ID)
    config = configtx_pb2.Config(sequence=3)
    root = config.channel_group
    root.version = 4
    for section in ("Application", "Orderer"):
        root.groups[section].version = 1
        root.groups[section].groups[MSP_ID].CopyFrom(_org_group(MSP_ID, ca.pem, admins))
    regulator = _org_group(OTHER, other.pem, _signature_policy(_signed_by(0), OTHER))
    root.groups["Application"].groups[OTHER].CopyFrom(regulator)
    return config


def _block(config: configtx_pb2.Config, number: int = 7, kind: int = common_pb2.CONFIG) -> bytes:
    header = common_pb2.ChannelHeader(type=kind, channel_id=CHANNEL)
    payload = common_pb2.Payload(
        header=common_pb2.Header(channel_header=header.SerializeToString()),
        data=configtx_pb2.ConfigEnvelope(config=config).SerializeToString(),
    )
    envelope = common_pb2.Envelope(payload=payload.SerializeToString())
    block = common_pb2.Block(header=common_pb2.BlockHeader(number=number))
    block.data.data.append(envelope.SerializeToString())
    return block.SerializeToString()


# -- the CRL itself -------------------------------------------------------------------------


def test_a_crl_loads_from_pem_and_from_der(ca: CA) -> None:
    crl = ca.crl([11, 12])
    assert _der(load_crl(crl_pem(crl))) == _der(crl)
    assert _der(load_crl(_der(crl))) == _der(crl)
    assert crl_pem(crl).startswith(b"-----BEGIN X509 CRL-----")


def test_bytes_that_are_not_a_crl_are_refused_with_what_to_pass() -> None:
    with pytest.raises(CRLError, match=r"not a CRL .*gencrl=True"):
        load_crl(b"-----BEGIN X509 CRL-----\nnot base64\n-----END X509 CRL-----\n")
    with pytest.raises(CRLError, match="not a CRL"):
        load_crl(b"\x30\x03junk")


def test_crl_errors_belong_to_the_network_tree() -> None:
    assert issubclass(CRLError, NetworkError)


def test_a_crl_without_authority_key_identifier_is_refused(ca: CA) -> None:
    assert authority_key_id(ca.crl([1])) == ca.cert.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value.digest
    with pytest.raises(CRLError, match=r"no authority key identifier.*refuse every"):
        authority_key_id(ca.crl([1], with_aki=False))


def test_merging_the_crl_already_held_changes_nothing(ca: CA) -> None:
    crl = ca.crl([5])
    assert merge_crl([crl_pem(crl)], crl) is None


def test_a_newer_crl_replaces_its_cas_older_one_and_keeps_other_cas(
    ca: CA, other_ca: CA
) -> None:
    old = ca.crl([5], T0)
    foreign = other_ca.crl([9], T0)
    newer = ca.crl([5, 6], T0 + dt.timedelta(minutes=1))
    merged = merge_crl([crl_pem(old), crl_pem(foreign)], newer)
    assert merged is not None
    assert [_der(load_crl(c)) for c in merged] == [_der(foreign), _der(newer)]
    assert merge_crl([], newer) == [crl_pem(newer)]


def test_an_older_crl_is_refused_so_revocations_are_never_taken_back(ca: CA) -> None:
    held = ca.crl([5, 6], T0 + dt.timedelta(minutes=1))
    with pytest.raises(CRLError, match=r"already has a newer CRL .* with 2 revoked"):
        merge_crl([crl_pem(held)], ca.crl([5], T0))


def test_of_two_crls_of_the_same_second_the_one_listing_fewer_is_refused(ca: CA) -> None:
    held = ca.crl([5, 6], T0)
    with pytest.raises(CRLError, match="newer CRL"):
        merge_crl([crl_pem(held)], ca.crl([5], T0))
    # Listing more in the same second is newer: it replaces the held one.
    more = ca.crl([5, 6, 7], T0)
    assert merge_crl([crl_pem(held)], more) == [crl_pem(more)]


def test_only_a_crl_signed_by_a_ca_of_the_msp_is_accepted(ca: CA, other_ca: CA) -> None:
    msp = msp_config_pb2.FabricMSPConfig(name=MSP_ID, root_certs=[ca.pem])
    check_issuer(ca.crl([1]), msp)
    with pytest.raises(CRLError, match=f"not signed by any CA of {MSP_ID}; peers would ignore"):
        check_issuer(other_ca.crl([1]), msp)


# -- the channel configuration ------------------------------------------------------------


def test_a_config_block_decodes_to_its_number_and_config(ca: CA, other_ca: CA) -> None:
    config = _config(ca, other_ca)
    number, decoded = decode_config_block(_block(config, number=7))
    assert number == 7
    assert decoded == config


def test_a_block_that_is_not_a_config_block_is_refused(ca: CA, other_ca: CA) -> None:
    config = _config(ca, other_ca)
    with pytest.raises(CRLError, match="block 7 is not a config block"):
        decode_config_block(_block(config, kind=common_pb2.ENDORSER_TRANSACTION))
    with pytest.raises(CRLError, match="cannot decode the config block"):
        decode_config_block(common_pb2.Block().SerializeToString())


def test_an_orgs_msp_is_found_in_each_section_it_belongs_to(ca: CA, other_ca: CA) -> None:
    config = _config(ca, other_ca)
    assert org_paths(config, MSP_ID) == [("Application", MSP_ID), ("Orderer", MSP_ID)]
    assert org_paths(config, OTHER) == [("Application", OTHER)]
    with pytest.raises(CRLError, match="AggregatorMSP is not a member"):
        org_paths(config, "AggregatorMSP")


def test_a_non_x509_msp_takes_no_crl(ca: CA, other_ca: CA) -> None:
    group = _config(ca, other_ca).channel_group.groups["Application"].groups[MSP_ID]
    group.values[MSP_VALUE].value = msp_config_pb2.MSPConfig(type=1).SerializeToString()
    with pytest.raises(CRLError, match=r"MSP type 1 is not an X\.509 Fabric MSP"):
        fabric_msp(group)


def test_the_revocation_list_is_replaced_and_nothing_else(ca: CA, other_ca: CA) -> None:
    config = _config(ca, other_ca)
    group = config.channel_group.groups["Application"].groups[MSP_ID]
    assert crls(config, MSP_ID) == []
    pem = crl_pem(ca.crl([3]))
    group.values[MSP_VALUE].value = with_revocation_list(group.values[MSP_VALUE], [pem])
    assert crls(config, MSP_ID) == [pem]
    assert list(fabric_msp(group).root_certs) == [ca.pem]
    assert crls(config, MSP_ID, "Orderer") == []


def test_the_update_pins_the_path_and_writes_the_value_one_version_up(
    ca: CA, other_ca: CA
) -> None:
    config = _config(ca, other_ca)
    update = build_update(
        config, CHANNEL, {("Application", MSP_ID): b"app msp", ("Orderer", MSP_ID): b"ord msp"}
    )
    assert update.channel_id == CHANNEL
    for target in (update.read_set, update.write_set):
        assert target.version == 4
        assert sorted(target.groups) == ["Application", "Orderer"]
        for section in ("Application", "Orderer"):
            assert list(target.groups[section].groups) == [MSP_ID]
            org = target.groups[section].groups[MSP_ID]
            assert org.version == 2 and not org.policies and not org.mod_policy
    assert not update.read_set.groups["Application"].groups[MSP_ID].values
    written = update.write_set.groups["Orderer"].groups[MSP_ID].values[MSP_VALUE]
    assert (written.version, written.mod_policy, written.value) == (2, "Admins", b"ord msp")


def test_the_envelope_carries_the_update_unsigned(ca: CA, other_ca: CA) -> None:
    update = build_update(_config(ca, other_ca), CHANNEL, {("Application", MSP_ID): b"x"})
    envelope = common_pb2.Envelope.FromString(update_envelope(update, CHANNEL))
    assert not envelope.signature
    payload = common_pb2.Payload.FromString(envelope.payload)
    header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
    assert (header.type, header.channel_id) == (common_pb2.CONFIG_UPDATE, CHANNEL)
    inner = configtx_pb2.ConfigUpdateEnvelope.FromString(payload.data)
    assert not inner.signatures
    assert configtx_pb2.ConfigUpdate.FromString(inner.config_update) == update


# -- who may change the MSP value ---------------------------------------------------------


def test_one_admin_signature_suffices_for_the_orgs_own_admins_policy(
    ca: CA, other_ca: CA
) -> None:
    check_own_admin_suffices(_config(ca, other_ca), "Application", MSP_ID)
    either = _signature_policy(_n_of(1, _signed_by(0), _signed_by(1)), OTHER, MSP_ID)
    check_own_admin_suffices(_config(ca, other_ca, either), "Orderer", MSP_ID)


def test_a_policy_that_needs_another_org_is_refused_before_sending(ca: CA, other_ca: CA) -> None:
    both = _signature_policy(_n_of(2, _signed_by(0), _signed_by(1)), MSP_ID, OTHER)
    with pytest.raises(CRLError, match="not satisfied by one UtilityMSP admin signature"):
        check_own_admin_suffices(_config(ca, other_ca, both), "Application", MSP_ID)
    # Two leaves naming our admin still need two signatures: each is used once.
    twice = _signature_policy(_n_of(2, _signed_by(0), _signed_by(0)), MSP_ID)
    with pytest.raises(CRLError, match="not satisfied"):
        check_own_admin_suffices(_config(ca, other_ca, twice), "Application", MSP_ID)


def test_an_implicit_meta_policy_is_refused_naming_its_kind(ca: CA, other_ca: CA) -> None:
    meta = policies_pb2.Policy(type=policies_pb2.Policy.IMPLICIT_META)
    with pytest.raises(CRLError, match="is IMPLICIT_META, which needs other organisations'"):
        check_own_admin_suffices(_config(ca, other_ca, meta), "Application", MSP_ID)


def test_a_mod_policy_is_resolved_relative_or_from_channel_and_must_exist(
    ca: CA, other_ca: CA
) -> None:
    config = _config(ca, other_ca)
    value = config.channel_group.groups["Application"].groups[MSP_ID].values[MSP_VALUE]
    value.mod_policy = f"/Channel/Application/{MSP_ID}/Admins"
    check_own_admin_suffices(config, "Application", MSP_ID)
    value.mod_policy = "Writers"
    with pytest.raises(CRLError, match=r"mod policy 'Writers' of /Channel/Application/.*not in"):
        check_own_admin_suffices(config, "Application", MSP_ID)


# -- every channel ----------------------------------------------------------------------------


class _Net:
    """What publish_crl needs of a consortium: its topology's channels."""

    def __init__(self) -> None:
        from gridledger.network.topology import load

        self.topology = load()


def test_a_crl_is_published_on_every_channel_main_first(ca: CA, monkeypatch) -> None:
    from gridledger.network import crl_publish

    calls = []

    def to(net, org, pem, channel, timeout):
        calls.append((org, channel))
        return {"energy": 12, "market": 4}[channel]

    monkeypatch.setattr(crl_publish, "publish_crl_to", to)
    pem = crl_pem(ca.crl([5]))
    assert crl_publish.publish_crl(_Net(), "utility", pem) == {"energy": 12, "market": 4}
    assert calls == [("utility", "energy"), ("utility", "market")]


def test_a_channel_that_fails_is_named_with_those_that_hold_the_crl(ca: CA, monkeypatch) -> None:
    from gridledger.network import crl_publish

    def to(net, org, pem, channel, timeout):
        if channel == "market":
            raise CRLError("the orderer refused the config update")
        return 12

    monkeypatch.setattr(crl_publish, "publish_crl_to", to)
    with pytest.raises(CRLError) as err:
        crl_publish.publish_crl(_Net(), "utility", crl_pem(ca.crl([5])))
    assert str(err.value).startswith("channel 'market': the orderer refused the config update")
    assert "published on energy (config block 12) only" in str(err.value)


def test_a_crl_without_authority_key_id_touches_no_channel(ca: CA, monkeypatch) -> None:
    from gridledger.network import crl_publish

    monkeypatch.setattr(crl_publish, "publish_crl_to", lambda *a: pytest.fail("submitted"))
    with pytest.raises(CRLError):
        crl_publish.publish_crl(_Net(), "utility", crl_pem(ca.crl([5], with_aki=False)))
