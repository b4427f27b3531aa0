"""initial schema: ledger mirror, integrity, portal

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('msp_id', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('wallet_label', sa.String(length=100), nullable=False),
    sa.Column('enrollment_id', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('key_salt', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_customer_id'), ['customer_id'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('fingerprint', sa.String(length=200), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=True),
    sa.Column('tx_index', sa.Integer(), nullable=True),
    sa.Column('tx_id', sa.String(length=64), nullable=True),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('meter_id', sa.String(length=64), nullable=True),
    sa.Column('key', sa.String(length=400), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_fingerprint'), ['fingerprint'], unique=False)
        batch_op.create_index('ix_alerts_open', ['resolved_at', 'customer_id'], unique=False)

    op.create_table('blocks',
    sa.Column('number', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('channel', sa.String(length=250), nullable=False),
    sa.Column('data_hash', sa.String(length=64), nullable=False),
    sa.Column('previous_hash', sa.String(length=64), nullable=False),
    sa.Column('header_hash', sa.String(length=64), nullable=False),
    sa.Column('tx_count', sa.Integer(), nullable=False),
    sa.Column('write_count', sa.Integer(), nullable=False),
    sa.Column('timestamp', sa.String(length=20), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('number')
    )
    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_blocks_header_hash'), ['header_hash'], unique=False)

    op.create_table('integrity_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rows_checked', sa.BigInteger(), nullable=False),
    sa.Column('blocks_checked', sa.BigInteger(), nullable=False),
    sa.Column('problems', sa.Integer(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference')
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_account_id'), ['account_id'], unique=False)

    op.create_table('signup_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code_hash')
    )
    with op.batch_alter_table('signup_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signup_codes_customer_id'), ['customer_id'],
                              unique=False)

    op.create_table('state',
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
    sa.PrimaryKeyConstraint('namespace', 'collection', 'key')
    )
    with op.batch_alter_table('state', schema=None) as batch_op:
        batch_op.create_index('ix_state_block', ['block_number'], unique=False)
        batch_op.create_index('ix_state_customer', ['customer_id', 'kind'], unique=False)
        batch_op.create_index('ix_state_kind_key', ['kind', 'key'], unique=False)
        batch_op.create_index('ix_state_meter', ['meter_id', 'kind'], unique=False)
        batch_op.create_index('ix_state_ref', ['ref'], unique=False)

    op.create_table('tariff_proposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tariff_id', sa.String(length=64), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('proposed_by', sa.String(length=64), nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tx_id', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('transactions',
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
    sa.PrimaryKeyConstraint('block_number', 'tx_index')
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transactions_function'), ['function'], unique=False)
        batch_op.create_index(batch_op.f('ix_transactions_tx_id'), ['tx_id'], unique=False)

    op.create_table('writes',
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
    sa.PrimaryKeyConstraint('block_number', 'tx_index', 'seq')
    )
    with op.batch_alter_table('writes', schema=None) as batch_op:
        batch_op.create_index('ix_writes_customer', ['customer_id'], unique=False)
        batch_op.create_index('ix_writes_key', ['collection', 'key'], unique=False)
        batch_op.create_index(batch_op.f('ix_writes_kind'), ['kind'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('writes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_writes_kind'))
        batch_op.drop_index('ix_writes_key')
        batch_op.drop_index('ix_writes_customer')

    op.drop_table('writes')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transactions_tx_id'))
        batch_op.drop_index(batch_op.f('ix_transactions_function'))

    op.drop_table('transactions')
    op.drop_table('tariff_proposals')
    with op.batch_alter_table('state', schema=None) as batch_op:
        batch_op.drop_index('ix_state_ref')
        batch_op.drop_index('ix_state_meter')
        batch_op.drop_index('ix_state_kind_key')
        batch_op.drop_index('ix_state_customer')
        batch_op.drop_index('ix_state_block')

    op.drop_table('state')
    with op.batch_alter_table('signup_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signup_codes_customer_id'))

    op.drop_table('signup_codes')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_account_id'))

    op.drop_table('payments')
    op.drop_table('integrity_runs')
    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_blocks_header_hash'))

    op.drop_table('blocks')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_open')
        batch_op.drop_index(batch_op.f('ix_alerts_fingerprint'))

    op.drop_table('alerts')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_customer_id'))

    op.drop_table('accounts')

