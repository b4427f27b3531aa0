"""Test helpers: an in-memory Stub for pure contract logic, certificates, proposals."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2
from google.protobuf import timestamp_pb2

from gridledger.chaincode.shim import KV, ClientIdentity, Contract, ContractRouter, Stub, evaluate
from gridledger.formats.ca_attributes import FABRIC_CA_ATTRS_OID

TX_TIME = dt.datetime(2025, 3, 1, 12, 30, 15, 250000, tzinfo=dt.UTC)
# The private key of every certificate make_cert made, for tests that sign as its holder.
KEYS: dict[bytes, ec.EllipticCurvePrivateKey] = {}


def make_cert(
    cn: str = "meter-7",
    attrs: dict[str, str] | None = None,
    raw_ext: bytes | None = None,
    ous: Sequence[str] | None = None,
) -> bytes:
    """A self-signed ECDSA P-256 certificate (PEM), optionally with Fabric CA attrs.

    ``ous`` are the subject's OUs; by default what Fabric CA writes for such an identity
    here: NodeOU ``client`` for a customer (``role`` customer/prosumer), else ``admin``.
    """
    if ous is None:
        customer = (attrs or {}).get("role") in ("customer", "prosumer")
        ous = ("client",) if customer else ("admin",)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "utility.gridledger"),
            *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in ous),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(TX_TIME - dt.timedelta(days=1))
        .not_valid_after(TX_TIME + dt.timedelta(days=365))
    )
    if attrs is not None or raw_ext is not None:
        value = raw_ext if raw_ext is not None else json.dumps({"attrs": attrs}).encode()
        builder = builder.add_extension(
            x509.UnrecognizedExtension(FABRIC_CA_ATTRS_OID, value), critical=False
        )
    cert = builder.sign(key, hashes.SHA256())
    pem = cert.public_bytes(serialization.Encoding.PEM)
    KEYS[pem] = key
    return pem


def serialized_identity(msp_id: str, cert_pem: bytes) -> bytes:
    """A marshalled msp.SerializedIdentity."""
    return identities_pb2.SerializedIdentity(mspid=msp_id, id_bytes=cert_pem).SerializeToString()


def signed_proposal(
    creator: bytes,
    *,
    tx_id: str = "tx1",
    channel: str = "energy",
    transient: dict[str, bytes] | None = None,
    when: dt.datetime = TX_TIME,
    header_type: int = common_pb2.ENDORSER_TRANSACTION,
) -> proposal_pb2.SignedProposal:
    """A SignedProposal shaped like the ones a gateway sends (signature not checked)."""
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when)
    channel_header = common_pb2.ChannelHeader(
        type=header_type, channel_id=channel, tx_id=tx_id, timestamp=ts
    )
    signature_header = common_pb2.SignatureHeader(creator=creator, nonce=b"n" * 24)
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=signature_header.SerializeToString(),
    )
    payload = proposal_pb2.ChaincodeProposalPayload(TransientMap=transient or {})
    proposal = proposal_pb2.Proposal(
        header=header.SerializeToString(), payload=payload.SerializeToString()
    )
    return proposal_pb2.SignedProposal(proposal_bytes=proposal.SerializeToString())


class ListIterator:
    """A closable iterator over a list, shaped like the shim's StateIterator."""

    def __init__(self, items: list[KV]) -> None:
        self._items: Iterator[KV] = iter(items)

    def __iter__(self) -> ListIterator:
        return self

    def __next__(self) -> KV:
        return next(self._items)

    def close(self) -> None:
        self._items = iter(())

    def __enter__(self) -> ListIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemoryStub:
    """In-memory Stub for unit tests of pure contract logic (no protocol involved)."""

    def __init__(
        self,
        function: str = "",
        args: Sequence[str] = (),
        *,
        msp_id: str = "UtilityMSP",
        state: dict[str, bytes] | None = None,
    ) -> None:
        self.tx_id = "memtx0001"
        self.channel_id = "energy"
        self.function = function
        self.args = list(args)
        self.tx_timestamp = TX_TIME
        self.tx_timestamp_rfc3339 = "2025-03-01T12:30:15.250Z"
        self.creator = ClientIdentity(
            msp_id=msp_id,
            cert_pem=b"",
            subject="CN=tester",
            issuer="CN=tester",
            common_name="tester",
            ous=("admin",),  # an operator (NodeOU admin) of its MSP, unless a test says
        )
        self.state: dict[str, bytes] = dict(state or {})
        self.private: dict[tuple[str, str], bytes] = {}
        self.metadata: dict[str, bytes] = {}
        self.transient: dict[str, bytes] = {}
        self.events: list[tuple[str, bytes]] = []
        # The endorser's own clock (None: the transaction time, as a client in sync).
        self.endorser_clock: dt.datetime | None = None

    def endorser_time(self) -> dt.datetime:
        return self.endorser_clock or self.tx_timestamp

    def get_state(self, key: str) -> bytes | None:
        return self.state.get(key)

    def get_state_multiple(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.state.get(k) for k in keys]

    def put_state(self, key: str, value: bytes) -> None:
        self.state[key] = value

    def del_state(self, key: str) -> None:
        self.state.pop(key, None)

    def get_state_by_range(self, start_key: str, end_key: str) -> ListIterator:
        keys = [k for k in sorted(self.state) if k >= start_key and (not end_key or k < end_key)]
        return ListIterator([KV(k, self.state[k]) for k in keys])

    def get_private_data(self, collection: str, key: str) -> bytes | None:
        return self.private.get((collection, key))

    def get_private_data_multiple(self, collection: str,
                                  keys: Sequence[str]) -> list[bytes | None]:
        return [self.get_private_data(collection, k) for k in keys]

    def get_private_data_by_range(self, collection: str, start_key: str,
                                  end_key: str) -> ListIterator:
        keys = sorted(k for c, k in self.private if c == collection
                      and k >= start_key and (not end_key or k < end_key))
        return ListIterator([KV(k, self.private[(collection, k)]) for k in keys])

    def put_private_data(self, collection: str, key: str, value: bytes) -> None:
        self.private[(collection, key)] = value

    def del_private_data(self, collection: str, key: str) -> None:
        self.private.pop((collection, key), None)

    def get_private_data_hash(self, collection: str, key: str) -> bytes | None:
        import hashlib

        value = self.private.get((collection, key))
        return hashlib.sha256(value).digest() if value is not None else None

    def get_transient(self, name: str) -> bytes | None:
        return self.transient.get(name)

    def set_state_validation_parameter(self, key: str, policy: bytes) -> None:
        self.metadata[key] = policy

    def get_state_validation_parameter(self, key: str) -> bytes | None:
        return self.metadata.get(key)

    def set_event(self, name: str, payload: bytes) -> None:
        self.events.append((name, payload))


def answer_to(error: Exception) -> proposal_response_pb2.Response:
    """The response the contract dispatcher gives when ``error`` escapes a transaction."""

    class Raising(Contract):
        name = "raising"

        @evaluate
        def Raise(self, stub: Stub) -> None:
            raise error

    return ContractRouter([Raising()]).invoke(MemoryStub("Raise"))
