"""jobs: backtests, hyperopts, downloads and their results

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core_server.core.database


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UtcDateTime = core_server.core.database.UtcDateTime


def upgrade() -> None:
    op.create_table(
        'jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('progress', sa.Float(), nullable=False),
        sa.Column('stage', sa.String(length=200), nullable=True),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('worker_id', sa.String(length=200), nullable=True),
        sa.Column('pid', sa.Integer(), nullable=True),
        sa.Column('heartbeat_at', UtcDateTime(timezone=True), nullable=True),
        sa.Column('queued_at', UtcDateTime(timezone=True), nullable=False),
        sa.Column('started_at', UtcDateTime(timezone=True), nullable=True),
        sa.Column('finished_at', UtcDateTime(timezone=True), nullable=True),
        sa.Column('strategy_name', sa.String(length=100), nullable=True),
        sa.Column('strategy_class', sa.String(length=100), nullable=True),
        sa.Column('strategy_version', sa.Integer(), nullable=True),
        sa.Column('strategy_version_id', sa.Integer(), nullable=True),
        sa.Column('strategy_code', sa.Text(), nullable=True),
        sa.Column('strategy_parameters', sa.JSON(), nullable=True),
        sa.Column('created_at', UtcDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['created_by'], ['users.id'], name=op.f('fk_jobs_created_by_users'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('idx_jobs_created_by', ['created_by'], unique=False)
        batch_op.create_index('idx_jobs_kind', ['kind'], unique=False)
        batch_op.create_index('idx_jobs_state', ['state'], unique=False)

    op.create_table(
        'job_results',
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('summary', sa.JSON(), nullable=False),
        sa.Column('per_pair', sa.JSON(), nullable=False),
        sa.Column('trades', sa.JSON(), nullable=False),
        sa.Column('equity_curve', sa.JSON(), nullable=False),
        sa.Column('drawdown', sa.JSON(), nullable=False),
        sa.Column('exit_reasons', sa.JSON(), nullable=False),
        sa.Column('best_params', sa.JSON(), nullable=True),
        sa.Column('parameter_file', sa.JSON(), nullable=True),
        sa.Column('files', sa.JSON(), nullable=False),
        sa.Column('export_file', sa.String(length=500), nullable=True),
        sa.Column('created_at', UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['job_id'], ['jobs.id'], name=op.f('fk_job_results_job_id_jobs'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('job_id', name=op.f('pk_job_results')),
    )


def downgrade() -> None:
    op.drop_table('job_results')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('idx_jobs_state')
        batch_op.drop_index('idx_jobs_kind')
        batch_op.drop_index('idx_jobs_created_by')
    op.drop_table('jobs')
