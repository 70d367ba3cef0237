"""risk rule state: the fleet's equity peak, the bots a per-bot rule fired for, and a version

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('risk_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('peak_equity', sa.Numeric(precision=28, scale=10), nullable=True))
        batch_op.add_column(
            sa.Column('triggered_bot_ids', sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.add_column(
            sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('risk_rules', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('triggered_bot_ids')
        batch_op.drop_column('peak_equity')
