"""The mirror's tables: what a portal keeps of its organisation's ledger, in SQL.

Ledger rows (each sealed with a MAC, :mod:`.seal`) are derived from the blocks the
organisation's peer delivers, with the private writes of the collections the organisation
belongs to (``DeliverWithPrivateData``):

``blocks``        one row per block: number, data hash, previous hash, header hash, counts
``transactions``  one row per envelope: id, type, creator, validation code, chaincode
                  function, public arguments, response, chaincode event
``writes``        every key a VALID transaction wrote, public or private (append-only);
                  a private value is kept without its ``salt`` member
``state``         the latest write of each key: what the world state holds now, with the
                  customer, meter and reference (reading hash, address) it concerns

The mirror follows every channel of the topology (``energy``, ``market``): block numbers
repeat across channels and each channel has its own world state, so every ledger row
starts with its ``channel``, part of its primary key (and of its seal).

Integrity rows (``alerts``, ``integrity_runs``) record what the checks found; portal rows
(``accounts``, ``signup_codes``, ``tariff_proposals``, ``payments``) are the portal's own
and have no ledger counterpart. Migrations: ``migrations/`` (Alembic), run at start.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every mirror and portal table."""


# -- ledger rows -------------------------------------------------------------------------


class BlockRow(Base):
    __tablename__ = "blocks"

    channel: Mapped[str] = mapped_column(String(250), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    data_hash: Mapped[str] = mapped_column(String(64))       # hex
    previous_hash: Mapped[str] = mapped_column(String(64))   # hex
    header_hash: Mapped[str] = mapped_column(String(64), index=True)  # hex
    tx_count: Mapped[int] = mapped_column(Integer)
    write_count: Mapped[int] = mapped_column(Integer)
    timestamp: Mapped[str] = mapped_column(String(20), default="")  # first tx, UTC
    mac: Mapped[str] = mapped_column(String(64))


class TransactionRow(Base):
    __tablename__ = "transactions"

    channel: Mapped[str] = mapped_column(String(250), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tx_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tx_id: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(40))
    timestamp: Mapped[str] = mapped_column(String(20), default="")
    creator_msp: Mapped[str] = mapped_column(String(100), default="")
    creator_name: Mapped[str] = mapped_column(String(250), default="")
    validation_code: Mapped[str] = mapped_column(String(60))
    chaincode: Mapped[str] = mapped_column(String(100), default="")
    function: Mapped[str] = mapped_column(String(150), default="", index=True)
    args: Mapped[str] = mapped_column(Text, default="[]")        # JSON list of text
    endorsers: Mapped[str] = mapped_column(Text, default="[]")   # JSON list of MSP ids
    response_status: Mapped[int] = mapped_column(Integer, default=0)
    response_message: Mapped[str] = mapped_column(Text, default="")
    response_payload: Mapped[str] = mapped_column(Text, default="")
    event_name: Mapped[str] = mapped_column(String(150), default="")
    event_payload: Mapped[str] = mapped_column(Text, default="")
    refused: Mapped[int] = mapped_column(Integer, default=0)  # readings refused (SubmitReadings)
    mac: Mapped[str] = mapped_column(String(64))


class WriteRow(Base):
    __tablename__ = "writes"
    __table_args__ = (
        Index("ix_writes_key", "collection", "key"),
        Index("ix_writes_customer", "customer_id"),
    )

    channel: Mapped[str] = mapped_column(String(250), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tx_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    namespace: Mapped[str] = mapped_column(String(100))
    collection: Mapped[str] = mapped_column(String(100), default="")  # "" = public state
    key: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(40), index=True)
    value: Mapped[str | None] = mapped_column(Text, nullable=True)  # None: deleted
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    meter_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mac: Mapped[str] = mapped_column(String(64))


class StateRow(Base):
    __tablename__ = "state"
    __table_args__ = (
        Index("ix_state_kind_key", "kind", "key"),
        Index("ix_state_customer", "customer_id", "kind"),
        Index("ix_state_meter", "meter_id", "kind"),
        Index("ix_state_ref", "ref"),
        Index("ix_state_block", "channel", "block_number"),
    )

    channel: Mapped[str] = mapped_column(String(250), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(100), primary_key=True)
    collection: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(Text)
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    meter_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_index: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    mac: Mapped[str] = mapped_column(String(64))


# -- integrity ---------------------------------------------------------------------------


class AlertRow(Base):
    """One problem an integrity check found; open until a check finds it gone."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_open", "resolved_at", "customer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))       # see integrity.KINDS
    channel: Mapped[str | None] = mapped_column(String(250), nullable=True)
    fingerprint: Mapped[str] = mapped_column(String(200), index=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tx_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tx_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    meter_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    detail: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                            nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)


class IntegrityRunRow(Base):
    __tablename__ = "integrity_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # local | ledger | meters | repair
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                            nullable=True)
    rows_checked: Mapped[int] = mapped_column(BigInteger, default=0)
    blocks_checked: Mapped[int] = mapped_column(BigInteger, default=0)
    problems: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(Text, default="")


# -- the portal's own --------------------------------------------------------------------


class AccountRow(Base):
    """A person who signs in: a username, a password hash and a Fabric identity."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # customer | utility | regulator | aggregator
    role: Mapped[str] = mapped_column(String(20))
    msp_id: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    wallet_label: Mapped[str] = mapped_column(String(100))
    enrollment_id: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    key_salt: Mapped[str] = mapped_column(String(64))   # hex; derives the key's passphrase
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class SignupCodeRow(Base):
    """A single-use code the Utility gives a customer to open a portal account."""

    __tablename__ = "signup_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class TariffProposalRow(Base):
    """A tariff version one regulator operator proposes and another approves."""

    __tablename__ = "tariff_proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tariff_id: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(Text)  # the SetTariff JSON
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="proposed")  # approved | rejected
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                           nullable=True)
    tx_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class PaymentRow(Base):
    """A customer's top-up payment and the Mint that credited it."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # minted | failed
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


LEDGER_TABLES = (BlockRow, TransactionRow, WriteRow, StateRow)
