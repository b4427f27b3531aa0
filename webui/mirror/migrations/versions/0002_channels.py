"""ledger rows per channel: the mirror follows every channel of the topology

Block numbers repeat across channels and each channel has its own world state, so
``blocks``, ``transactions``, ``writes`` and ``state`` get a ``channel`` column that leads
their primary keys, and ``alerts`` names the channel a problem is on.

The ledger rows are derived from the peer's blocks and sealed over all their columns, so
rather than re-sealing them (the key is not the migration's to hold) they are dropped and
the listeners mirror every channel again from block 0; open alerts about them are
resolved, as the rows they name are gone.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

REBUILT = "the mirror was rebuilt from the ledger, per channel (schema 0002)"


def _resolve_open_alerts(resolution: str) -> None:
    alerts = sa.table("alerts", sa.column("resolved_at", sa.DateTime(timezone=True)),
                      sa.column("resolution", sa.Text()))
    op.get_bind().execute(alerts.update().where(alerts.c.resolved_at.is_(None))
                          .values(resolved_at=dt.datetime.now(dt.UTC), resolution=resolution))


def _drop_ledger_tables() -> None:
    for table in ("state", "writes", "transactions", "blocks"):
        op.drop_table(table)


def _ledger_tables(channel: bool) -> None:
    """The four ledger tables; with ``channel`` leading their keys (0002) or not (0001)."""
    def ch() -> list[sa.Column]:
        return [sa.Column('channel', sa.String(length=250), nullable=False)] if channel else []

    def pk(*columns: str) -> sa.PrimaryKeyConstraint:
        return sa.PrimaryKeyConstraint(*(("channel",) if channel else ()), *columns)

    op.create_table('blocks',
    *ch(),
    sa.Column('number', sa.BigInteger(), autoincrement=False, nullable=False),
    *([] if channel else [sa.Column('channel', sa.String(length=250), nullable=False)]),
    sa.Column('data_hash', sa.String(length=64), nullable=False),
    sa.Column('previous_hash', sa.String(length=64), nullable=False),
    sa.Column('header_hash', sa.String(length=64), nullable=False),
    sa.Column('tx_count', sa.Integer(), nullable=False),
    sa.Column('write_count', sa.Integer(), nullable=False),
    sa.Column('timestamp', sa.String(length=20), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    pk('number')
    )
    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_blocks_header_hash'), ['header_hash'], unique=False)

    op.create_table('transactions',
    *ch(),
    sa.Column('block_number', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('tx_index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('tx_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('timestamp', sa.String(length=20), nullable=False),
    sa.Column('creator_msp', sa.String(length=100), nullable=False),
    sa.Column('creator_name', sa.String(length=250), nullable=False),
    sa.Column('validation_code', sa.String(length=60), nullable=False),
    sa.Column('chaincode', sa.String(length=100), nullable=False),
    sa.Column('function', sa.String(length=150), nullable=False),
    sa.Column('args', sa.Text(), nullable=False),
    sa.Column('endorsers', sa.Text(), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=False),
    sa.Column('response_message', sa.Text(), nullable=False),
    sa.Column('response_payload', sa.Text(), nullable=False),
    sa.Column('event_name', sa.String(length=150), nullable=False),
    sa.Column('event_payload', sa.Text(), nullable=False),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    pk('block_number', 'tx_index')
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transactions_function'), ['function'], unique=False)
        batch_op.create_index(batch_op.f('ix_transactions_tx_id'), ['tx_id'], unique=False)

    op.create_table('writes',
    *ch(),
    sa.Column('block_number', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('tx_index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('namespace', sa.String(length=100), nullable=False),
    sa.Column('collection', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('meter_id', sa.String(length=64), nullable=True),
    sa.Column('mac', sa.String(length=64), nullable=False),
    pk('block_number', 'tx_index', 'seq')
    )
    with op.batch_alter_table('writes', schema=None) as batch_op:
        batch_op.create_index('ix_writes_customer', ['customer_id'], unique=False)
        batch_op.create_index('ix_writes_key', ['collection', 'key'], unique=False)
        batch_op.create_index(batch_op.f('ix_writes_kind'), ['kind'], unique=False)

    op.create_table('state',
    *ch(),
    sa.Column('namespace', sa.String(length=100), nullable=False),
    sa.Column('collection', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('meter_id', sa.String(length=64), nullable=True),
    sa.Column('ref', sa.String(length=128), nullable=True),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('tx_index', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    pk('namespace', 'collection', 'key')
    )
    with op.batch_alter_table('state', schema=None) as batch_op:
        batch_op.create_index('ix_state_block', ['channel', 'block_number'] if channel
                              else ['block_number'], unique=False)
        batch_op.create_index('ix_state_customer', ['customer_id', 'kind'], unique=False)
        batch_op.create_index('ix_state_kind_key', ['kind', 'key'], unique=False)
        batch_op.create_index('ix_state_meter', ['meter_id', 'kind'], unique=False)
        batch_op.create_index('ix_state_ref', ['ref'], unique=False)


def upgrade() -> None:
    _resolve_open_alerts(REBUILT)
    _drop_ledger_tables()
    _ledger_tables(channel=True)
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=250), nullable=True))


def downgrade() -> None:
    # One channel's rows cannot hold several channels' blocks: mirrored again from 0.
    _resolve_open_alerts("the mirror was rebuilt from the ledger (schema 0001)")
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('channel')
    _drop_ledger_tables()
    _ledger_tables(channel=False)
